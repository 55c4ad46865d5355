/**
 * Rendered history files, least recently read dropped first, within a byte budget shared by the devices of
 * one fleet. A history file is rebuilt from its seed at each read (so a fleet of many devices holds no
 * history in memory); with a budget, a file read again costs only the socket. The files are immutable, so
 * what is served from here is byte for byte what a rebuild gives.
 */
export class RenderedFiles {
  readonly #files = new Map<string, Buffer>();
  #bytes = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): Buffer | undefined {
    const bytes = this.#files.get(key);
    if (bytes) {
      this.#files.delete(key); // to the back: most recently read
      this.#files.set(key, bytes);
    }
    return bytes;
  }

  set(key: string, bytes: Buffer): void {
    if (bytes.length > this.maxBytes || this.#files.has(key)) return;
    for (const [oldest, old] of this.#files) {
      if (this.#bytes + bytes.length <= this.maxBytes) break;
      this.#files.delete(oldest);
      this.#bytes -= old.length;
    }
    this.#files.set(key, bytes);
    this.#bytes += bytes.length;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
