import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Chunk,
  DocumentDigester,
  LEAF_LINES,
  MAX_CHUNKS,
  chunksOf,
} from '../../../src/custody/document-digest.js';

interface Entry {
  readonly line: number;
  readonly id: string;
  readonly hash: string;
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b));
/** A document hash (hex SHA-256) and a document id (base64url of 20 bytes), as the mapper makes them. */
const hex64 = bytes(32).map((b) => b.toString('hex'));
const docId = bytes(20).map((b) => b.toString('base64url'));

/** Entries sorted by line, built from the gaps between their lines (0: another document on the same line). */
const entries = (maxGap: number, minLength: number, maxLength: number) =>
  fc
    .record({
      start: fc.integer({ min: 0, max: 5000 }),
      steps: fc.array(fc.record({ gap: fc.integer({ min: 0, max: maxGap }), id: docId, hash: hex64 }), {
        minLength,
        maxLength,
      }),
    })
    .map(({ start, steps }) => {
      let line = start;
      return steps.map(({ gap, id, hash }) => {
        line += gap;
        return { line, id, hash };
      });
    });

/** Small files at the leaf span and big sparse ones that need merging (more than MAX_CHUNKS leaves). */
const wide = fc.oneof(entries(20, 1, 60), entries(120, 300, 900));

function digest(list: readonly Entry[]): DocumentDigester {
  const d = new DocumentDigester();
  for (const e of list) d.add(e.line, e.id, e.hash);
  return d;
}

/** The span the commitment must pick, worked out from the lines alone: the smallest LEAF_LINES × 2^k that fits. */
function expectedSpan(list: readonly Entry[]): number {
  let span = LEAF_LINES;
  while (new Set(list.map((e) => Math.floor(e.line / span))).size > MAX_CHUNKS) span *= 2;
  return span;
}

/** Index, first and last line and count of every chunk at `span`, from the entries alone (no hashes). */
function layout(list: readonly Entry[], span: number): Omit<Chunk, 'hash'>[] {
  const out: { index: number; first: number; last: number; count: number }[] = [];
  for (const e of list) {
    const index = Math.floor(e.line / span);
    const open = out.at(-1);
    if (open && open.index === index) {
      open.last = e.line;
      open.count++;
    } else {
      out.push({ index, first: e.line, last: e.line, count: 1 });
    }
  }
  return out;
}

function chunkIndex(line: number, span: number): number {
  return Math.floor(line / span);
}

describe('DocumentDigester', () => {
  it('keeps at most MAX_CHUNKS chunks, at the smallest span that allows it, laid out by line', () => {
    fc.assert(
      fc.property(wide, (list) => {
        const c = digest(list).commitment();
        expect(c.chunks.length).toBeLessThanOrEqual(MAX_CHUNKS);
        expect(c.count).toBe(list.length);
        expect(c.span).toBe(expectedSpan(list));
        const got = chunksOf(c).map(({ hash: _, ...rest }) => rest);
        expect(got).toEqual(layout(list, c.span));
        expect(got.reduce((n, ch) => n + ch.count, 0)).toBe(list.length);
      }),
      { numRuns: 150 },
    );
  });

  it('the chunks a second digester computes at the commitment span are the commitment chunks', () => {
    fc.assert(
      fc.property(wide, (list) => {
        const c = digest(list).commitment();
        expect(digest(list).chunksAt(c.span)).toEqual(chunksOf(c));
      }),
      { numRuns: 150 },
    );
  });

  it('at the leaf span each chunk hash is the documented entry list hashed in line order', () => {
    fc.assert(
      fc.property(entries(30, 1, 200), (list) => {
        const c = digest(list).commitment();
        fc.pre(c.span === LEAF_LINES);
        for (const chunk of chunksOf(c)) {
          const h = createHash('sha256');
          for (const e of list) {
            if (chunkIndex(e.line, LEAF_LINES) === chunk.index) h.update(`${e.line}\t${e.id}\t${e.hash}\n`);
          }
          expect(chunk.hash).toBe(h.digest('hex').slice(0, 32));
        }
      }),
      { numRuns: 100 },
    );
  });

  it("changing one entry's hash changes exactly the chunk holding its line, and the overall hash", () => {
    fc.assert(
      fc.property(wide, fc.nat(), hex64, (list, pick, replacement) => {
        const i = pick % list.length;
        fc.pre(list[i]!.hash !== replacement);
        const changed = list.map((e, j) => (j === i ? { ...e, hash: replacement } : e));
        const before = digest(list).commitment();
        const after = digest(changed).commitment();
        expect(after.span).toBe(before.span);
        expect(after.count).toBe(before.count);
        expect(after.hash).not.toBe(before.hash);
        const target = chunkIndex(list[i]!.line, before.span);
        const a = chunksOf(before);
        const b = chunksOf(after);
        expect(b.map((c) => c.index)).toEqual(a.map((c) => c.index));
        for (let k = 0; k < a.length; k++) {
          if (a[k]!.index === target) {
            expect(b[k]!.hash).not.toBe(a[k]!.hash);
            expect({ ...b[k]!, hash: '' }).toEqual({ ...a[k]!, hash: '' });
          } else {
            expect(b[k]).toEqual(a[k]);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("changing one entry's id changes its chunk's hash too", () => {
    fc.assert(
      fc.property(entries(20, 1, 100), fc.nat(), docId, (list, pick, id) => {
        const i = pick % list.length;
        fc.pre(list[i]!.id !== id);
        const before = digest(list).commitment();
        const after = digest(list.map((e, j) => (j === i ? { ...e, id } : e))).commitment();
        const target = chunkIndex(list[i]!.line, before.span);
        const hashOf = (chunks: Chunk[]) => chunks.find((c) => c.index === target)!.hash;
        expect(hashOf(chunksOf(after))).not.toBe(hashOf(chunksOf(before)));
        expect(after.hash).not.toBe(before.hash);
      }),
      { numRuns: 100 },
    );
  });

  it("removing one entry lowers its chunk's count by one (or drops a chunk it was alone in)", () => {
    fc.assert(
      fc.property(wide, fc.nat(), (list, pick) => {
        fc.pre(list.length > 1);
        const i = pick % list.length;
        const removed = list.filter((_, j) => j !== i);
        const before = digest(list).commitment();
        const after = digest(removed);
        // Compared at the original span: a removal can only keep or shrink the span the commitment picks.
        expect(after.commitment().span).toBeLessThanOrEqual(before.span);
        const target = chunkIndex(list[i]!.line, before.span);
        const a = new Map(chunksOf(before).map((c) => [c.index, c]));
        const b = new Map(after.chunksAt(before.span).map((c) => [c.index, c]));
        const was = a.get(target)!;
        if (was.count === 1) {
          expect(b.has(target)).toBe(false);
        } else {
          expect(b.get(target)!.count).toBe(was.count - 1);
          expect(b.get(target)!.hash).not.toBe(was.hash);
        }
        for (const [index, chunk] of a) if (index !== target) expect(b.get(index)).toEqual(chunk);
        expect(after.count).toBe(list.length - 1);
      }),
      { numRuns: 150 },
    );
  });

  it('the same entries always give the same commitment; another order of equal-line entries does not', () => {
    const d1 = digest([
      { line: 3, id: 'a', hash: '1' },
      { line: 3, id: 'b', hash: '2' },
    ]).commitment();
    const d2 = digest([
      { line: 3, id: 'a', hash: '1' },
      { line: 3, id: 'b', hash: '2' },
    ]).commitment();
    const swapped = digest([
      { line: 3, id: 'b', hash: '2' },
      { line: 3, id: 'a', hash: '1' },
    ]).commitment();
    expect(d2).toEqual(d1);
    expect(swapped.hash).not.toBe(d1.hash);
  });

  it('moving an entry to another line of the same chunk changes the chunk (the line is committed)', () => {
    const at = (line: number) =>
      digest([
        { line: 2, id: 'a', hash: 'h' },
        { line, id: 'b', hash: 'h' },
      ]).commitment();
    expect(at(5).chunks[0]![4]).not.toBe(at(6).chunks[0]![4]);
    expect(at(5).hash).not.toBe(at(6).hash);
  });

  it('refuses lines that decrease, and accepts repeated lines', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 1_000_000 }), (line, back) => {
        const d = new DocumentDigester();
        d.add(line, 'a', 'h');
        d.add(line, 'b', 'h');
        expect(() => d.add(line - Math.min(back, line), 'c', 'h')).toThrow(RangeError);
        expect(d.count).toBe(2);
      }),
    );
  });

  it('an empty digester commits to no chunk', () => {
    const c = new DocumentDigester().commitment();
    expect(c.count).toBe(0);
    expect(c.chunks).toEqual([]);
    expect(c.span).toBe(LEAF_LINES);
  });

  describe('a file of 100k lines (lines 2–100001, as a log file numbers them)', () => {
    const LINES = 100_000;
    const idOf = (line: number) => `id-${line}`;
    const hashOf = (line: number, salt = '') => createHash('sha256').update(`${salt}${line}`).digest('hex');
    const build = (change?: { line: number; hash: string }, skip?: number) => {
      const d = new DocumentDigester();
      for (let line = 2; line < LINES + 2; line++) {
        if (line === skip) continue;
        d.add(line, idOf(line), change?.line === line ? change.hash : hashOf(line));
      }
      return d;
    };
    const big = build();
    const commitment = big.commitment();

    it('merges 6251 leaves five times, to span 512 and 196 chunks', () => {
      // floor(100001 / 16) + 1 = 6251 leaves → 3126 → 1563 → 782 → 391 → 196 ≤ 256.
      expect(big.chunksAt(LEAF_LINES)).toHaveLength(6251);
      expect(commitment.span).toBe(LEAF_LINES * 32);
      expect(commitment.chunks).toHaveLength(196);
      expect(commitment.count).toBe(LINES);
      const chunks = chunksOf(commitment);
      chunks.forEach((c, k) => {
        expect(c.index).toBe(k);
        expect(c.first).toBe(Math.max(2, k * 512));
        expect(c.last).toBe(Math.min(LINES + 1, k * 512 + 511));
        expect(c.count).toBe(c.last - c.first + 1);
      });
      // One span smaller would not fit.
      expect(big.chunksAt(256).length).toBeGreaterThan(MAX_CHUNKS);
    });

    it('a second digester agrees, and one changed document changes exactly one merged chunk', () => {
      expect(build().chunksAt(commitment.span)).toEqual(chunksOf(commitment));
      const line = 77_777;
      const changed = build({ line, hash: hashOf(line, 'x') }).commitment();
      expect(changed.hash).not.toBe(commitment.hash);
      const diff = chunksOf(changed).filter((c, k) => c.hash !== chunksOf(commitment)[k]!.hash);
      expect(diff.map((c) => c.index)).toEqual([Math.floor(line / 512)]);
    });

    it('one removed document lowers the count of the merged chunk holding its line', () => {
      const line = 4_242;
      const removed = build(undefined, line).commitment();
      expect(removed.span).toBe(commitment.span);
      const before = chunksOf(commitment);
      const after = chunksOf(removed);
      const diff = after.filter((c, k) => c.count !== before[k]!.count || c.hash !== before[k]!.hash);
      expect(diff).toHaveLength(1);
      expect(diff[0]!.index).toBe(Math.floor(line / 512));
      expect(diff[0]!.count).toBe(before[diff[0]!.index]!.count - 1);
    });
  });
});
