import { hash } from 'node:crypto';

/** Deterministic bytes from a seed (SHA-256 in counter mode): the same seed gives the same device. */
export class SeededRandom {
  readonly #seed: string;
  #counter = 0;
  /** int() draws 4 bytes at a time from one hash: a hash per draw made history generation slow. */
  #pool: Buffer = Buffer.alloc(0);
  #at = 0;

  constructor(seed: string | number) {
    this.#seed = String(seed);
  }

  bytes(n: number, label = ''): Buffer {
    const block = () => hash('sha256', `${this.#seed}/${label}/${this.#counter++}`, 'buffer');
    if (n <= 32) return block().subarray(0, n);
    const out: Buffer[] = [];
    for (let have = 0; have < n; have += 32) out.push(block());
    return Buffer.concat(out).subarray(0, n);
  }

  /** An integer in [0, max), max <= 2^32. */
  int(max: number): number {
    if (this.#at === this.#pool.length) {
      this.#pool = this.bytes(32, 'int');
      this.#at = 0;
    }
    this.#at += 4;
    return this.#pool.readUInt32BE(this.#at - 4) % max;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.int(1_000_000) < p * 1_000_000;
  }
}
