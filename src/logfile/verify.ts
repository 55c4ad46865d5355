import { createHash } from 'node:crypto';
import { decodeBase64Url } from '../shared/base64.js';
import { ed25519Verify } from '../shared/ed25519.js';
import { SegmentMac } from './segment-mac.js';
import { KEY_INIT_EVENT, type LogLine, type MalformedLine, type ParsedRecord } from './types.js';

/** The closed list of things that can be wrong with a log file. */
export const PROBLEM_KINDS = [
  'malformed',
  'no_key',
  'signature_invalid',
  'mac_mismatch',
  'seq_gap',
  'seq_disorder',
  'seq_repeat',
] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

export interface Problem {
  readonly kind: ProblemKind;
  readonly line: number;
  readonly seq: number | null;
  readonly message: string;
}

/** A key segment: a KEY_INIT record and every record after it until the next one. */
export interface Segment {
  readonly line: number;
  readonly seq: number;
  /** Hex SHA-256 of the segment key K: names the segment without repeating the key. */
  readonly keyFingerprint: string;
  readonly signature: 'valid' | 'invalid';
}

/** A record whose tag matched under a segment key signed by the pinned logger key. */
export interface VerifiedRecord {
  readonly status: 'verified';
  readonly record: ParsedRecord;
  readonly segment: Segment & { readonly signature: 'valid' };
  /** Only sequence problems can accompany a verified record. */
  readonly problems: readonly Problem[];
}

/** A well-formed record that could not be verified: never trusted, still reported and indexed. */
export interface UnverifiedRecord {
  readonly status: 'unverified';
  readonly record: ParsedRecord;
  readonly segment: Segment | null;
  readonly problems: readonly [Problem, ...Problem[]];
}

export interface MalformedRecord {
  readonly status: 'malformed';
  readonly record: MalformedLine;
  readonly segment: Segment | null;
  readonly problems: readonly [Problem];
}

export type CheckedRecord = VerifiedRecord | UnverifiedRecord | MalformedRecord;

export interface FileVerdict {
  /** True only with at least one record and no problem at all. */
  readonly valid: boolean;
  readonly header: string | null;
  readonly lines: { readonly total: number; readonly verified: number };
  /** The first MAX_SEGMENTS_LISTED key segments, in line order; `segmentCount` counts them all. */
  readonly segments: readonly Segment[];
  readonly segmentCount: number;
  /** The first problems, in line order (at most `maxProblems`); `problemCounts` has the full tally. */
  readonly problems: readonly Problem[];
  readonly problemCounts: Readonly<Record<ProblemKind, number>>;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
  readonly firstTime: number | null;
  readonly lastTime: number | null;
}

export const DEFAULT_MAX_PROBLEMS = 1000;
/** A file of nothing but distinct KEY_INIT lines must not make the verdict grow with it. */
export const MAX_SEGMENTS_LISTED = 1000;

interface ActiveSegment {
  readonly info: Segment;
  /** The tag check under K; null when K did not decode to 32 bytes: no tag can be checked. */
  readonly mac: SegmentMac | null;
}

/**
 * Streaming verifier for one file (spec §2.3–2.5). Pure: feed it the parser's lines in order and it
 * returns the verdict for each record; `verdict()` summarises the file. Memory is constant in the
 * number of records apart from the segment list and the first `maxProblems` problems.
 */
export class LogVerifier {
  readonly #loggerKeys: readonly Uint8Array[];
  readonly #maxProblems: number;
  #header: string | null = null;
  #segment: ActiveSegment | null = null;
  #segments: Segment[] = [];
  #segmentCount = 0;
  #problems: Problem[] = [];
  #counts = Object.fromEntries(PROBLEM_KINDS.map((k) => [k, 0])) as Record<ProblemKind, number>;
  #total = 0;
  #verified = 0;
  #lastSeq: number | null = null;
  #highSeq = -1;
  #firstSeq: number | null = null;
  #firstTime: number | null = null;
  #lastTime: number | null = null;
  /** The latest KEY_INIT line: a byte-identical copy of it is a replay, not a new segment. */
  #lastKeyInit: { readonly text: string; readonly line: number } | null = null;
  /** Verdict of the last signature checked: a flood of one K and SIG costs one verify. */
  #lastSignature: { readonly subject: string; readonly data: string; readonly valid: boolean } | null = null;

  /**
   * `loggerPublicKeys`: the pinned logger key, or every key the device was ever trusted with (a wipe
   * replaces the key; files written before it still verify under the old one).
   */
  constructor(loggerPublicKeys: Uint8Array | readonly Uint8Array[], options: { maxProblems?: number } = {}) {
    const keys = loggerPublicKeys instanceof Uint8Array ? [loggerPublicKeys] : loggerPublicKeys;
    if (keys.length === 0 || keys.some((k) => k.length !== 32))
      throw new TypeError('the logger public key must be 32 bytes (Ed25519)');
    this.#loggerKeys = keys;
    this.#maxProblems = options.maxProblems ?? DEFAULT_MAX_PROBLEMS;
  }

  /** Returns the verdict for a record or malformed line, or null for a header line. */
  check(line: LogLine): CheckedRecord | null {
    if (line.kind === 'header') {
      this.#header ??= line.text;
      return null;
    }
    this.#total++;
    if (line.kind === 'malformed') {
      const problem = this.#problem('malformed', line.line, null, line.reason);
      return { status: 'malformed', record: line, segment: this.#segment?.info ?? null, problems: [problem] };
    }
    const problems: Problem[] = [];
    let repeatOf: number | null = null;
    if (line.event === KEY_INIT_EVENT && line.result === 0) {
      if (this.#lastKeyInit !== null && this.#lastKeyInit.text === line.text) {
        repeatOf = this.#lastKeyInit.line; // same K: the current segment goes on, nothing to verify again
      } else {
        this.#startSegment(line, problems);
        this.#lastKeyInit = { text: line.text, line: line.line };
      }
    }
    this.#checkSequence(line, problems, repeatOf);
    this.#firstTime ??= line.time;
    this.#lastTime = line.time;

    const segment = this.#segment;
    if (segment === null) {
      problems.unshift(
        this.#problem(
          'no_key',
          line.line,
          line.seq,
          'record comes before any KEY_INIT record, so its tag cannot be checked',
        ),
      );
    } else if (segment.mac !== null && !segment.mac.matches(line.text, line.macLength)) {
      problems.unshift(
        this.#problem('mac_mismatch', line.line, line.seq, 'tag does not match the record text under the segment key'),
      );
    }
    if (segment !== null && segment.info.signature === 'valid' && segment.mac !== null && !problems.some(breaksTrust)) {
      this.#verified++;
      return { status: 'verified', record: line, segment: segment.info as VerifiedRecord['segment'], problems };
    }
    if (problems.length === 0) {
      // Only reachable inside a segment whose KEY_INIT failed: that problem was reported on its line.
      problems.push({
        kind: 'signature_invalid',
        line: line.line,
        seq: line.seq,
        message: `segment key of line ${segment!.info.line} is not signed by the logger key`,
      });
    }
    return {
      status: 'unverified',
      record: line,
      segment: segment?.info ?? null,
      problems: problems as [Problem, ...Problem[]],
    };
  }

  /**
   * The fast path's check (see LogFileMapper in ecs/map-file.ts), for a record the caller has validated as
   * a record line and that is not a KEY_INIT: `text` is the whole line, its MACed prefix `macLength` long.
   * When the record is regular (the next seq of a signed segment, its tag matching) it is counted exactly
   * as `check` would count it and its segment is returned; otherwise null, with nothing changed, and the
   * caller passes the line to `check` instead.
   */
  checkRegular(seq: number, time: number, text: string, macLength: number): VerifiedRecord['segment'] | null {
    const segment = this.#segment;
    if (segment === null || segment.mac === null || segment.info.signature !== 'valid') return null;
    // After the first record (lastSeq set), the next seq is the only one that raises no problem.
    if (this.#lastSeq === null || seq !== this.#highSeq + 1) return null;
    if (!segment.mac.matches(text, macLength)) return null;
    this.#total++;
    this.#verified++;
    this.#lastSeq = seq;
    this.#highSeq = seq;
    this.#lastTime = time;
    return segment.info as VerifiedRecord['segment'];
  }

  verdict(): FileVerdict {
    return {
      valid: this.#total > 0 && Object.values(this.#counts).every((n) => n === 0),
      header: this.#header,
      lines: { total: this.#total, verified: this.#verified },
      segments: this.#segments,
      segmentCount: this.#segmentCount,
      problems: this.#problems,
      problemCounts: { ...this.#counts },
      firstSeq: this.#firstSeq,
      lastSeq: this.#lastSeq,
      firstTime: this.#firstTime,
      lastTime: this.#lastTime,
    };
  }

  #startSegment(record: ParsedRecord, problems: Problem[]): void {
    const key = decodeBase64Url(record.subject);
    const signature = decodeBase64Url(record.data);
    let reason: string | null = null;
    if (key === null || key.length !== 32)
      reason = `KEY_INIT subject is ${key?.length ?? 0} bytes, expected a 32-byte key`;
    else if (signature === null || signature.length !== 64)
      reason = `KEY_INIT data is ${signature?.length ?? 0} bytes, expected a 64-byte Ed25519 signature`;
    else if (!this.#signatureValid(record, signature, key)) {
      reason = 'KEY_INIT signature does not verify with the pinned logger key';
    }
    const info: Segment = {
      line: record.line,
      seq: record.seq,
      keyFingerprint: createHash('sha256')
        .update(key ?? Buffer.from(record.subject))
        .digest('hex'),
      signature: reason === null ? 'valid' : 'invalid',
    };
    if (reason !== null)
      problems.push(
        this.#problem(
          'signature_invalid',
          record.line,
          record.seq,
          `${reason}; the records of this segment are not trusted`,
        ),
      );
    if (this.#segmentCount++ < MAX_SEGMENTS_LISTED) this.#segments.push(info);
    this.#segment = { info, mac: key !== null && key.length === 32 ? new SegmentMac(key) : null };
  }

  #signatureValid(record: ParsedRecord, signature: Buffer, key: Buffer): boolean {
    const cached = this.#lastSignature;
    if (cached !== null && cached.subject === record.subject && cached.data === record.data) return cached.valid;
    const valid = this.#loggerKeys.some((k) => ed25519Verify(signature, key, k));
    this.#lastSignature = { subject: record.subject, data: record.data, valid };
    return valid;
  }

  /** `repeatOf`: the line of the KEY_INIT this record repeats byte for byte. */
  #checkSequence(record: ParsedRecord, problems: Problem[], repeatOf: number | null): void {
    const seq = record.seq;
    const last = this.#lastSeq;
    const isKeyInit = record.event === KEY_INIT_EVENT && record.result === 0;
    if (last === null) {
      this.#firstSeq = seq;
      if (seq !== 0)
        problems.push(
          this.#problem(
            'seq_gap',
            record.line,
            seq,
            `file starts at seq ${hex(seq)}: ${seq} earlier record(s) missing`,
          ),
        );
    } else if (repeatOf !== null) {
      // Checked before the restart rule: a replayed seq-0 KEY_INIT must not restart the counter.
      const message = `KEY_INIT record repeats line ${repeatOf} (seq ${hex(seq)})`;
      problems.push(this.#problem('seq_repeat', record.line, seq, message));
    } else if (isKeyInit && seq === 0) {
      // A new key segment may restart the counter (the vendor's own checker restarts there too).
      this.#highSeq = -1;
    } else if (seq === this.#highSeq + 1) {
      // the expected next record
    } else if (seq === last) {
      problems.push(this.#problem('seq_repeat', record.line, seq, `seq ${hex(seq)} repeats the previous record`));
    } else if (seq <= this.#highSeq) {
      problems.push(
        this.#problem(
          'seq_disorder',
          record.line,
          seq,
          `seq ${hex(seq)} comes after seq ${hex(this.#highSeq)}: records are out of order`,
        ),
      );
    } else {
      const missing = seq - this.#highSeq - 1;
      problems.push(
        this.#problem(
          'seq_gap',
          record.line,
          seq,
          `seq jumps from ${hex(this.#highSeq)} to ${hex(seq)}: ${missing} record(s) missing`,
        ),
      );
    }
    this.#lastSeq = seq;
    if (seq > this.#highSeq) this.#highSeq = seq;
  }

  #problem(kind: ProblemKind, line: number, seq: number | null, message: string): Problem {
    const problem: Problem = { kind, line, seq, message };
    this.#counts[kind]++;
    if (this.#problems.length < this.#maxProblems) this.#problems.push(problem);
    return problem;
  }
}

/** Problems that mean the record's own content cannot be trusted (sequence problems do not). */
function breaksTrust(p: Problem): boolean {
  return p.kind === 'mac_mismatch' || p.kind === 'signature_invalid' || p.kind === 'no_key';
}

function hex(n: number): string {
  return n.toString(16);
}

/** Verifies a whole in-memory list of lines; for tests and small files. */
export function verifyLines(
  lines: Iterable<LogLine>,
  loggerPublicKey: Uint8Array | readonly Uint8Array[],
): { records: CheckedRecord[]; verdict: FileVerdict } {
  const verifier = new LogVerifier(loggerPublicKey);
  const records: CheckedRecord[] = [];
  for (const line of lines) {
    const checked = verifier.check(line);
    if (checked) records.push(checked);
  }
  return { records, verdict: verifier.verdict() };
}
