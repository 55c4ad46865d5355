/**
 * The reference pass of `npm run bench:core -- --cli`: what a lean single-purpose program does with the
 * same bytes, in one pass. It splits the lines, checks each record's tag (HMAC-SHA256 under the key of
 * the last KEY_INIT record, first 16 bytes) and writes a small JSON object per record to stdout, one
 * write per chunk. No signature check, no field validation, no ECS document: a floor for the work
 * `hem-forwarder parse` does, not a rival implementation.
 *
 *   node dist/bench/core-reference.js FILE > /dev/null
 *
 * Prints `records verified` to stderr and exits 1 if any tag did not match.
 */
import { createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { once } from 'node:events';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: core-reference FILE');

let key: Buffer | null = null;
let records = 0;
let verified = 0;
let carry = '';

function record(line: string): string {
  const f = line.split('|');
  if (f.length !== 7) return '';
  if (f[2] === '0' && f[3] === '0') key = Buffer.from(f[4]!, 'base64url');
  records++;
  const tag = f[6]!;
  const mac =
    key &&
    createHmac('sha256', key)
      .update(line.slice(0, line.length - tag.length), 'latin1')
      .digest();
  const ok = mac !== null && mac.subarray(0, 16).toString('base64url') === tag;
  if (ok) verified++;
  const doc = { seq: parseInt(f[0]!, 16), time: parseInt(f[1]!, 16), event: parseInt(f[2]!, 16), ok };
  return `${JSON.stringify(doc)}\n`;
}

for await (const chunk of createReadStream(file, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
  const text = carry + chunk.toString('latin1');
  let out = '';
  let start = 0;
  for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
    const line = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
    if (line.charCodeAt(0) !== 35 /* # */) out += record(line);
    start = end + 1;
  }
  carry = text.slice(start);
  if (out !== '' && !process.stdout.write(out)) await once(process.stdout, 'drain');
}
if (carry !== '') process.stdout.write(record(carry));
process.stderr.write(`${records} records, ${verified} verified\n`);
process.exitCode = verified === records ? 0 : 1;
