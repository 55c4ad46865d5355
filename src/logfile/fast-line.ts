import type { ResultCode } from './types.js';

/**
 * Where the fields of a regular record line are, and its numbers. One instance is refilled for every line
 * (no object per record); indices are into the text passed to `splitRecord`.
 */
export class RecordFields {
  seq = 0;
  time = 0;
  event = 0;
  result: ResultCode = 0;
  /** The subject runs from here to `dataStart - 1` (the `|`). */
  subjectStart = 0;
  /** The data runs from here to `tagStart - 1`. */
  dataStart = 0;
  /** The 22-character tag runs from here to the end of the line. */
  tagStart = 0;
}

const PIPE = 0x7c;
const NOT = 0xff;
/** Per character code below 128: its hex digit value (lower case only), or NOT. */
const HEX_VALUE = new Uint8Array(128).fill(NOT);
/** Per character code below 128: its base64url value, or NOT. */
const B64_VALUE = new Uint8Array(128).fill(NOT);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
for (let i = 0; i < 64; i++)
  B64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i;

let hexValue = 0;

/** Index of the `|` after a hex field of 1 to `maxDigits` digits starting at `i` (its value in hexValue), or -1. */
function hexField(text: string, i: number, end: number, maxDigits: number): number {
  const limit = Math.min(end, i + maxDigits);
  let value = 0;
  let j = i;
  for (; j < limit; j++) {
    const c = text.charCodeAt(j);
    const d = c < 128 ? HEX_VALUE[c]! : NOT;
    if (d === NOT) break;
    value = value * 16 + d; // at most 13 digits: 52 bits, exact in a double
  }
  if (j === i || j >= end || text.charCodeAt(j) !== PIPE) return -1;
  hexValue = value;
  return j;
}

/**
 * Index just after the last base64url character from `i` (at most `end`), or -1 if that spelling is not
 * canonical (RFC 4648 §5 without padding: no length of 4n+1, no stray bits in the last character).
 */
function base64UrlEnd(text: string, i: number, end: number): number {
  let j = i;
  let last = 0;
  for (; j < end; j++) {
    const c = text.charCodeAt(j);
    const v = c < 128 ? B64_VALUE[c]! : NOT;
    if (v === NOT) break;
    last = v;
  }
  const rem = (j - i) % 4;
  if (rem === 1 || (rem === 2 && (last & 0x0f) !== 0) || (rem === 3 && (last & 0x03) !== 0)) return -1;
  return j;
}

/**
 * Validates and splits the record line `text[start, end)` in one pass, filling `f`; false for anything that
 * is not a plain record line (a header, a malformed line, anything unusual), which then goes to the
 * general parser (`parseLine`) instead.
 *
 * Why this exists beside `parseLine`: that one splits the line into seven strings, runs a regular
 * expression per hex field and decodes the tag into a Buffer, for every record. Here each character is
 * looked at once, through two 128-entry tables, and no string is made: the caller slices only the fields
 * it needs. It accepts a subset of what `parseLine` accepts, with the same values (the unit tests hold the
 * two paths' output equal byte for byte), so a line it turns down loses nothing.
 */
export function splitRecord(text: string, start: number, end: number, f: RecordFields): boolean {
  let i = hexField(text, start, end, 13);
  if (i < 0) return false;
  f.seq = hexValue;
  i = hexField(text, i + 1, end, 8);
  if (i < 0) return false;
  f.time = hexValue;
  i = hexField(text, i + 1, end, 8);
  if (i < 0) return false;
  f.event = hexValue;
  const result = text.charCodeAt(i + 1) - 0x30;
  if (i + 2 >= end || result < 0 || result > 2 || text.charCodeAt(i + 2) !== PIPE) return false;
  f.result = result as ResultCode;
  // Subject: '', 'U', 'M' or base64url (a single character is never base64url).
  const subjectStart = i + 3;
  i = base64UrlEnd(text, subjectStart, end);
  if (i === -1) {
    if (subjectStart + 1 >= end || text.charCodeAt(subjectStart + 1) !== PIPE) return false;
    const c = text.charCodeAt(subjectStart);
    if (c !== 0x55 /* U */ && c !== 0x4d /* M */) return false;
    i = subjectStart + 1;
  }
  if (i >= end || text.charCodeAt(i) !== PIPE) return false;
  f.subjectStart = subjectStart;
  f.dataStart = i + 1;
  i = base64UrlEnd(text, i + 1, end);
  if (i === -1 || i >= end || text.charCodeAt(i) !== PIPE) return false;
  // The tag: exactly 16 bytes, so 22 characters (base64UrlEnd has checked the last one's spare bits).
  f.tagStart = i + 1;
  return end - f.tagStart === 22 && base64UrlEnd(text, f.tagStart, end) === end;
}
