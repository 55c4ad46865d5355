import { createHash } from 'node:crypto';

/** The identity of a file as it was read: its id, SHA-256 and size. */
export interface FileIdentity {
  readonly id: string;
  readonly sha256: string;
  readonly size: number;
}

/** SHA-256 and size of a body as it streams past. */
export class HashingTap {
  readonly #hash = createHash('sha256');
  #size = 0;

  constructor(readonly id: string) {}

  async *through(body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of body) {
      this.#hash.update(chunk);
      this.#size += chunk.length;
      yield chunk;
    }
  }

  file(): FileIdentity {
    return { id: this.id, sha256: this.#hash.digest('hex'), size: this.#size };
  }
}
