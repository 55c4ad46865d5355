/**
 * Checks one file's documents, read back from the cluster in line order, against its digest: each present
 * once and unaltered, none extra, dead letters accounted for; and re-verifies the device's own tags and
 * key-segment signatures from `event.original` under the logger keys the digest names. Pure.
 */
import { sha256Hex, storedDocumentHash } from '../custody/canonical.js';
import type { DeadLetterEntry, FileDigestBody } from '../custody/digest.js';
import { type Chunk, DocumentDigester, chunksOf } from '../custody/document-digest.js';
import { parseLine } from '../logfile/parse.js';
import { LogVerifier } from '../logfile/verify.js';
import type { StoredDocument } from './cluster-reader.js';
import type { Finding } from './report.js';

/** Findings of one kind listed one by one per file; beyond, one finding counts the rest. */
const MAX_LISTED = 50;

export interface FileAuditResult {
  readonly findings: readonly Finding[];
  readonly documents: number;
  readonly verified: number;
  readonly deadLetters: number;
}

export class FileAuditor {
  readonly #body: FileDigestBody;
  readonly #device: string;
  readonly #digester = new DocumentDigester();
  readonly #expected: Map<number, Chunk>;
  readonly #span: number;
  readonly #verifier: LogVerifier;
  readonly #findings: Finding[] = [];
  readonly #counts = new Map<string, number>();
  /** Chunks where a finding already says what is wrong (the chunk's hash then need not). */
  readonly #explained = new Set<number>();
  readonly #deadLetters: DeadLetterEntry[];
  #nextDeadLetter = 0;
  #chunk: { index: number; lines: Set<number> } | null = null;
  #documents = 0;
  #verified = 0;

  constructor(body: FileDigestBody, device: string) {
    this.#body = body;
    this.#device = device;
    this.#span = body.documents.span;
    this.#expected = new Map(chunksOf(body.documents).map((c) => [c.index, c]));
    this.#verifier = new LogVerifier(body.logger_keys.map((k) => Buffer.from(k, 'base64')));
    this.#deadLetters = body.dead_letters.listed
      .filter((d) => d.line !== null)
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  }

  /** The documents claiming `line` (and how many more than were read), in line order. */
  line(line: number, documents: readonly StoredDocument[], overflow: number): void {
    this.#foldDeadLetters(line);
    const letters = this.#deadLettersAt(line);
    this.#enterChunk(line);
    this.#chunk!.lines.add(line);
    const present = new Set(documents.map((d) => d.id));
    const absent = letters.filter((l) => !present.has(l.id)); // one re-indexed from the dead-letter store counts
    for (const letter of absent) this.#digester.add(line, letter.id, letter.hash);
    for (const doc of documents) {
      this.#digester.add(line, doc.id, storedDocumentHash(doc.source));
      this.#documents++;
    }
    const claims = documents.length + overflow + absent.length;
    if (claims > 1) {
      const ids = documents.map((d) => d.id);
      this.#add(line, {
        kind: 'document_extra',
        lines: { first: line, last: line },
        detail:
          `line ${line} is claimed by ${claims} documents (${ids.slice(0, 5).join(', ')}` +
          `${claims > 5 ? ', …' : ''}); one record has one document`,
      });
    }
    const first = documents[0];
    if (first) this.#checkRecord(line, first);
    else if (absent[0]) this.#replay(absent[0], line);
  }

  /** A refused record still takes its place in the device's sequence (a KEY_INIT opens a segment). */
  #replay(letter: DeadLetterEntry, line: number): void {
    if (typeof letter.original !== 'string') return; // a digest is read back from the cluster: trust no shape
    if (this.#verifier.check(parseLine(letter.original, line))?.status === 'verified') this.#verified++;
  }

  /** Documents claiming the file with no line number. */
  unlined(documents: readonly StoredDocument[], total: number): void {
    if (total === 0) return;
    this.#findings.push({
      kind: 'document_extra',
      ...this.#where(),
      detail:
        `${total} document(s) claim this file without a line number (${documents
          .map((d) => d.id)
          .slice(0, 5)
          .join(', ')}); ` + 'the forwarder writes none such',
    });
  }

  /** The file's other documents as found by id. */
  companions(found: readonly StoredDocument[]): void {
    const byId = new Map(found.map((d) => [d.id, d]));
    for (const c of this.#body.companions) {
      const doc = byId.get(c.id);
      if (!doc) {
        this.#findings.push({
          kind: 'document_missing',
          ...this.#where(),
          documentId: c.id,
          detail: `the file's ${c.index} document ${c.id} is missing`,
        });
      } else if (storedDocumentHash(doc.source) !== c.hash) {
        this.#findings.push({
          kind: 'document_altered',
          ...this.#where(),
          documentId: c.id,
          detail: `the file's ${c.index} document ${c.id} differs from what was collected`,
        });
      }
    }
  }

  finish(): FileAuditResult {
    this.#foldDeadLetters(Number.POSITIVE_INFINITY);
    this.#closeChunk();
    const seen = new Map(this.#digester.chunksAt(this.#span).map((c) => [c.index, c]));
    for (const [index, expected] of this.#expected) {
      const got = seen.get(index);
      if (got && got.hash === expected.hash) continue;
      if (this.#explained.has(index)) continue;
      this.#chunkFinding(expected, got);
    }
    for (const [index, got] of seen) {
      if (this.#expected.has(index) || this.#explained.has(index)) continue;
      this.#add(got.first, {
        kind: 'document_extra',
        lines: { first: got.first, last: got.last },
        detail: `${got.count} document(s) on lines ${got.first}–${got.last}, where the digest has none`,
      });
    }
    for (const [kind, n] of this.#counts) {
      if (n > MAX_LISTED) {
        this.#findings.push({
          kind: kind as Finding['kind'],
          ...this.#where(),
          detail: `${n - MAX_LISTED} more finding(s) of this kind in this file`,
        });
      }
    }
    const deadLetters = this.#body.dead_letters.count;
    return { findings: this.#findings, documents: this.#documents, verified: this.#verified, deadLetters };
  }

  #chunkFinding(expected: Chunk, got: Chunk | undefined): void {
    const count = got?.count ?? 0;
    const lines = {
      first: Math.min(expected.first, got?.first ?? expected.first),
      last: Math.max(expected.last, got?.last ?? expected.last),
    };
    const range = `lines ${lines.first}–${lines.last}`;
    const unlisted = this.#body.dead_letters.count - this.#body.dead_letters.listed.length;
    const note = unlisted > 0 ? ` (${unlisted} dead letter(s) are not listed in the digest)` : '';
    if (count < expected.count) {
      this.#add(expected.first, {
        kind: 'document_missing',
        lines,
        detail: `${expected.count - count} of ${expected.count} document(s) on ${range} are missing${note}`,
      });
    } else if (count > expected.count) {
      this.#add(expected.first, {
        kind: 'document_extra',
        lines,
        detail: `${count - expected.count} document(s) more than collected on ${range}`,
      });
    } else {
      this.#add(expected.first, {
        kind: 'document_altered',
        lines,
        detail: `a document on ${range} differs from what was collected (same count, different content)`,
      });
    }
  }

  /** Per document: its own event.hash, and the device's tag on its record, checked again. */
  #checkRecord(line: number, doc: StoredDocument): void {
    const event = (doc.source.event ?? {}) as { original?: unknown; hash?: unknown };
    const vendor = (doc.source.encedo_hem ?? {}) as { integrity?: { status?: unknown } };
    if (typeof event.original !== 'string') {
      this.#add(line, {
        kind: 'document_altered',
        lines: { first: line, last: line },
        documentId: doc.id,
        detail: `the document of line ${line} has no event.original`,
      });
      return;
    }
    if (event.hash !== sha256Hex(event.original)) {
      this.#add(line, {
        kind: 'document_altered',
        lines: { first: line, last: line },
        documentId: doc.id,
        detail: `the document of line ${line}: event.hash does not match event.original`,
      });
    }
    const checked = this.#verifier.check(parseLine(event.original, line));
    if (checked === null) return;
    if (checked.status === 'verified') this.#verified++;
    const claimed = vendor.integrity?.status;
    if (claimed === 'verified' && checked.status !== 'verified') {
      const why = checked.problems.map((p) => p.kind).join(', ') || checked.status;
      this.#add(line, {
        kind: 'record_tag',
        lines: { first: line, last: line },
        documentId: doc.id,
        detail: `line ${line} is marked verified but its record does not verify again (${why})`,
      });
    }
  }

  #foldDeadLetters(before: number): void {
    while (this.#nextDeadLetter < this.#deadLetters.length) {
      const letter = this.#deadLetters[this.#nextDeadLetter]!;
      if ((letter.line ?? 0) >= before) return;
      this.#enterChunk(letter.line!);
      this.#chunk!.lines.add(letter.line!);
      this.#digester.add(letter.line!, letter.id, letter.hash);
      this.#replay(letter, letter.line!);
      this.#nextDeadLetter++;
    }
  }

  #deadLettersAt(line: number): DeadLetterEntry[] {
    const out: DeadLetterEntry[] = [];
    while (this.#nextDeadLetter < this.#deadLetters.length && this.#deadLetters[this.#nextDeadLetter]!.line === line) {
      out.push(this.#deadLetters[this.#nextDeadLetter++]!);
    }
    return out;
  }

  #enterChunk(line: number): void {
    const index = Math.floor(line / this.#span);
    if (this.#chunk?.index === index) return;
    this.#closeChunk();
    this.#chunk = { index, lines: new Set() };
  }

  /** A chunk whose lines were contiguous when collected shows exactly which lines are gone. */
  #closeChunk(): void {
    const chunk = this.#chunk;
    this.#chunk = null;
    if (chunk === null) return;
    const expected = this.#expected.get(chunk.index);
    if (!expected) return;
    for (const line of chunk.lines) {
      if (line >= expected.first && line <= expected.last) continue;
      this.#add(line, {
        kind: 'document_extra',
        lines: { first: line, last: line },
        detail: `a document on line ${line}, which the digest does not list (its lines here are ${expected.first}–${expected.last})`,
      });
    }
    if (expected.count !== expected.last - expected.first + 1) return;
    for (let line = expected.first; line <= expected.last; line++) {
      if (chunk.lines.has(line)) continue;
      this.#add(line, {
        kind: 'document_missing',
        lines: { first: line, last: line },
        detail: `the document of line ${line} is missing`,
      });
    }
  }

  #add(line: number, finding: Omit<Finding, 'device' | 'fileId' | 'position' | 'at'>): void {
    this.#explained.add(Math.floor(line / this.#span));
    const n = (this.#counts.get(finding.kind) ?? 0) + 1;
    this.#counts.set(finding.kind, n);
    if (n <= MAX_LISTED) this.#findings.push({ ...this.#where(), ...finding });
  }

  #where(): Pick<Finding, 'device' | 'fileId' | 'position' | 'at'> {
    const b = this.#body;
    return { device: this.#device, fileId: b.file.id, position: b.chain.position, at: b.collected_at };
  }
}
