// One-shot hashing: no hash object per record (the mapper runs once per record).
import { hash } from 'node:crypto';
import type { CheckedRecord, ProblemKind } from '../logfile/verify.js';
import type { ParsedRecord } from '../logfile/types.js';
import { decodeBase64Url } from '../shared/base64.js';
import { type EventCode, type Severity, RESULT_CODES, SEVERITY_SCORE, eventCode } from './catalogue.js';

export const ECS_VERSION = '9.4.0';
export const AUDIT_DATASET = 'encedo_hem.audit';
export const EVENT_MODULE = 'encedo_hem';
/** Device times below this are the RTC counting from zero after power-up (spec §2.7). */
export const MIN_RELIABLE_DEVICE_TIME = 10000;

export interface DeviceContext {
  /** `devid` from /api/system/config; part of every document id. */
  readonly serial: string | null;
  readonly hostname?: string | null;
  /** `HEM PPA` / `HEM EPA`, from the hardware version. */
  readonly product?: string | null;
  /** The device's name in the config (`observer.name`). */
  readonly name?: string | null;
  /** Config tags, copied to every document. */
  readonly tags?: readonly string[];
}

export interface MapContext {
  readonly device: DeviceContext;
  readonly fileId: string;
  /** The file's header text; firmware that wrote it. */
  readonly header: string | null;
  /** `data_stream.namespace`. */
  readonly namespace: string;
  /** When the forwarder read the file (`event.created`). */
  readonly created: Date;
  /** Marks records caused by the forwarder's own polling (tagged so dashboards can hide them). */
  readonly isSelfGenerated?: (record: ParsedRecord) => boolean;
}

/** One document ready for the sink: where it goes, its stable id, and the ECS body. */
export interface IndexDocument {
  readonly _id: string;
  readonly _index: string;
  readonly _source: EcsDocument;
  /** `_source` already serialized, when the producer built it as JSON (the audit mapper does). */
  readonly json?: string;
}

/** The body as JSON: what sinks send. */
export function sourceJson(doc: IndexDocument): string {
  return doc.json ?? JSON.stringify(doc._source);
}

/** One NDJSON line, `{"_id","_index","_source"}`: what `parse` prints and the file output writes. */
export function documentLine(doc: IndexDocument): string {
  return `{"_id":${JSON.stringify(doc._id)},"_index":${JSON.stringify(doc._index)},"_source":${sourceJson(doc)}}`;
}

/**
 * An audit document built directly as JSON: serializing a million records is the hot path, and a
 * string built once costs a fraction of an object tree that is built and then stringified. `_source`
 * parses it on demand (tests, tools).
 */
class SerializedDocument implements IndexDocument {
  #source: EcsDocument | undefined;

  constructor(
    readonly _id: string,
    readonly _index: string,
    readonly json: string,
  ) {}

  get _source(): EcsDocument {
    this.#source ??= JSON.parse(this.json) as EcsDocument;
    return this.#source;
  }

  toJSON(): object {
    return { _id: this._id, _index: this._index, _source: this._source };
  }
}

const q = JSON.stringify;

export type EcsDocument = Record<string, unknown>;

export function auditDataStream(namespace: string): string {
  return `logs-${AUDIT_DATASET}-${namespace}`;
}

/**
 * Stable document id: device serial, file id, segment key fingerprint and seq. Records whose seq is
 * out of line (repeats, disorder) or that have none (malformed lines) add their line number, so a
 * replayed or injected line is indexed beside the original instead of colliding with it.
 */
export function documentId(parts: { serial: string | null; fileId: string; keyFingerprint: string | null; seq: number | null; line?: number }): string {
  const material = [parts.serial ?? 'unknown', parts.fileId, parts.keyFingerprint ?? 'no-key', parts.seq ?? 'no-seq'];
  if (parts.line !== undefined) material.push(`line:${parts.line}`);
  return hash('sha256', material.join('\n'), 'buffer').subarray(0, 20).toString('base64url');
}

/**
 * Maps the checked records of one file to ECS documents. Built once per file: the parts that are the
 * same for every record of the file (observer, data stream, file fields) are made once and shared
 * (frozen), which keeps mapping a record cheap.
 */
export class RecordMapper {
  readonly #ctx: MapContext;
  readonly #index: string;
  readonly #created: string;
  readonly #observer: Readonly<Record<string, unknown>>;
  readonly #dataStream: Readonly<Record<string, unknown>>;
  readonly #ecs: Readonly<Record<string, unknown>>;
  readonly #log: Readonly<Record<string, unknown>>;
  /** JSON of what every document of the file shares. */
  readonly #sharedJson: string;
  readonly #logJson: string;
  readonly #createdJson: string;
  readonly #eventJson = new Map<number, string>();

  constructor(ctx: MapContext) {
    this.#ctx = ctx;
    this.#index = auditDataStream(ctx.namespace);
    this.#created = ctx.created.toISOString();
    this.#observer = Object.freeze(observerOf(ctx));
    this.#dataStream = Object.freeze({ type: 'logs', dataset: AUDIT_DATASET, namespace: ctx.namespace });
    this.#ecs = Object.freeze({ version: ECS_VERSION });
    this.#log = Object.freeze(ctx.header !== null ? { file_id: ctx.fileId, header: ctx.header } : { file_id: ctx.fileId });
    this.#sharedJson = `"observer":${q(this.#observer)},"data_stream":${q(this.#dataStream)},"ecs":${q(this.#ecs)}`;
    this.#logJson = q(this.#log);
    this.#createdJson = q(this.#created);
  }

  /** The per-code part of `event`, made once per code. */
  #eventHead(info: EventCode): string {
    let head = this.#eventJson.get(info.code);
    if (head === undefined) {
      head = `"kind":"event","category":${q([info.category])},"type":${q(info.type)},"action":${q(info.action)},"code":"${info.code}"`;
      this.#eventJson.set(info.code, head);
    }
    return head;
  }

  map(checked: CheckedRecord): IndexDocument {
    return checked.status === 'malformed' ? this.#malformed(checked) : this.#wellFormed(checked);
  }

  #wellFormed(checked: Exclude<CheckedRecord, { status: 'malformed' }>): IndexDocument {
    const ctx = this.#ctx;
    const r = checked.record;
    const info = eventCode(r.event);
    const result = RESULT_CODES[r.result]!;
    const problemKinds = uniqueKinds(checked.problems);
    const anomalousSeq = problemKinds.includes('seq_repeat') || problemKinds.includes('seq_disorder');
    const _id = documentId({
      serial: ctx.device.serial,
      fileId: ctx.fileId,
      keyFingerprint: checked.segment?.keyFingerprint ?? null,
      seq: r.seq,
      ...(anomalousSeq ? { line: r.line } : {}),
    });
    const outcome = outcomeOf(info, r.result, checked.status === 'verified');
    const severity = outcome === 'failure' ? atLeast(info.severity, 'medium') : info.severity;
    const timeReliable = r.time >= MIN_RELIABLE_DEVICE_TIME;
    const decoded = decodeData(info, r);
    const selfGenerated = ctx.isSelfGenerated?.(r) ?? false;

    let vendor = `{"event":{"name":${q(info.name)}},"result":{"code":${r.result},"name":"${result.name}"},"device_time":${r.time},"log":${this.#logJson},"self_generated":${selfGenerated}`;
    if (r.subject !== '') vendor += `,"subject":${q(r.subject)}`;
    if (!timeReliable) vendor += ',"time_unreliable":true';
    if (decoded.keyId) vendor += `,"key":{"id":${q(decoded.keyId)}}`;
    if (decoded.scope) vendor += `,"scope":${q(decoded.scope)}`;
    if (decoded.fields) vendor += `,"data":${q(decoded.fields)}`;
    vendor += `,"integrity":{"status":"${checked.status}","problems":${q(problemKinds)}`;
    if (checked.segment) vendor += `,"key_fingerprint":"${checked.segment.keyFingerprint}","segment_line":${checked.segment.line},"signature":"${checked.segment.signature}"`;
    vendor += '}}';

    const timestamp = timeReliable ? q(new Date(r.time * 1000).toISOString()) : this.#createdJson;
    const message = q(messageOf(info, result.name, decoded.summary, checked.status));
    const event = `{${this.#eventHead(info)},"outcome":"${outcome}","sequence":${r.seq},"severity":${SEVERITY_SCORE[severity]},"created":${this.#createdJson},"original":${q(r.text)},"hash":"${sha256Hex(r.text)}","module":"${EVENT_MODULE}","dataset":"${AUDIT_DATASET}"}`;
    let json = `{"@timestamp":${timestamp},"message":${message},"event":${event},${this.#sharedJson},"encedo_hem":${vendor}`;
    const tags = selfGenerated ? [...(ctx.device.tags ?? []), 'self_generated'] : ctx.device.tags;
    if (tags && tags.length > 0) json += `,"tags":${q(tags)}`;
    const user = userOf(r);
    if (user) json += `,"user":{"id":${q(user.id)},"roles":["${user.role}"]},"related":{"user":[${q(user.id)}]}`;
    if (outcome === 'failure' && r.result !== 0) json += `,"error":{"code":"${result.name}"}`;
    return new SerializedDocument(_id, this.#index, `${json}}`);
  }

  /** A line that is not a record still becomes a document, so nothing in the file goes unseen. */
  #malformed(checked: Extract<CheckedRecord, { status: 'malformed' }>): IndexDocument {
    const ctx = this.#ctx;
    const line = checked.record;
    const _id = documentId({ serial: ctx.device.serial, fileId: ctx.fileId, keyFingerprint: checked.segment?.keyFingerprint ?? null, seq: null, line: line.line });
    const doc: EcsDocument = {
      '@timestamp': this.#created,
      message: `Malformed audit log line ${line.line}: ${line.reason}`,
      event: {
        kind: 'pipeline_error',
        action: 'malformed-line',
        outcome: 'unknown',
        severity: SEVERITY_SCORE.high,
        created: this.#created,
        original: line.text,
        hash: sha256Hex(line.text),
        module: EVENT_MODULE,
        dataset: AUDIT_DATASET,
      },
      error: { message: line.reason },
      observer: this.#observer,
      data_stream: this.#dataStream,
      ecs: this.#ecs,
      encedo_hem: {
        log: { ...this.#log, line: line.line },
        self_generated: false,
        integrity: { status: 'malformed', problems: ['malformed'] },
      },
    };
    return { _id, _index: this.#index, _source: doc };
  }
}

/** Maps one record; for a whole file make one RecordMapper and reuse it. */
export function mapRecord(checked: CheckedRecord, ctx: MapContext): IndexDocument {
  return new RecordMapper(ctx).map(checked);
}

function outcomeOf(info: EventCode, result: number, verified: boolean): 'success' | 'failure' | 'unknown' {
  switch (info.outcome) {
    case 'always_failure':
      return 'failure';
    case 'signature':
      return verified ? 'success' : 'unknown';
    case 'by_result':
      return result === 0 ? 'success' : 'failure';
  }
}

const SEVERITY_ORDER: readonly Severity[] = ['info', 'low', 'medium', 'high', 'critical'];
function atLeast(s: Severity, floor: Severity): Severity {
  return SEVERITY_ORDER.indexOf(s) >= SEVERITY_ORDER.indexOf(floor) ? s : floor;
}

function userOf(r: ParsedRecord): { id: string; role: string } | null {
  if (r.subject === 'U') return { id: 'U', role: 'user' };
  if (r.subject === 'M') return { id: 'M', role: 'master' };
  if (r.event === 0) return null; // KEY_INIT: the subject is the segment key
  const kid = decodeBase64Url(r.subject);
  return kid !== null && kid.length === 16 ? { id: kid.toString('hex'), role: 'external_authenticator' } : null;
}

interface DecodedData {
  readonly keyId?: string;
  readonly scope?: string;
  readonly summary?: string;
  readonly fields?: Record<string, string>;
}

/** Decodes f5 by the code's data kind; a value that does not decode is kept raw with the reason. */
function decodeData(info: EventCode, r: ParsedRecord): DecodedData {
  if (r.data === '' || info.data === 'signature') return {};
  const bytes = decodeBase64Url(r.data)!; // the parser accepted it as base64url
  const fail = (why: string): DecodedData => ({ fields: { raw: r.data, decode_error: why } });
  switch (info.data) {
    case 'kid':
      if (bytes.length !== 16) return fail(`expected a 16-byte key id, got ${bytes.length} bytes`);
      return { keyId: bytes.toString('hex'), summary: `key ${bytes.toString('hex')}` };
    case 'time': {
      if (bytes.length !== 4) return fail(`expected a 4-byte little-endian time, got ${bytes.length} bytes`);
      const iso = new Date(bytes.readUInt32LE(0) * 1000).toISOString();
      return { fields: { raw: r.data, time: iso }, summary: `time ${iso}` };
    }
    case 'raw':
    case 'log':
    case 'code': {
      if (!/^[\x20-\x7e]*$/.test(bytes.toString('latin1'))) return fail('expected printable ASCII text');
      const text = bytes.toString('latin1');
      if (info.data === 'log') return { fields: { raw: r.data, log_file_id: text }, summary: `file ${text}` };
      if (info.data === 'code') return { fields: { raw: r.data, code: text }, summary: `code ${text}` };
      const isScope = r.event === 12 || r.event === 13 || r.event === 14;
      return { fields: { raw: r.data, text }, ...(isScope ? { scope: text, summary: `scope ${text}` } : { summary: text }) };
    }
    case 'none':
      return fail('this event code carries no data');
  }
}

function messageOf(info: EventCode, resultName: string, detail: string | undefined, status: CheckedRecord['status']): string {
  const base = `${info.description}${detail ? ` (${detail})` : ''}: ${resultName.slice(11)}`; // after LOG_RESULT_
  return status === 'verified' ? base : `${base} [NOT VERIFIED]`;
}

export function observerOf(ctx: { device: DeviceContext; header: string | null }): Record<string, string> {
  return {
    vendor: 'Encedo',
    product: ctx.device.product ?? 'HEM',
    type: 'hsm',
    ...(ctx.header !== null ? { version: ctx.header } : {}),
    ...(ctx.device.serial ? { serial_number: ctx.device.serial } : {}),
    ...(ctx.device.hostname ? { hostname: ctx.device.hostname } : {}),
    ...(ctx.device.name ? { name: ctx.device.name } : {}),
  };
}

function uniqueKinds(problems: readonly { kind: ProblemKind }[]): ProblemKind[] {
  if (problems.length === 0) return [];
  return [...new Set(problems.map((p) => p.kind))];
}

export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}

/** Data stream namespaces: lower case, no `-` (it separates the name's parts), at most 100 bytes. */
export function namespaceError(namespace: string): string | null {
  return /^[a-z0-9_]{1,100}$/.test(namespace) ? null : `namespace ${JSON.stringify(namespace)} must be 1-100 characters of a-z, 0-9 and _`;
}

/** The file id a device gives a log file (8 hex digits, its boot time), taken from a file name. */
export function fileIdFromName(name: string): string {
  const base = name.replace(/^.*[\\/]/, '').replace(/\.log$/i, '');
  return /([0-9a-f]{8})$/.exec(base)?.[1] ?? base;
}
