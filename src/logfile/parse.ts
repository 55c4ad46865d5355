import { decodeBase64Url, isBase64Url } from '../shared/base64.js';
import { type LogLine, type ParsedRecord, type ResultCode, MAX_LINE_BYTES } from './types.js';

const CR = 0x0d;
const LF = 0x0a;
const HEX = /^[0-9a-f]+$/;
const TAG_BYTES = 16;
/** In-memory sources are fed in pieces like a file stream's, so a huge file comes in many short batches. */
const SLICE_BYTES = 64 * 1024;
/** Control bytes other than TAB. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

export type LogSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/**
 * A fast path offered each complete line of a chunk (see LogParser#push): `text[start, end)` is the line,
 * without terminator; true if it took the line.
 */
export type FastLine = (text: string, start: number, end: number, line: number) => boolean;

/**
 * Incremental parser: feed it chunks in order and it calls `emit` once per non-empty line. Memory is
 * bounded by one line (at most MAX_LINE_BYTES), whatever the file size. It never throws on content.
 */
export class LogParser {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The current line has already exceeded the limit; its bytes are dropped until the terminator. */
  #overflow = false;
  #nonAscii = false;
  /** The previous chunk ended in CR, so a leading LF in the next one belongs to the same terminator. */
  #afterCr = false;
  #line = 1;
  /**
   * Only the first line may be the header: a later '#' line would hide a record from verification,
   * so it is reported as malformed.
   */
  #pastFirstLine = false;

  /**
   * Feeds the next chunk. With `fast`, each line that ends inside the chunk (at a LF) is offered to it
   * first, as `text[start, end)` of the chunk decoded as latin1 with its 1-based line number; a line it
   * takes (returns true) is counted and not emitted, any other is parsed here as usual, in order. `fast`
   * must take only lines that `parseLine` would call records: it sees no header and no empty line.
   */
  push(chunk: Uint8Array, emit: (line: LogLine) => void, fast?: FastLine): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let at = 0;
    if (this.#afterCr && buf.length > 0) {
      this.#afterCr = false;
      if (buf[0] === LF) at = 1;
    }
    if (fast !== undefined) at = this.#pushFast(buf, at, emit, fast);
    this.#scan(buf, at, buf.length, emit);
  }

  /**
   * The line ends found with indexOf over the chunk as one latin1 string, every regular line handed to
   * `fast` without a copy; lines `fast` turns down go through #scan byte by byte, exactly as without it.
   * Returns where #scan takes over: after the chunk's last LF.
   */
  #pushFast(buf: Buffer, at: number, emit: (line: LogLine) => void, fast: FastLine): number {
    if (this.#pendingBytes > 0 || this.#overflow) {
      // The first line started in an earlier chunk: finish it the general way.
      const lf = buf.indexOf(LF, at);
      if (lf === -1) return at;
      this.#scan(buf, at, lf + 1, emit);
      at = lf + 1;
    }
    const text = buf.toString('latin1');
    for (let lf = text.indexOf('\n', at); lf !== -1; lf = text.indexOf('\n', at)) {
      const end = lf > at && text.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
      if (end > at && end - at <= MAX_LINE_BYTES && this.#pastFirstLine && fast(text, at, end, this.#line)) {
        this.#line++;
      } else {
        this.#scan(buf, at, lf + 1, emit); // ends at the LF: nothing pending afterwards
      }
      at = lf + 1;
    }
    return at;
  }

  /** The general splitter over `buf[from, to)`: CR, LF and CRLF end lines; the rest of `buf` waits. */
  #scan(buf: Buffer, from: number, to: number, emit: (line: LogLine) => void): void {
    let start = from;
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      if (b === LF || b === CR) {
        if (this.#pendingBytes === 0 && !this.#overflow && i - start <= MAX_LINE_BYTES) {
          this.#emitLine(buf.subarray(start, i), emit); // whole line inside this chunk: no copy
        } else {
          this.#take(buf, start, i);
          this.#finishLine(emit);
        }
        if (b === CR) {
          if (i + 1 === buf.length) this.#afterCr = true;
          else if (buf[i + 1] === LF) i++;
        }
        start = i + 1;
      } else if (b > 0x7e) {
        this.#nonAscii = true;
      }
    }
    this.#take(buf, start, to);
  }

  end(emit: (line: LogLine) => void): void {
    if (this.#pendingBytes > 0 || this.#overflow) this.#finishLine(emit);
  }

  #take(buf: Buffer, from: number, to: number): void {
    if (to <= from || this.#overflow) return;
    if (this.#pendingBytes + (to - from) > MAX_LINE_BYTES) {
      this.#overflow = true;
      const room = MAX_LINE_BYTES - this.#pendingBytes;
      if (room > 0) this.#pending.push(buf.subarray(from, from + room));
      this.#pendingBytes = MAX_LINE_BYTES;
      return;
    }
    // Copy: the caller may reuse its chunk buffer after push() returns.
    this.#pending.push(Buffer.from(buf.subarray(from, to)));
    this.#pendingBytes += to - from;
  }

  #finishLine(emit: (line: LogLine) => void): void {
    const bytes = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingBytes);
    const overflow = this.#overflow;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#overflow = false;
    if (overflow) {
      const line = this.#line++;
      this.#nonAscii = false;
      this.#pastFirstLine = true;
      emit({
        kind: 'malformed',
        line,
        reason: `line is longer than ${MAX_LINE_BYTES} bytes`,
        text: bytes.toString('utf8'),
      });
    } else {
      this.#emitLine(bytes, emit);
    }
  }

  #emitLine(bytes: Buffer, emit: (line: LogLine) => void): void {
    const line = this.#line++;
    const nonAscii = this.#nonAscii;
    this.#nonAscii = false;
    if (bytes.length === 0) return;
    if (nonAscii) {
      this.#pastFirstLine = true;
      const at = bytes.findIndex((b) => b > 0x7e);
      emit({
        kind: 'malformed',
        line,
        reason: `byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at column ${at + 1} is not printable ASCII`,
        text: bytes.toString('utf8'),
      });
    } else {
      const parsed = parseLine(bytes.toString('latin1'), line);
      if (parsed.kind === 'header' && this.#pastFirstLine) {
        emit({
          kind: 'malformed',
          line,
          reason: "a second '#' line: only the first line of a file is a header",
          text: bytes.toString('latin1'),
        });
      } else {
        emit(parsed);
      }
      this.#pastFirstLine = true;
    }
  }
}

/** Parses one line of printable ASCII (without terminator) into a header, a record or a malformed line. */
export function parseLine(text: string, line: number): LogLine {
  const malformed = (reason: string): LogLine => ({ kind: 'malformed', line, reason, text });
  if (text.charCodeAt(0) === 0x23 /* # */) {
    // The header ends up in every document of the file (observer.version): it must be plain text.
    const control = CONTROL.exec(text);
    if (control !== null) {
      const byte = control[0].charCodeAt(0).toString(16).padStart(2, '0');
      return malformed(`header byte 0x${byte} at column ${control.index + 1} is a control character`);
    }
    return { kind: 'header', line, text: text.replace(/^#\s*/, '').trimEnd() };
  }
  const f = text.split('|');
  if (f.length !== 7) return malformed(`expected 7 '|'-separated fields, found ${f.length}`);
  const [f0, f1, f2, f3, subject, data, f6] = f as [string, string, string, string, string, string, string];
  const seq = hexField(f0, 13);
  if (typeof seq === 'string') return malformed(`field 1 (seq) ${seq}`);
  const time = hexField(f1, 8);
  if (typeof time === 'string') return malformed(`field 2 (timestamp) ${time}`);
  const event = hexField(f2, 8);
  if (typeof event === 'string') return malformed(`field 3 (event) ${event}`);
  if (f3 !== '0' && f3 !== '1' && f3 !== '2')
    return malformed(`field 4 (result) is ${JSON.stringify(f3)}, expected 0, 1 or 2`);
  if (subject !== 'U' && subject !== 'M' && !isBase64Url(subject)) {
    return malformed(`field 5 (subject) ${JSON.stringify(clip(subject))} is neither U, M nor base64url`);
  }
  if (!isBase64Url(data)) return malformed(`field 6 (data) ${JSON.stringify(clip(data))} is not base64url`);
  const tag = decodeBase64Url(f6);
  if (tag === null) return malformed(`field 7 (tag) ${JSON.stringify(clip(f6))} is not base64url`);
  if (tag.length !== TAG_BYTES) return malformed(`field 7 (tag) decodes to ${tag.length} bytes, expected ${TAG_BYTES}`);
  const record: ParsedRecord = {
    kind: 'record',
    line,
    text,
    macLength: text.length - f6.length,
    seq,
    time,
    event,
    result: Number(f3) as ResultCode,
    subject,
    data,
    tag,
  };
  return record;
}

function hexField(value: string, maxDigits: number): number | string {
  if (value.length === 0) return 'is empty';
  if (!HEX.test(value)) return `${JSON.stringify(clip(value))} is not lower-case hex`;
  if (value.length > maxDigits) return `${JSON.stringify(clip(value))} has more than ${maxDigits} hex digits`;
  return parseInt(value, 16);
}

function clip(value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value;
}

/**
 * Parses a whole log source (a buffer, or chunks from a stream), yielding the lines completed by each
 * chunk as one batch: one async step per chunk rather than per line.
 */
export async function* parseLogBatches(source: LogSource): AsyncGenerator<LogLine[]> {
  const parser = new LogParser();
  let batch: LogLine[] = [];
  const collect = (l: LogLine) => void batch.push(l);
  for await (const chunk of logChunks(source)) {
    parser.push(chunk, collect);
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  parser.end(collect);
  if (batch.length > 0) yield batch;
}

/** The chunks of a log source: an in-memory file in pieces the size a file stream would give. */
export function logChunks(source: LogSource): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  return source instanceof Uint8Array ? slices(source) : source;
}

function* slices(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += SLICE_BYTES) yield bytes.subarray(at, at + SLICE_BYTES);
}

/** Line-at-a-time view of parseLogBatches. */
export async function* parseLog(source: LogSource): AsyncGenerator<LogLine> {
  for await (const batch of parseLogBatches(source)) yield* batch;
}

/** Synchronous variant for in-memory files. */
export function parseLogSync(bytes: Uint8Array): LogLine[] {
  const out: LogLine[] = [];
  const parser = new LogParser();
  const collect = (l: LogLine) => void out.push(l);
  parser.push(bytes, collect);
  parser.end(collect);
  return out;
}
