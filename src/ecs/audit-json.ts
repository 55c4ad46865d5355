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
  /** `"observer":…,"data_stream":…,"ecs":…`: the same in every document of the file. */
  readonly #sharedJson: string;
  readonly #logJson: string;
  readonly #createdJson: string;
  readonly #tagsJson: string;
  readonly #selfTagsJson: string;
  readonly #eventHeads = new Map<number, string>();
  #segment: Segment | null = null;
  #segmentJson = '';

  constructor(ctx: MapContext) {
    this.#ctx = ctx;
    const ecs = { version: ECS_VERSION };
    this.#sharedJson = `"observer":${q(observerOf(ctx))},"data_stream":${q(dataStreamOf(ctx))},"ecs":${q(ecs)}`;
    this.#logJson = q(logOf(ctx));
    this.#createdJson = q(ctx.created.toISOString());
    const tags = ctx.device.tags ?? [];
    this.#tagsJson = tags.length > 0 ? `,"tags":${q(tags)}` : '';
    this.#selfTagsJson = `,"tags":${q([...tags, 'self_generated'])}`;
  }

  /** `JSON.stringify(auditDocument(checked, ctx))`, fast. */
  json(checked: CheckedRecord): string {
    return checked.status === 'malformed' ? this.#malformed(checked) : this.#record(checked);
  }

  /** The per-code part of `event`, made once per code. */
  #eventHead(info: EventCode): string {
    let head = this.#eventHeads.get(info.code);
    if (head === undefined) {
      head =
        `"kind":"event","category":${q([info.category])},"type":${q(info.type)},"action":${q(info.action)}` +
        `,"code":"${info.code}"`;
      this.#eventHeads.set(info.code, head);
    }
    return head;
  }

  /** The segment part of `encedo_hem.integrity`, made once per key segment (records share its object). */
  #segmentPart(segment: Segment): string {
    if (segment !== this.#segment) {
      this.#segment = segment;
      this.#segmentJson =
        `,"key_fingerprint":${q(segment.keyFingerprint)},"segment_line":${segment.line}` +
        `,"signature":"${segment.signature}"`;
    }
    return this.#segmentJson;
  }

  #record(checked: WellFormedRecord): string {
    const { r, info, resultName, outcome, timeReliable, decoded, selfGenerated } = recordFacts(
      checked,
      this.#ctx.isSelfGenerated,
    );

    let vendor =
      `{"event":{"name":${q(info.name)}},"result":{"code":${r.result},"name":"${resultName}"}` +
      `,"device_time":${r.time},"log":${this.#logJson},"self_generated":${selfGenerated}`;
    if (r.subject !== '') vendor += `,"subject":${q(r.subject)}`;
    if (!timeReliable) vendor += ',"time_unreliable":true';
    if (decoded.keyId) vendor += `,"key":{"id":${q(decoded.keyId)}}`;
    if (decoded.scope) vendor += `,"scope":${q(decoded.scope)}`;
    if (decoded.fields) vendor += `,"data":${q(decoded.fields)}`;
    vendor += `,"integrity":{"status":"${checked.status}","problems":${q(uniqueKinds(checked.problems))}`;
    if (checked.segment) vendor += this.#segmentPart(checked.segment);
    vendor += '}}';

    const timestamp = timeReliable ? `"${new Date(r.time * 1000).toISOString()}"` : this.#createdJson;
    const message = q(messageOf(info, resultName, decoded.summary, checked.status));
    const severity = SEVERITY_SCORE[severityOf(info, outcome)];
    const event =
      `{${this.#eventHead(info)},"outcome":"${outcome}","sequence":${r.seq},"severity":${severity}` +
      `,"created":${this.#createdJson},"original":${q(r.text)},"hash":"${sha256Hex(r.text)}"` +
      `,"module":"${EVENT_MODULE}","dataset":"${AUDIT_DATASET}"}`;
    let json =
      `{"@timestamp":${timestamp},"message":${message},"event":${event},${this.#sharedJson}` +
      `,"encedo_hem":${vendor}${selfGenerated ? this.#selfTagsJson : this.#tagsJson}`;
    const user = userOf(r);
    if (user) {
      const id = q(user.id);
      json += `,"user":{"id":${id},"roles":["${user.role}"]},"related":{"user":[${id}]}`;
    }
    if (outcome === 'failure' && r.result !== 0) json += `,"error":{"code":"${resultName}"}`;
    return `${json}}`;
  }

  #malformed(checked: MalformedCheckedRecord): string {
    const line = checked.record;
    const created = this.#createdJson;
    const event =
      `{"kind":"pipeline_error","action":"malformed-line","outcome":"unknown"` +
      `,"severity":${SEVERITY_SCORE.high},"created":${created},"original":${q(line.text)}` +
      `,"hash":"${sha256Hex(line.text)}","module":"${EVENT_MODULE}","dataset":"${AUDIT_DATASET}"}`;
    // `log` plus the line number: the file's log object with its closing brace replaced.
    const log = `${this.#logJson.slice(0, -1)},"line":${line.line}}`;
    const vendor = `{"log":${log},"self_generated":false,"integrity":{"status":"malformed","problems":["malformed"]}}`;
    return (
      `{"@timestamp":${created},"message":${q(`Malformed audit log line ${line.line}: ${line.reason}`)}` +
      `,"event":${event},"error":{"message":${q(line.reason)}},${this.#sharedJson},"encedo_hem":${vendor}}`
    );
  }
}
