import type { CheckedRecord } from '../logfile/verify.js';
import { AuditJsonBuilder } from './audit-json.js';
import { type EcsDocument, type MapContext, auditDataStream, auditDocumentId } from './audit-shape.js';

// The mapping itself lives in audit-shape.ts (readable spec) and audit-json.ts (the fast builder);
// these names stay exported here because the rest of the code imports them from map.js.
export {
  AUDIT_DATASET,
  type DeviceContext,
  ECS_VERSION,
  type EcsDocument,
  EVENT_MODULE,
  MIN_RELIABLE_DEVICE_TIME,
  type MapContext,
  auditDataStream,
  auditDocument,
  documentId,
  observerOf,
  sha256Hex,
} from './audit-shape.js';

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

/**
 * Maps the checked records of one file to ECS documents. Built once per file, so what every record of
 * the file shares is serialized once (see AuditJsonBuilder).
 */
export class RecordMapper {
  readonly #ctx: MapContext;
  readonly #index: string;
  readonly #json: AuditJsonBuilder;

  constructor(ctx: MapContext) {
    this.#ctx = ctx;
    this.#index = auditDataStream(ctx.namespace);
    this.#json = new AuditJsonBuilder(ctx);
  }

  map(checked: CheckedRecord): IndexDocument {
    return new SerializedDocument(auditDocumentId(checked, this.#ctx), this.#index, this.#json.json(checked));
  }
}

/** A document whose `_source` is already JSON (the audit mapper's, or the fast path's). */
export function serializedDocument(id: string, index: string, json: string): IndexDocument {
  return new SerializedDocument(id, index, json);
}

/** Maps one record; for a whole file make one RecordMapper and reuse it. */
export function mapRecord(checked: CheckedRecord, ctx: MapContext): IndexDocument {
  return new RecordMapper(ctx).map(checked);
}

/** Data stream namespaces: lower case, no `-` (it separates the name's parts), at most 100 bytes. */
export function namespaceError(namespace: string): string | null {
  return /^[a-z0-9_]{1,100}$/.test(namespace)
    ? null
    : `namespace ${JSON.stringify(namespace)} must be 1-100 characters of a-z, 0-9 and _`;
}

/** The file id a device gives a log file (8 hex digits, its boot time), taken from a file name. */
export function fileIdFromName(name: string): string {
  const base = name.replace(/^.*[\\/]/, '').replace(/\.log$/i, '');
  return /([0-9a-f]{8})$/.exec(base)?.[1] ?? base;
}
