/**
 * The document of a regular record, as JSON, from fragments made before the record came: the fast path's
 * map stage (the general one is AuditJsonBuilder in audit-json.ts, and the spec is auditDocument in
 * audit-shape.ts).
 *
 * Why it is fast: a regular record (verified, no problem at all, inside a signed segment; see
 * LogFileMapper in map-file.ts) leaves little to decide. Everything fixed by the file (observer, data
 * stream, log), by the key segment (integrity, the `_id`'s prefix), by the event code and result
 * (names, outcome, severity, error) and by the data and subject values (decoded data, message, user) is
 * JSON already, cached per (event, result, data, subject) in four runs of text, one between each two
 * variable fields. A record adds its numbers, its time (the day's part cached), its text (which needs no
 * escaping: the fast parser let only hex digits, `|` and base64url through) and two one-shot hashes, one
 * for `event.hash` and one for the `_id`.
 *
 * It must produce exactly what AuditJsonBuilder produces for such a record: the unit tests run both paths
 * over the vendor vectors and generated files and compare the output byte for byte. Change the spec
 * first, then audit-json.ts, then here.
 */
import { hash } from 'node:crypto';
import type { ResultCode } from '../logfile/types.js';
import type { Segment } from '../logfile/verify.js';
import { type EventCode, RESULT_CODES, SEVERITY_SCORE, eventCode } from './catalogue.js';
import {
  AUDIT_DATASET,
  ECS_VERSION,
  EVENT_MODULE,
  MIN_RELIABLE_DEVICE_TIME,
  type MapContext,
  dataStreamOf,
  decodeData,
  idFromDigest,
  logOf,
  messageOf,
  observerOf,
  outcomeOf,
  severityOf,
  userOf,
} from './audit-shape.js';

const q = JSON.stringify;
const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const DAY = 86_400;

/** One regular record, as the fast parser split it: `text` is the whole line. */
export interface RegularRecord {
  readonly line: number;
  readonly text: string;
  readonly seq: number;
  readonly time: number;
  readonly event: number;
  readonly result: ResultCode;
  readonly subject: string;
  readonly data: string;
  /** Where the tag starts in `text`: the MACed prefix's length. */
  readonly macLength: number;
}

/** What an (event code, result) pair fixes. */
interface PairParts {
  readonly event: number;
  readonly info: EventCode;
  readonly resultName: string;
  /** After `"device_time":N`, up to the integrity object. */
  readonly name: string;
  /** After the line number: closes `log`, then `result`. */
  readonly result: string;
  /** Closes `encedo_hem`, then `error` if any, then `event` up to the hash's opening quote. */
  readonly eventOpen: string;
  /** After the original text's closing quote, up to `"sequence":`. */
  readonly outcome: string;
  /** After the sequence number, up to `"message":`. */
  readonly severity: string;
  /** By data, then by subject: what they add, joined with the pair's fragments. */
  readonly byData: Map<string, Map<string, Variant>>;
}

/**
 * What a pair's record with one data and one subject value says between its variable fields, each run of
 * fixed text joined into one string: a document is then a dozen pieces, which V8 joins (when the document
 * is written out) at a fraction of the cost of forty.
 */
interface Variant {
  readonly pair: PairParts;
  readonly data: string;
  readonly subject: string;
  // What the runs were made for, besides the pair, data and subject.
  segment: Segment | null;
  selfGenerated: boolean;
  reliable: boolean;
  /** After `@timestamp`, up to `"device_time":`. */
  beforeTime: string;
  /** After `device_time`, up to `"line":`. */
  beforeLine: string;
  /** After the line number, up to the hash's opening quote. */
  beforeHash: string;
  /** After `"sequence":N`: the rest of the document. */
  end: string;
}

/** The caches stay this small, whatever a file holds: past it they start again. */
const MAX_PAIRS = 256;
const MAX_VARIANTS = 1024;

/** Builds the JSON and `_id` of the regular records of one file; make one per file, after its header. */
export class FastRecordJson {
  readonly #head: string;
  readonly #logLine: string;
  readonly #observer: string;
  readonly #createdJson: string;
  /** The document's start when the device time is unreliable: the read time stands in. */
  readonly #createdStart: string;
  readonly #eventTail: string;
  readonly #tags: string;
  readonly #selfTags: string;
  readonly #idHead: string;
  readonly #pairs = new Map<number, PairParts>();
  #variants = 0;
  #segment: Segment | null = null;
  #integrity = '';
  #idPrefix = '';
  #time = -1;
  #timeJson = '';
  #dayStart = -1;
  #dayJson = '';

  constructor(ctx: MapContext) {
    this.#head = `,"data_stream":${q(dataStreamOf(ctx))},"ecs":${q({ version: ECS_VERSION })},"encedo_hem":`;
    this.#logLine = `,"log":${q(logOf(ctx)).slice(0, -1)},"line":`;
    this.#observer = `,"observer":${q(observerOf(ctx))}`;
    this.#createdJson = q(ctx.created.toISOString());
    this.#createdStart = `{"@timestamp":${this.#createdJson}`;
    this.#eventTail = `","kind":"event","module":"${EVENT_MODULE}","original":"`;
    const tags = ctx.device.tags ?? [];
    this.#tags = tags.length > 0 ? `,"tags":${q(tags)}` : '';
    this.#selfTags = `,"tags":${q([...tags, 'self_generated'])}`;
    this.#idHead = `${ctx.device.serial ?? 'unknown'}\n${ctx.fileId}\n`;
  }

  /**
   * The document's `_id`: documentId() of serial, file, segment and seq, from a prefix made once per
   * segment and one one-shot hash.
   */
  id(segment: Segment, seq: number): string {
    if (segment !== this.#segment) this.#enterSegment(segment);
    return idFromDigest(hash('sha256', `${this.#idPrefix}${seq}`, 'base64url'));
  }

  /**
   * `JSON.stringify(auditDocument(checked, ctx))` for the regular record `r` of `segment`; `selfGenerated`:
   * what the context's isSelfGenerated says of it.
   */
  json(r: RegularRecord, segment: Segment, selfGenerated: boolean): string {
    if (segment !== this.#segment) this.#enterSegment(segment);
    if (this.#variants >= MAX_VARIANTS) {
      this.#pairs.clear();
      this.#variants = 0;
    }
    const reliable = r.time >= MIN_RELIABLE_DEVICE_TIME;
    const v = this.#variantOf(this.#pairOf(r.event, r.result), r.data, r.subject);
    if (v.segment !== segment || v.selfGenerated !== selfGenerated || v.reliable !== reliable)
      this.#join(v, selfGenerated, reliable);
    return (
      `${reliable ? this.#timeJsonOf(r.time) : this.#createdStart}${v.beforeTime}${r.time}${v.beforeLine}${r.line}` +
      `${v.beforeHash}${hash('sha256', r.text, 'hex')}${this.#eventTail}${r.text}${v.pair.outcome}${r.seq}${v.end}`
    );
  }

  #enterSegment(segment: Segment): void {
    this.#segment = segment;
    this.#integrity =
      `"key_fingerprint":${q(segment.keyFingerprint)},"problems":[],"segment_line":${segment.line}` +
      `,"signature":"${segment.signature}","status":"verified"}`;
    this.#idPrefix = `${this.#idHead}${segment.keyFingerprint}\n`;
  }

  /** `{"@timestamp":"2022-03-15T22:04:53.000Z"`: the date part made once per day. */
  #timeJsonOf(time: number): string {
    if (time === this.#time) return this.#timeJson;
    const day = time - (time % DAY);
    if (day !== this.#dayStart) {
      const iso = new Date(day * 1000).toISOString();
      this.#dayStart = day;
      this.#dayJson = `{"@timestamp":"${iso.slice(0, iso.indexOf('T') + 1)}`;
    }
    const s = time - day;
    this.#time = time;
    this.#timeJson =
      `${this.#dayJson}${TWO_DIGITS[Math.floor(s / 3600)]}:${TWO_DIGITS[Math.floor(s / 60) % 60]}` +
      `:${TWO_DIGITS[s % 60]}.000Z"`;
    return this.#timeJson;
  }

  #pairOf(event: number, result: ResultCode): PairParts {
    const key = event * 4 + result;
    let p = this.#pairs.get(key);
    if (p === undefined) {
      if (this.#pairs.size >= MAX_PAIRS) this.#pairs.clear();
      p = this.#makePair(event, result);
      this.#pairs.set(key, p);
    }
    return p;
  }

  #makePair(event: number, result: ResultCode): PairParts {
    const info = eventCode(event);
    const resultName = RESULT_CODES[result]!.name;
    const outcome = outcomeOf(info, result, true);
    const error = outcome === 'failure' && result !== 0 ? `,"error":{"code":"${resultName}"}` : '';
    return {
      event,
      info,
      resultName,
      name: `,"event":{"name":${q(info.name)}},"integrity":{`,
      result: `},"result":{"code":${result},"name":"${resultName}"}`,
      eventOpen:
        `}${error},"event":{"action":${q(info.action)},"category":${q([info.category])},"code":"${info.code}"` +
        `,"created":${this.#createdJson},"dataset":"${AUDIT_DATASET}","hash":"`,
      outcome: `","outcome":"${outcome}","sequence":`,
      severity: `,"severity":${SEVERITY_SCORE[severityOf(info, outcome)]},"type":${q(info.type)}},"message":`,
      byData: new Map(),
    };
  }

  #variantOf(p: PairParts, data: string, subject: string): Variant {
    let bySubject = p.byData.get(data);
    if (bySubject === undefined) {
      bySubject = new Map();
      p.byData.set(data, bySubject);
    }
    let v = bySubject.get(subject);
    if (v === undefined) {
      v = {
        pair: p,
        data,
        subject,
        segment: null,
        selfGenerated: false,
        reliable: false,
        beforeTime: '',
        beforeLine: '',
        beforeHash: '',
        end: '',
      };
      bySubject.set(subject, v);
      this.#variants++;
    }
    return v;
  }

  /** Makes the variant's runs for the current segment and these two flags. */
  #join(v: Variant, selfGenerated: boolean, reliable: boolean): void {
    const p = v.pair;
    const decoded = decodeData(p.info, { event: p.event, data: v.data });
    const user = userOf({ event: p.event, subject: v.subject });
    const userId = user ? q(user.id) : '';
    v.segment = this.#segment;
    v.selfGenerated = selfGenerated;
    v.reliable = reliable;
    const key = decoded.keyId ? `,"key":{"id":${q(decoded.keyId)}}` : '';
    const scope = decoded.scope ? `,"scope":${q(decoded.scope)}` : '';
    const subject = v.subject !== '' ? `,"subject":${q(v.subject)}` : '';
    v.beforeTime = `${this.#head}${decoded.fields ? `{"data":${q(decoded.fields)},` : '{'}"device_time":`;
    v.beforeLine = `${p.name}${this.#integrity}${key}${this.#logLine}`;
    v.beforeHash =
      `${p.result}${scope},"self_generated":${selfGenerated}${subject}` +
      `${reliable ? '' : ',"time_unreliable":true'}${p.eventOpen}`;
    v.end =
      `${p.severity}${q(messageOf(p.info, p.resultName, decoded.summary, 'verified'))}${this.#observer}` +
      `${user ? `,"related":{"user":[${userId}]}` : ''}${selfGenerated ? this.#selfTags : this.#tags}` +
      `${user ? `,"user":{"id":${userId},"roles":["${user.role}"]}` : ''}}`;
  }
}
