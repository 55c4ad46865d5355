/**
 * What a file digest commits to about the file's documents, computed the same way by the collector (as it
 * sends them) and by `audit` (as it reads them back, sorted by line). Pure.
 *
 * Each document contributes one entry, `line TAB id TAB sha256(canonical JSON)`. Entries are grouped by line
 * number into chunks of LEAF_LINES lines (hashed in line order), so a finding can say which lines changed
 * without the digest listing every document. A big file's chunks are merged pairwise, by chunk index, until
 * at most MAX_CHUNKS remain: a digest stays a few KiB whatever the file's size. `span` says how many lines a
 * chunk covers, so the audit merges its own chunks the same way.
 */
import { type Hash, createHash } from 'node:crypto';

export const LEAF_LINES = 16;
export const MAX_CHUNKS = 256;
/** Hex characters of a chunk hash kept (128 bits): the digest's own hash covers them all. */
const CHUNK_HASH_HEX = 32;

/** One chunk: documents on lines [first, last] in the chunk `index` (line / span). */
export interface Chunk {
  readonly index: number;
  readonly first: number;
  readonly last: number;
  readonly count: number;
  readonly hash: string;
}

export interface DocumentsCommitment {
  readonly count: number;
  /** Lines per chunk: LEAF_LINES × 2^merges. */
  readonly span: number;
  /** SHA-256 over every chunk: one value that changes with any document. */
  readonly hash: string;
  /** In index order, as compact tuples [index, first, last, count, hash]. */
  readonly chunks: readonly (readonly [number, number, number, number, string])[];
}

/** Feeds entries in non-decreasing line order; `commitment()` summarises them. */
export class DocumentDigester {
  readonly #leaves: Chunk[] = [];
  #open: { index: number; first: number; last: number; count: number; hash: Hash } | null = null;
  #count = 0;
  #lastLine = -1;

  add(line: number, id: string, documentHash: string): void {
    if (line < this.#lastLine)
      throw new RangeError(`document lines must not decrease (${line} after ${this.#lastLine})`);
    this.#lastLine = line;
    const index = Math.floor(line / LEAF_LINES);
    if (this.#open !== null && this.#open.index !== index) this.#close();
    this.#open ??= { index, first: line, last: line, count: 0, hash: createHash('sha256') };
    this.#open.last = line;
    this.#open.count++;
    this.#open.hash.update(`${line}\t${id}\t${documentHash}\n`);
    this.#count++;
  }

  get count(): number {
    return this.#count;
  }

  /** The chunks at the smallest span that keeps them within MAX_CHUNKS. */
  commitment(): DocumentsCommitment {
    this.#close();
    let span = LEAF_LINES;
    let chunks: readonly Chunk[] = this.#leaves;
    while (chunks.length > MAX_CHUNKS) {
      chunks = mergeOnce(chunks);
      span *= 2;
    }
    return describe(this.#count, span, chunks);
  }

  /** The chunks at a given span (the audit uses the digest's). */
  chunksAt(span: number): readonly Chunk[] {
    this.#close();
    let chunks: readonly Chunk[] = this.#leaves;
    for (let s = LEAF_LINES; s < span; s *= 2) chunks = mergeOnce(chunks);
    return chunks;
  }

  #close(): void {
    if (this.#open === null) return;
    const { index, first, last, count, hash } = this.#open;
    this.#leaves.push({ index, first, last, count, hash: hash.digest('hex').slice(0, CHUNK_HASH_HEX) });
    this.#open = null;
  }
}

/** Chunk tuples back to objects (for comparing a digest with what the audit read). */
export function chunksOf(commitment: DocumentsCommitment): Chunk[] {
  return commitment.chunks.map(([index, first, last, count, hash]) => ({ index, first, last, count, hash }));
}

function describe(count: number, span: number, chunks: readonly Chunk[]): DocumentsCommitment {
  const all = createHash('sha256');
  for (const c of chunks) all.update(`${c.index}:${c.first}:${c.last}:${c.count}:${c.hash}\n`);
  return {
    count,
    span,
    hash: all.digest('hex'),
    chunks: chunks.map((c) => [c.index, c.first, c.last, c.count, c.hash] as const),
  };
}

/** Pairs of neighbouring chunks (index >> 1) become one: its hash covers both children. */
function mergeOnce(chunks: readonly Chunk[]): Chunk[] {
  const out: Chunk[] = [];
  for (let i = 0; i < chunks.length; ) {
    const a = chunks[i]!;
    const b = chunks[i + 1];
    const pair = b !== undefined && b.index >> 1 === a.index >> 1 ? [a, b] : [a];
    i += pair.length;
    const hash = createHash('sha256');
    for (const c of pair) hash.update(`${c.index}:${c.count}:${c.hash}\n`);
    out.push({
      index: a.index >> 1,
      first: a.first,
      last: pair.at(-1)!.last,
      count: pair.reduce((n, c) => n + c.count, 0),
      hash: hash.digest('hex').slice(0, CHUNK_HASH_HEX),
    });
  }
  return out;
}
