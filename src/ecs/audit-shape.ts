/**
 * The audit mapping, readable: one checked record of a log file → one ECS document, as a plain object.
 * This is the spec of the mapping. The indexing path does not call it: it uses the string builder in
 * `audit-json.ts`, which must produce exactly `JSON.stringify(auditDocument(...))` (a property test
 * holds the two together). Change a field here first, then there.
 */
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

export type EcsDocument = Record<string, unknown>;
export type WellFormedRecord = Exclude<CheckedRecord, { status: 'malformed' }>;
export type MalformedCheckedRecord = Extract<CheckedRecord, { status: 'malformed' }>;

/** The ECS document of one checked record of the file described by `ctx`. */
export function auditDocument(checked: CheckedRecord, ctx: MapContext): EcsDocument {
  return checked.status === 'malformed' ? malformedDocument(checked, ctx) : recordDocument(checked, ctx);
}

/** What both builders derive from a record, once: the readable and the fast document must agree on it. */
export function recordFacts(checked: WellFormedRecord, isSelfGenerated: MapContext['isSelfGenerated']) {
  const r = checked.record;
  const info = eventCode(r.event);
  const resultName = RESULT_CODES[r.result]!.name;
  const outcome = outcomeOf(info, r.result, checked.status === 'verified');
  return {
    r,
    info,
    resultName,
    outcome,
    timeReliable: r.time >= MIN_RELIABLE_DEVICE_TIME,
    decoded: decodeData(info, r),
    selfGenerated: isSelfGenerated?.(r) ?? false,
  };
}

function recordDocument(checked: WellFormedRecord, ctx: MapContext): EcsDocument {
  const { r, info, resultName, outcome, timeReliable, decoded, selfGenerated } = recordFacts(
    checked,
    ctx.isSelfGenerated,
  );
  const tags = selfGenerated ? [...(ctx.device.tags ?? []), 'self_generated'] : (ctx.device.tags ?? []);
  const user = userOf(r);
  const created = ctx.created.toISOString();
  const segment = checked.segment;
  // Keys in RFC 8785 order (sorted), here and in every nested object: the document is its own canonical
  // JSON, so its custody hash is a hash of the bytes sent (see audit-json.ts).
  return {
    // Before the RTC is set the device time is seconds since power-up: the read time stands in.
    '@timestamp': timeReliable ? new Date(r.time * 1000).toISOString() : created,
    data_stream: dataStreamOf(ctx),
    ecs: { version: ECS_VERSION },
    encedo_hem: {
      ...(decoded.fields ? { data: decoded.fields } : {}),
      device_time: r.time,
      event: { name: info.name },
      integrity: {
        ...(segment ? { key_fingerprint: segment.keyFingerprint } : {}),
        problems: uniqueKinds(checked.problems),
        ...(segment ? { segment_line: segment.line, signature: segment.signature } : {}),
        status: checked.status,
      },
      ...(decoded.keyId ? { key: { id: decoded.keyId } } : {}),
      log: { ...logOf(ctx), line: r.line },
      result: { code: r.result, name: resultName },
      ...(decoded.scope ? { scope: decoded.scope } : {}),
      self_generated: selfGenerated,
      ...(r.subject !== '' ? { subject: r.subject } : {}),
      ...(!timeReliable ? { time_unreliable: true } : {}),
    },
    // FAILED/ERROR; an always-failure event recorded OK has no error code to report.
    ...(outcome === 'failure' && r.result !== 0 ? { error: { code: resultName } } : {}),
    event: {
      action: info.action,
      category: [info.category],
      code: String(info.code),
      created,
      dataset: AUDIT_DATASET,
      hash: sha256Hex(r.text),
      kind: 'event',
      module: EVENT_MODULE,
      original: r.text,
      outcome,
      sequence: r.seq,
      severity: SEVERITY_SCORE[severityOf(info, outcome)],
      type: [...info.type],
    },
    message: messageOf(info, resultName, decoded.summary, checked.status),
    observer: observerOf(ctx),
    ...(user ? { related: { user: [user.id] } } : {}),
    ...(tags.length > 0 ? { tags } : {}),
    ...(user ? { user: { id: user.id, roles: [user.role] } } : {}),
  };
}

/** A line that is not a record still becomes a document, so nothing in the file goes unseen. */
function malformedDocument(checked: MalformedCheckedRecord, ctx: MapContext): EcsDocument {
  const line = checked.record;
  const created = ctx.created.toISOString();
  return {
    '@timestamp': created,
    data_stream: dataStreamOf(ctx),
    ecs: { version: ECS_VERSION },
    encedo_hem: {
      integrity: { problems: ['malformed'], status: 'malformed' },
      log: { ...logOf(ctx), line: line.line },
      self_generated: false,
    },
    error: { message: line.reason },
    event: {
      action: 'malformed-line',
      created,
      dataset: AUDIT_DATASET,
      hash: sha256Hex(line.text),
      kind: 'pipeline_error',
      module: EVENT_MODULE,
      original: line.text,
      outcome: 'unknown',
      severity: SEVERITY_SCORE.high,
    },
    message: `Malformed audit log line ${line.line}: ${line.reason}`,
    observer: observerOf(ctx),
  };
}

export function auditDataStream(namespace: string): string {
  return `logs-${AUDIT_DATASET}-${namespace}`;
}

/**
 * Stable document id: device serial, file id, segment key fingerprint and seq. Records whose seq is
 * out of line (repeats, disorder) or that have none (malformed lines) add their line number, so a
 * replayed or injected line is indexed beside the original instead of colliding with it.
 */
export function documentId(parts: {
  serial: string | null;
  fileId: string;
  keyFingerprint: string | null;
  seq: number | null;
  line?: number;
}): string {
  const material = [parts.serial ?? 'unknown', parts.fileId, parts.keyFingerprint ?? 'no-key', parts.seq ?? 'no-seq'];
  if (parts.line !== undefined) material.push(`line:${parts.line}`);
  return idFromDigest(hash('sha256', material.join('\n'), 'base64url'));
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * A document id from the base64url SHA-256 digest of its material: the digest's first 20 bytes, in
 * base64url. Taken from the text (26 characters and the top 4 bits of a 27th) because a digest asked for
 * as a Buffer costs several times the hash itself.
 */
export function idFromDigest(digest: string): string {
  return digest.slice(0, 26) + B64URL[B64URL.indexOf(digest[26]!) & 0x3c];
}

/** The `_id` of the document of `checked`. */
export function auditDocumentId(checked: CheckedRecord, ctx: MapContext): string {
  const serial = ctx.device.serial;
  const fileId = ctx.fileId;
  const keyFingerprint = checked.segment?.keyFingerprint ?? null;
  // One object shape for every call (line undefined, not absent): this runs once per record.
  if (checked.status === 'malformed') {
    return documentId({ serial, fileId, keyFingerprint, seq: null, line: checked.record.line });
  }
  const r = checked.record;
  const line = hasAnomalousSeq(checked) ? r.line : undefined;
  return documentId({ serial, fileId, keyFingerprint, seq: r.seq, line });
}

function hasAnomalousSeq(checked: WellFormedRecord): boolean {
  for (const p of checked.problems) if (p.kind === 'seq_repeat' || p.kind === 'seq_disorder') return true;
  return false;
}

export function outcomeOf(info: EventCode, result: number, verified: boolean): 'success' | 'failure' | 'unknown' {
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

/** A failure is at least medium, whatever the code's own severity. */
export function severityOf(info: EventCode, outcome: 'success' | 'failure' | 'unknown'): Severity {
  if (outcome !== 'failure') return info.severity;
  return SEVERITY_ORDER.indexOf(info.severity) >= SEVERITY_ORDER.indexOf('medium') ? info.severity : 'medium';
}

export function userOf(
  r: Pick<ParsedRecord, 'event' | 'subject'>,
): { id: string; role: 'user' | 'master' | 'external_authenticator' } | null {
  if (r.subject === 'U') return { id: 'U', role: 'user' };
  if (r.subject === 'M') return { id: 'M', role: 'master' };
  if (r.event === 0) return null; // KEY_INIT: the subject is the segment key
  const kid = decodeBase64Url(r.subject);
  return kid !== null && kid.length === 16 ? { id: kid.toString('hex'), role: 'external_authenticator' } : null;
}

export interface DecodedData {
  readonly keyId?: string;
  readonly scope?: string;
  readonly summary?: string;
  readonly fields?: Record<string, string>;
}

/** Decodes f5 by the code's data kind; a value that does not decode is kept raw with the reason. */
export function decodeData(info: EventCode, r: Pick<ParsedRecord, 'event' | 'data'>): DecodedData {
  if (r.data === '' || info.data === 'signature') return {};
  const bytes = decodeBase64Url(r.data)!; // the parser accepted it as base64url
  const fail = (why: string): DecodedData => ({ fields: { decode_error: why, raw: r.data } });
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
      if (info.data === 'log') return { fields: { log_file_id: text, raw: r.data }, summary: `file ${text}` };
      if (info.data === 'code') return { fields: { code: text, raw: r.data }, summary: `code ${text}` };
      const isScope = r.event === 12 || r.event === 13 || r.event === 14;
      const shown = isScope ? { scope: text, summary: `scope ${text}` } : { summary: text };
      return { fields: { raw: r.data, text }, ...shown };
    }
    case 'none':
      return fail('this event code carries no data');
  }
}

export function messageOf(
  info: EventCode,
  resultName: string,
  detail: string | undefined,
  status: CheckedRecord['status'],
): string {
  const base = `${info.description}${detail ? ` (${detail})` : ''}: ${resultName.slice(11)}`; // after LOG_RESULT_
  return status === 'verified' ? base : `${base} [NOT VERIFIED]`;
}

export function observerOf(ctx: { device: DeviceContext; header: string | null }): Record<string, string> {
  return {
    ...(ctx.device.hostname ? { hostname: ctx.device.hostname } : {}),
    ...(ctx.device.name ? { name: ctx.device.name } : {}),
    product: ctx.device.product ?? 'HEM',
    ...(ctx.device.serial ? { serial_number: ctx.device.serial } : {}),
    type: 'hsm',
    vendor: 'Encedo',
    ...(ctx.header !== null ? { version: ctx.header } : {}),
  };
}

export function dataStreamOf(ctx: { namespace: string }): { type: 'logs'; dataset: string; namespace: string } {
  return { dataset: AUDIT_DATASET, namespace: ctx.namespace, type: 'logs' };
}

/** `encedo_hem.log`: which file the record came from. */
export function logOf(ctx: { fileId: string; header: string | null }): { file_id: string; header?: string } {
  return ctx.header !== null ? { file_id: ctx.fileId, header: ctx.header } : { file_id: ctx.fileId };
}

export function uniqueKinds(problems: readonly { kind: ProblemKind }[]): ProblemKind[] {
  if (problems.length === 0) return [];
  return [...new Set(problems.map((p) => p.kind))];
}

export function sha256Hex(text: string): string {
  return hash('sha256', text, 'hex');
}
