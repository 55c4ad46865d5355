/** A one-line progress display on a terminal while a backfill runs; silent when not a TTY. */
export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #state = new Map<string, string>();
  #shown = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }

  update(device: string, done: number, total: number): void {
    if (!this.#stream.isTTY || total < 5) return;
    const width = 20;
    const filled = Math.round((done / total) * width);
    this.#state.set(device, `${device} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} files`);
    this.#stream.write(`\r${[...this.#state.values()].join('  ')}\x1b[K`);
    this.#shown = true;
  }

  done(): void {
    if (this.#shown) this.#stream.write('\n');
    this.#shown = false;
  }
}
