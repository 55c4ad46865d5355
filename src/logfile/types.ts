/** What one physical line of a HEM audit log file is, after parsing and before verification. */

export type ResultCode = 0 | 1 | 2;

export interface HeaderLine {
  readonly kind: 'header';
  /** 1-based physical line number. */
  readonly line: number;
  /**
   * The text after the leading `#` and spaces, e.g. `Encedo HEM v0.9.77 (#ff0a263)`. Printable: a `#` line
   * with control bytes (other than TAB) is a MalformedLine instead.
   */
  readonly text: string;
}

export interface ParsedRecord {
  readonly kind: 'record';
  readonly line: number;
  /** The whole line without its terminator: what ends up in `event.original`. */
  readonly text: string;
  /** Length of the MACed prefix: the text up to and including the sixth `|`. */
  readonly macLength: number;
  readonly seq: number;
  /** Device RTC time, unix seconds. */
  readonly time: number;
  readonly event: number;
  readonly result: ResultCode;
  /** Raw subject field: '', 'U', 'M', a base64url KID, or on KEY_INIT the base64url segment key. */
  readonly subject: string;
  /** Raw data field (base64url or empty). */
  readonly data: string;
  /** The 16-byte tag. */
  readonly tag: Buffer;
}

export interface MalformedLine {
  readonly kind: 'malformed';
  readonly line: number;
  /** Why the line is not a record, precise enough to fix the file or report the device. */
  readonly reason: string;
  /** The line as text (UTF-8 with replacement characters; cut at the line limit). */
  readonly text: string;
}

export type LogLine = HeaderLine | ParsedRecord | MalformedLine;

export const KEY_INIT_EVENT = 0;
export const MAX_LINE_BYTES = 64 * 1024;
