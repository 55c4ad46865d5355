import { type KeyObject, createHmac, createSecretKey } from 'node:crypto';
import { ed25519Sign } from '../shared/ed25519.js';
import { KEY_INIT_EVENT, type ResultCode } from './types.js';

export interface RecordInput {
  readonly time: number;
  readonly event: number;
  readonly result: ResultCode;
  /** '', 'U', 'M' or a base64url KID. */
  readonly subject?: string;
  /** Already base64url-encoded data field. */
  readonly data?: string;
}

/**
 * Writes records in the device's format (spec §2): each segment opens with a KEY_INIT record whose
 * key K is signed by the logger key, and every record carries the truncated HMAC-SHA256 tag under K.
 * Used by the simulator and the test generators; pure apart from the caller-supplied keys.
 */
export class LogWriter {
  readonly #signingKey: Uint8Array;
  readonly #eol: string;
  #segmentKey: Buffer | null = null;
  /** K imported once per segment: importing a raw key for every record's HMAC cost more than the HMAC. */
  #macKey: KeyObject | null = null;
  #seq = 0;

  constructor(options: { signingKey: Uint8Array; lineEnding?: '\r\n' | '\n' | '\r' }) {
    this.#signingKey = options.signingKey;
    this.#eol = options.lineEnding ?? '\r\n';
  }

  static header(firmware: string, lineEnding: string = '\r\n'): string {
    return `# ${firmware}${lineEnding}`;
  }

  get nextSeq(): number {
    return this.#seq;
  }

  /** Starts a key segment with key K (32 bytes); `restartSeq` makes the counter start again at 0. */
  keyInit(segmentKey: Uint8Array, time: number, options: { restartSeq?: boolean } = {}): string {
    if (segmentKey.length !== 32) throw new TypeError('segment key must be 32 bytes');
    if (options.restartSeq) this.#seq = 0;
    this.#segmentKey = Buffer.from(segmentKey);
    this.#macKey = createSecretKey(this.#segmentKey);
    const signature = Buffer.from(ed25519Sign(segmentKey, this.#signingKey));
    return this.#line(time, KEY_INIT_EVENT, 0, this.#segmentKey.toString('base64url'), signature.toString('base64url'));
  }

  append(record: RecordInput): string {
    if (this.#segmentKey === null) throw new Error('append() before keyInit()');
    return this.#line(record.time, record.event, record.result, record.subject ?? '', record.data ?? '');
  }

  #line(time: number, event: number, result: ResultCode, subject: string, data: string): string {
    const text =
      `${(this.#seq++).toString(16)}|${time.toString(16)}|${event.toString(16)}|${result}|` + `${subject}|${data}|`;
    return text + macTag(this.#macKey!, text) + this.#eol;
  }
}

/** The record tag: first 16 bytes of HMAC-SHA256(K, text up to and including the sixth '|'), base64url. */
export function macTag(segmentKey: Uint8Array | KeyObject, macText: string): string {
  return createHmac('sha256', segmentKey).update(macText, 'latin1').digest().subarray(0, 16).toString('base64url');
}
