import { RecordFields, splitRecord } from '../logfile/fast-line.js';
import { type FastLine, type LogSource, LogParser, logChunks } from '../logfile/parse.js';
import { KEY_INIT_EVENT, type LogLine, type ParsedRecord } from '../logfile/types.js';
import { type CheckedRecord, type FileVerdict, LogVerifier } from '../logfile/verify.js';
import { cooperativeYielder } from '../shared/yield.js';
import { FastRecordJson, type RegularRecord } from './fast-record.js';
import { type IndexDocument, type MapContext, RecordMapper, auditDataStream, serializedDocument } from './map.js';

/**
 * Bytes the parser is fed at a time between looks at the clock: a chunk of a hostile file (a line break
 * every other byte) is thousands of documents, and live collection runs this beside /metrics and the
 * signal handlers.
 */
const PIECE_BYTES = 16 * 1024;

export interface MappedRecord {
  readonly checked: CheckedRecord;
  readonly doc: IndexDocument;
}

export interface MapFileOptions {
  readonly loggerKey: Uint8Array | readonly Uint8Array[];
  readonly context: Omit<MapContext, 'header'>;
  /** false: every line takes the general path (for tests: the output is the same). */
  readonly fast?: boolean;
}

/**
 * parse → verify → map for one file, streaming: yields the documents of each chunk's complete lines as
 * one batch, and returns the file's verdict at the end. Regular records take the fast path (see
 * LogFileMapper); the documents, records and verdict are the general path's all the same.
 */
export async function* mapLogFile(
  source: LogSource,
  options: MapFileOptions,
): AsyncGenerator<MappedRecord[], FileVerdict> {
  const mapper = new LogFileMapper({ ...options, checkedRecords: true });
  const index = auditDataStream(options.context.namespace);
  let batch: MappedRecord[] = [];
  const sink: DocumentSink = (_line, id, json, checked) =>
    void batch.push({ checked: checked!, doc: serializedDocument(id, index, json) });
  for await (const _ of mapChunks(source, mapper, sink)) {
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  const verdict = mapper.end(sink);
  if (batch.length > 0) yield batch;
  return verdict;
}

/**
 * Receives each document of a file in line order: its line number, `_id` and `_source` as JSON, and the
 * checked record it maps (only when the LogFileMapper was asked for them: the fast path makes none).
 */
export type DocumentSink = (line: number, id: string, json: string, checked: CheckedRecord | null) => void;

/**
 * parse → verify → map for one file, chunk by chunk and synchronously, each document as JSON: the same
 * documents, ids and verdict as mapLogFile, faster.
 *
 * Why it is faster: a regular record (a well-formed line, not a KEY_INIT, the next seq of a segment whose
 * signature verified, its tag matching) takes a fast path that makes no object for it at all: the
 * parser finds it with indexOf (LogParser#push), splitRecord validates and splits it in one pass over its
 * characters, LogVerifier#checkRegular checks its tag with the segment's precomputed HMAC pads and counts
 * it, and FastRecordJson writes its document from precomputed fragments. Anything irregular (a header, a
 * KEY_INIT, a malformed line, a bad tag, a sequence problem, a segment that is not trusted) is turned
 * down on the way and goes through today's general path (parseLine, LogVerifier#check, RecordMapper), in
 * order, so the verifier's state and the output are what the general path alone would make. With
 * `fast: false` it is the general path alone; the unit tests compare the two byte for byte.
 */
export class LogFileMapper {
  readonly #parser = new LogParser();
  readonly #verifier: LogVerifier;
  readonly #context: Omit<MapContext, 'header'>;
  readonly #fast: FastLine | undefined;
  readonly #checkedRecords: boolean;
  readonly #fields = new RecordFields();
  #header: string | null = null;
  #mapper: RecordMapper | null = null;
  #fastJson: FastRecordJson | null = null;
  #sink: DocumentSink = () => undefined;
  #fastRecords = 0;

  /** `checkedRecords`: hand the sink each document's CheckedRecord, as the general path makes it. */
  constructor(options: MapFileOptions & { readonly checkedRecords?: boolean }) {
    this.#verifier = new LogVerifier(options.loggerKey);
    this.#context = options.context;
    this.#checkedRecords = options.checkedRecords ?? false;
    this.#fast =
      options.fast === false ? undefined : (text, start, end, line) => this.#fastLine(text, start, end, line);
  }

  /** How many records took the fast path so far (the rest of the lines took the general one). */
  get fastRecords(): number {
    return this.#fastRecords;
  }

  /** Maps the lines that `chunk` completes, handing their documents to `sink` in line order. */
  push(chunk: Uint8Array, sink: DocumentSink): void {
    this.#sink = sink;
    this.#parser.push(chunk, this.#general, this.#fast);
  }

  /** Maps the last line, if the file does not end in a line break, and returns the file's verdict. */
  end(sink: DocumentSink): FileVerdict {
    this.#sink = sink;
    this.#parser.end(this.#general);
    return this.#verifier.verdict();
  }

  readonly #general = (line: LogLine): void => {
    const checked = this.#verifier.check(line);
    if (checked === null) {
      // The header comes first; a later '#' line cannot change what earlier documents said.
      if (line.kind === 'header' && this.#mapper === null) this.#header ??= line.text;
      return;
    }
    this.#mapper ??= new RecordMapper({ ...this.#context, header: this.#header });
    const doc = this.#mapper.map(checked);
    this.#sink(checked.record.line, doc._id, doc.json ?? JSON.stringify(doc._source), checked);
  };

  #fastLine(text: string, start: number, end: number, line: number): boolean {
    const f = this.#fields;
    if (!splitRecord(text, start, end, f)) return false;
    if (f.event === KEY_INIT_EVENT && f.result === 0) return false; // starts a segment: general path
    const record = text.slice(start, end);
    const macLength = f.tagStart - start;
    // A regular record has a segment, so a record, so the general path made the mapper already.
    const segment = this.#mapper === null ? null : this.#verifier.checkRegular(f.seq, f.time, record, macLength);
    if (segment === null) return false;
    this.#fastJson ??= new FastRecordJson({ ...this.#context, header: this.#header });
    const r: RegularRecord = {
      line,
      text: record,
      seq: f.seq,
      time: f.time,
      event: f.event,
      result: f.result,
      subject: text.slice(f.subjectStart, f.dataStart - 1),
      data: text.slice(f.dataStart, f.tagStart - 1),
      macLength,
    };
    // Only callers that look at records pay for them.
    const isSelfGenerated = this.#context.isSelfGenerated;
    const parsed = this.#checkedRecords || isSelfGenerated !== undefined ? parsedRecord(r) : null;
    const selfGenerated = isSelfGenerated?.(parsed!) ?? false;
    const checked: CheckedRecord | null =
      this.#checkedRecords && parsed !== null ? { status: 'verified', record: parsed, segment, problems: [] } : null;
    this.#sink(line, this.#fastJson.id(segment, f.seq), this.#fastJson.json(r, segment, selfGenerated), checked);
    this.#fastRecords++;
    return true;
  }
}

/**
 * The NDJSON `parse` prints (`{"_id","_index","_source"}` per line, as documentLine writes it), as one
 * Buffer per chunk of the source; returns the file's verdict.
 */
export async function* mapLogFileNdjson(
  source: LogSource,
  options: MapFileOptions,
): AsyncGenerator<Buffer, FileVerdict> {
  const mapper = new LogFileMapper(options);
  const index = JSON.stringify(auditDataStream(options.context.namespace));
  const out = new LineBuffer();
  // Ids are base64url: nothing to escape.
  const sink: DocumentSink = (_line, id, json) => out.add(`{"_id":"${id}","_index":${index},"_source":${json}}\n`);
  for await (const _ of mapChunks(source, mapper, sink)) {
    if (out.length > 0) yield out.take();
  }
  const verdict = mapper.end(sink);
  if (out.length > 0) yield out.take();
  return verdict;
}

/**
 * Feeds each chunk of `source` to `mapper`, in pieces of at most PIECE_BYTES with a look at the clock
 * between them (the event loop gets a turn every ~20 ms of work, so a hostile file cannot hold it for its
 * whole run), and yields once each chunk is done.
 */
async function* mapChunks(source: LogSource, mapper: LogFileMapper, sink: DocumentSink): AsyncGenerator<void> {
  const yieldIfBusy = cooperativeYielder();
  for await (const chunk of logChunks(source)) {
    for (let at = 0; at < chunk.length; at += PIECE_BYTES) {
      mapper.push(chunk.subarray(at, at + PIECE_BYTES), sink);
      await yieldIfBusy();
    }
    yield;
  }
}

const LINE_BUFFER_BYTES = 1 << 20;

/**
 * Text gathered into one Buffer, written as UTF-8 line by line as it comes.
 *
 * Why not one string per chunk: a chunk's documents joined are about a megabyte, and a string that size
 * (or the Buffer a stream makes of it) is a fresh large object each time: the copies, allocation and
 * page faults cost more than building the documents did. Writing each document into a Buffer sized
 * for the whole chunk copies it once, while it is still small and young.
 */
class LineBuffer {
  #buf = Buffer.allocUnsafe(LINE_BUFFER_BYTES);
  #at = 0;

  get length(): number {
    return this.#at;
  }

  add(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (this.#buf.length - this.#at < text.length * 3) this.#grow(text.length * 3);
    this.#at += this.#buf.write(text, this.#at, 'utf8');
  }

  /** The text so far; the next text goes to a new Buffer (the one returned may still be being written). */
  take(): Buffer {
    const full = this.#buf.subarray(0, this.#at);
    this.#buf = Buffer.allocUnsafe(Math.max(LINE_BUFFER_BYTES, this.#at));
    this.#at = 0;
    return full;
  }

  #grow(room: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + room));
    this.#buf.copy(bigger, 0, 0, this.#at);
    this.#buf = bigger;
  }
}

/** The record as the general parser makes it. */
function parsedRecord(r: RegularRecord): ParsedRecord {
  return {
    kind: 'record',
    line: r.line,
    text: r.text,
    macLength: r.macLength,
    seq: r.seq,
    time: r.time,
    event: r.event,
    result: r.result,
    subject: r.subject,
    data: r.data,
    tag: Buffer.from(r.text.slice(r.macLength), 'base64url'),
  };
}
