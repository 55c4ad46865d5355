import { createHash } from 'node:crypto';

/** Deterministic bytes from a seed (SHA-256 in counter mode): the same seed gives the same device. */
export class SeededRandom {
  readonly #seed: string;
  #counter = 0;

  constructor(seed: string | number) {
    this.#seed = String(seed);
  }

  bytes(n: number, label = ''): Buffer {
    const out: Buffer[] = [];
    for (let have = 0; have < n; have += 32)
      out.push(
        createHash('sha256')
          .update(`${this.#seed}/${label}/${this.#counter++}`)
          .digest(),
      );
    return Buffer.concat(out).subarray(0, n);
  }

  /** An integer in [0, max). */
  int(max: number): number {
    return this.bytes(6).readUIntBE(0, 6) % max;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  chance(p: number): boolean {
    return this.int(1_000_000) < p * 1_000_000;
  }
}
