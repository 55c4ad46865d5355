/**
 * The audit document built directly as a JSON string. Why it exists: serializing a million records is
 * the hot path, and a string assembled from fragments made once per file (observer, data stream, log),
 * once per event code and once per key segment costs a fraction of an object tree built and then
 * stringified per record.
 *
 * It MUST equal the readable spec, `auditDocument` in `audit-shape.ts`: the output is exactly
 * `JSON.stringify(auditDocument(checked, ctx))`, same fields in the same order
 * (test/unit/ecs/audit-json.test.ts checks this for arbitrary records). Change the spec first.
 *
 * The order is RFC 8785's (keys sorted at every level), so the string is the document's canonical JSON
 * and the custody digest hashes it as sent, without parsing it again (the same test checks this).
 *
 * Escaping: every string that comes from the file, the device or the config goes through
 * JSON.stringify (`q`). Written as-is are only values that cannot need escaping:
 * - numbers: safe integers (the parser bounds seq, time and event to 13, 8 and 8 hex digits; result is
 *   0-2; line numbers count lines), for which `${n}` is what JSON.stringify writes;
 * - booleans, and strings from closed sets defined in code: status, outcome, signature, role, result
 *   names, module/dataset constants;
 * - hex digests computed here (sha256Hex) and ISO dates from Date#toISOString.
 */
import type { CheckedRecord } from '../logfile/verify.js';
import { type EventCode, SEVERITY_SCORE } from './catalogue.js';
import {
  AUDIT_DATASET,
  ECS_VERSION,
  EVENT_MODULE,
  type MalformedCheckedRecord,
  type MapContext,
  type WellFormedRecord,
  dataStreamOf,
  logOf,
  messageOf,
  observerOf,
  recordFacts,
  severityOf,
  sha256Hex,
  uniqueKinds,
  userOf,
} from './audit-shape.js';

const q = JSON.stringify;

type Segment = NonNullable<CheckedRecord['segment']>;

/** Builds the JSON of the audit documents of one file; make one per file and reuse it. */
export class AuditJsonBuilder {
  readonly #ctx: MapContext;
  /** `"data_stream":…,"ecs":…`: the same in every document of the file. */
  readonly #streamJson: string;
  readonly #observerJson: string;
  /** The file's `log` object without its closing brace: each document adds its line number. */
  readonly #logOpen: string;
  readonly #createdJson: string;
  readonly #tagsJson: string;
  readonly #selfTagsJson: string;
  /** Per event code: the start of `event` (action, category, code) and its `type` array. */
  readonly #eventParts = new Map<number, readonly [string, string]>();
  #segment: Segment | null = null;
  #segmentHead = '';
  #segmentTail = '';

  constructor(ctx: MapContext) {
    this.#ctx = ctx;
    this.#streamJson = `"data_stream":${q(dataStreamOf(ctx))},"ecs":${q({ version: ECS_VERSION })}`;
    this.#observerJson = q(observerOf(ctx));
    this.#logOpen = q(logOf(ctx)).slice(0, -1);
    this.#createdJson = q(ctx.created.toISOString());
    const tags = ctx.device.tags ?? [];
    this.#tagsJson = tags.length > 0 ? `,"tags":${q(tags)}` : '';
    this.#selfTagsJson = `,"tags":${q([...tags, 'self_generated'])}`;
  }

  /** `JSON.stringify(auditDocument(checked, ctx))`, fast. */
  json(checked: CheckedRecord): string {
    return checked.status === 'malformed' ? this.#malformed(checked) : this.#record(checked);
  }

  #eventPartsOf(info: EventCode): readonly [string, string] {
    let parts = this.#eventParts.get(info.code);
    if (parts === undefined) {
      parts = [`"action":${q(info.action)},"category":${q([info.category])},"code":"${info.code}"`, q(info.type)];
      this.#eventParts.set(info.code, parts);
    }
    return parts;
  }

  /** The segment parts of `encedo_hem.integrity`, made once per key segment (records share its object). */
  #segmentParts(segment: Segment): void {
    if (segment !== this.#segment) {
      this.#segment = segment;
      this.#segmentHead = `"key_fingerprint":${q(segment.keyFingerprint)},`;
      this.#segmentTail = `,"segment_line":${segment.line},"signature":"${segment.signature}"`;
    }
  }

  #record(checked: WellFormedRecord): string {
    const { r, info, resultName, outcome, timeReliable, decoded, selfGenerated } = recordFacts(
      checked,
      this.#ctx.isSelfGenerated,
    );
    // Every object's keys in sorted order (RFC 8785), as in auditDocument.
    let vendor = decoded.fields ? `{"data":${q(decoded.fields)},` : '{';
    vendor += `"device_time":${r.time},"event":{"name":${q(info.name)}},"integrity":{`;
    if (checked.segment) this.#segmentParts(checked.segment);
    if (checked.segment) vendor += this.#segmentHead;
    vendor += `"problems":${q(uniqueKinds(checked.problems))}`;
    if (checked.segment) vendor += this.#segmentTail;
    vendor += `,"status":"${checked.status}"}`;
    if (decoded.keyId) vendor += `,"key":{"id":${q(decoded.keyId)}}`;
    vendor += `,"log":${this.#logOpen},"line":${r.line}},"result":{"code":${r.result},"name":"${resultName}"}`;
    if (decoded.scope) vendor += `,"scope":${q(decoded.scope)}`;
    vendor += `,"self_generated":${selfGenerated}`;
    if (r.subject !== '') vendor += `,"subject":${q(r.subject)}`;
    if (!timeReliable) vendor += ',"time_unreliable":true';
    vendor += '}';

    const timestamp = timeReliable ? `"${new Date(r.time * 1000).toISOString()}"` : this.#createdJson;
    const message = q(messageOf(info, resultName, decoded.summary, checked.status));
    const severity = SEVERITY_SCORE[severityOf(info, outcome)];
    const [eventHead, typeJson] = this.#eventPartsOf(info);
    const event =
      `{${eventHead},"created":${this.#createdJson},"dataset":"${AUDIT_DATASET}","hash":"${sha256Hex(r.text)}"` +
      `,"kind":"event","module":"${EVENT_MODULE}","original":${q(r.text)},"outcome":"${outcome}"` +
      `,"sequence":${r.seq},"severity":${severity},"type":${typeJson}}`;
    let json = `{"@timestamp":${timestamp},${this.#streamJson},"encedo_hem":${vendor}`;
    if (outcome === 'failure' && r.result !== 0) json += `,"error":{"code":"${resultName}"}`;
    json += `,"event":${event},"message":${message},"observer":${this.#observerJson}`;
    const user = userOf(r);
    const id = user ? q(user.id) : '';
    if (user) json += `,"related":{"user":[${id}]}`;
    json += selfGenerated ? this.#selfTagsJson : this.#tagsJson;
    if (user) json += `,"user":{"id":${id},"roles":["${user.role}"]}`;
    return `${json}}`;
  }

  #malformed(checked: MalformedCheckedRecord): string {
    const line = checked.record;
    const created = this.#createdJson;
    const vendor =
      `{"integrity":{"problems":["malformed"],"status":"malformed"},"log":${this.#logOpen},"line":${line.line}}` +
      ',"self_generated":false}';
    const event =
      `{"action":"malformed-line","created":${created},"dataset":"${AUDIT_DATASET}","hash":"${sha256Hex(line.text)}"` +
      `,"kind":"pipeline_error","module":"${EVENT_MODULE}","original":${q(line.text)},"outcome":"unknown"` +
      `,"severity":${SEVERITY_SCORE.high}}`;
    return (
      `{"@timestamp":${created},${this.#streamJson},"encedo_hem":${vendor},"error":{"message":${q(line.reason)}}` +
      `,"event":${event},"message":${q(`Malformed audit log line ${line.line}: ${line.reason}`)}` +
      `,"observer":${this.#observerJson}}`
    );
  }
}
