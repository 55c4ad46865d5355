import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_CODES, UNUSED_CODES } from '../../../src/ecs/catalogue.js';
import { LogFileMapper, mapLogFile, mapLogFileNdjson } from '../../../src/ecs/map-file.js';
import { idFromDigest } from '../../../src/ecs/audit-shape.js';
import { type MapContext, documentLine } from '../../../src/ecs/map.js';
import { RecordFields, splitRecord } from '../../../src/logfile/fast-line.js';
import { LogParser, parseLine, parseLogSync } from '../../../src/logfile/parse.js';
import { SegmentMac } from '../../../src/logfile/segment-mac.js';
import type { LogLine, ParsedRecord } from '../../../src/logfile/types.js';
import type { CheckedRecord, FileVerdict } from '../../../src/logfile/verify.js';
import { LogWriter } from '../../../src/logfile/write.js';
import { decodeBase64 } from '../../../src/shared/base64.js';
import { FOREIGN_SECRET, LOGGER_PUBLIC, LOGGER_SECRET, bytesFor } from '../../helpers/log-gen.js';

const b64 = (bytes: Uint8Array | string): string => Buffer.from(bytes).toString('base64url');
const KID = b64(bytesFor('kid').subarray(0, 16));
const OTHER_KID = b64(bytesFor('other kid').subarray(0, 16));
const SEGMENT_KEY = b64(bytesFor('a segment key'));

/** Data values that hit every decoding (and every decoding failure) of every event code. */
const DATA = [
  '',
  KID,
  b64(Buffer.from([0x35, 0x0b, 0x31, 0x62])),
  b64('logger:get'),
  b64('a"b\\c/d'),
  b64('E42'),
  b64(Buffer.from([0, 1, 2, 0xff])),
  b64(bytesFor('sixty-four').subarray(0, 31)),
];
const SUBJECTS = ['', 'U', 'M', KID, OTHER_KID, SEGMENT_KEY];
/** Pre-RTC times, day boundaries, a plain time, the largest. */
const TIMES = [0, 9999, 10_000, 86_399, 86_400, 0x62310ba5, 0x62318d9f, 0xffffffff];
const CODES = [...EVENT_CODES.keys(), ...UNUSED_CODES, 43, 255, 0xffffffff];

/**
 * Every event code (known, unused and unknown) with every result (KEY_INIT: the segments' own), and every
 * subject and data value along
 * the way, over many key segments (a new one every 17 records, some restarting the seq counter).
 */
function everyPairFile(eol: '\r\n' | '\n' = '\r\n'): string {
  const writer = new LogWriter({ signingKey: LOGGER_SECRET, lineEnding: eol });
  let text = LogWriter.header('Encedo nGINE FW v1.2.2', eol);
  let n = 0;
  let segments = 0;
  for (const event of CODES) {
    for (const result of [0, 1, 2] as const) {
      if (event === 0 && result === 0) continue; // KEY_INIT: only keyInit() writes those
      for (let k = 0; k < 3; k++, n++) {
        if (n % 17 === 0) {
          const restartSeq = segments % 4 === 3;
          text += writer.keyInit(bytesFor(`segment ${segments++}`), TIMES[n % TIMES.length]!, { restartSeq });
        }
        const subject = SUBJECTS[(n + k) % SUBJECTS.length]!;
        const data = DATA[(n * 3 + k) % DATA.length]!;
        text += writer.append({ time: TIMES[(n + k) % TIMES.length]!, event, result, subject, data });
      }
    }
  }
  return text;
}

/** The every-pair file with something irregular every few lines: each kind of problem, and odd line ends. */
function irregularFile(): string {
  const lines = everyPairFile('\n').split('\n').slice(0, -1);
  const foreign = new LogWriter({ signingKey: FOREIGN_SECRET, lineEnding: '' });
  const out: string[] = [lines[5]!]; // a record before any KEY_INIT: no_key; then the header, a second time
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    switch (i % 41) {
      case 3: // tampered tag
        out.push(line.replace(/.$/, (c) => (c === 'A' ? 'Q' : 'A')));
        break;
      case 7: // repeated
        out.push(line, line);
        break;
      case 11: // missing: a gap
        break;
      case 13: // swapped with the next: disorder
        out.push(lines[i + 1] ?? line, line);
        i++;
        break;
      case 17:
        out.push(line, 'GET / HTTP/1.1', `${line}|`, line.toUpperCase(), `${line.slice(0, 8)}é${line.slice(8)}`);
        break;
      case 19: // a foreign segment: its records are not trusted
        out.push(foreign.keyInit(bytesFor(`foreign ${i}`), 0x62310ba5), line);
        break;
      case 23: // a replayed KEY_INIT
        out.push(lines.find((l) => l.includes('|0|0|'))!, line);
        break;
      case 29: // empty lines, a header in the middle, a line too long
        out.push('', line, '# Encedo nGINE FW v9', 'x'.repeat(70_000), '', line);
        break;
      case 31: // CR and CRLF line ends
        out.push(`${line}\r${lines[i + 1] ?? ''}\r`);
        i++;
        break;
      default:
        out.push(line);
    }
  }
  return `${out.join('\n')}\n${lines[8]}`; // no line break at the end
}

const CONTEXTS: Record<string, Omit<MapContext, 'header'>> = {
  plain: {
    device: { serial: '2023b758c209269a' },
    fileId: '62310ba5',
    namespace: 'default',
    created: new Date('2026-01-02T03:04:05.678Z'),
  },
  odd: {
    device: { serial: 'sé"rial\n', tags: [] },
    fileId: '00000000',
    namespace: 'x',
    created: new Date(0),
    isSelfGenerated: () => false,
  },
  everything: {
    device: { serial: null, hostname: 'hém"1', product: 'HEM EPA', name: 'dev\\x', tags: ['a', 'ü"', '😀'] },
    fileId: 'f"ile',
    namespace: 'prod_1',
    created: new Date('1999-12-31T23:59:59.999Z'),
    // Like the collector's: the forwarder's own logins and reads.
    isSelfGenerated: (r: ParsedRecord) =>
      r.subject === 'U' && (r.event === 13 || r.event === 0x14) && r.tag.length === 16,
  },
};

function chunks(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

function run(bytes: Buffer, ctx: Omit<MapContext, 'header'>, fast: boolean, chunkSize: number, key = LOGGER_PUBLIC) {
  const mapper = new LogFileMapper({ loggerKey: key, context: ctx, fast });
  const docs: string[] = [];
  const sink = (line: number, id: string, json: string) => docs.push(`${line} ${id} ${json}`);
  for (const chunk of chunks(bytes, chunkSize)) mapper.push(chunk, sink);
  const verdict = mapper.end(sink);
  return { docs, verdict, fastRecords: mapper.fastRecords };
}

/** What the collector sees: mapLogFile's documents and checked records. */
async function collected(bytes: Buffer, ctx: Omit<MapContext, 'header'>, key: Uint8Array, fast: boolean) {
  const docs: string[] = [];
  const checked: CheckedRecord[] = [];
  const gen = mapLogFile(bytes, { loggerKey: key, context: ctx, fast });
  for (;;) {
    const next = await gen.next();
    if (next.done) return { docs, checked, verdict: next.value };
    for (const m of next.value) {
      docs.push(`${m.checked.record.line} ${documentLine(m.doc)}`);
      checked.push(m.checked);
    }
  }
}

async function ndjson(bytes: Buffer, ctx: Omit<MapContext, 'header'>, fast: boolean, key = LOGGER_PUBLIC) {
  const parts: Buffer[] = [];
  const gen = mapLogFileNdjson(bytes, { loggerKey: key, context: ctx, fast });
  for (;;) {
    const next = await gen.next();
    if (next.done) return { text: Buffer.concat(parts).toString('utf8'), verdict: next.value };
    parts.push(next.value);
  }
}

/** Runs both paths (and today's mapLogFile) and expects the same documents, ids and verdict. */
async function expectSameOutput(bytes: Buffer, ctx: Omit<MapContext, 'header'>, key = LOGGER_PUBLIC) {
  const general = run(bytes, ctx, false, 32 * 1024, key);
  expect(general.fastRecords).toBe(0);
  for (const size of [32 * 1024, 1, 7, 100, 4096, bytes.length]) {
    const fast = run(bytes, ctx, true, size, key);
    expect(fast.docs.length).toBe(general.docs.length);
    for (let i = 0; i < fast.docs.length; i++) expect(fast.docs[i], `chunk size ${size}`).toBe(general.docs[i]);
    expect(fast.verdict).toEqual(general.verdict);
  }
  const asLines = general.docs.map((d) => {
    const [line, id, ...json] = d.split(' ');
    const index = `logs-encedo_hem.audit-${ctx.namespace}`;
    return `${line} ${documentLine({ _id: id!, _index: index, json: json.join(' '), _source: {} })}`;
  });
  const [slow, quick] = [await collected(bytes, ctx, key, false), await collected(bytes, ctx, key, true)];
  expect(slow.docs).toEqual(asLines);
  expect(quick.docs).toEqual(asLines);
  expect(quick.checked).toEqual(slow.checked);
  expect(slow.verdict).toEqual(general.verdict);
  expect(quick.verdict).toEqual(general.verdict);
  const lines = asLines.map((l) => `${l.slice(l.indexOf(' ') + 1)}\n`).join('');
  const fastNdjson = await ndjson(bytes, ctx, true, key);
  expect(fastNdjson.text).toBe(lines);
  expect(fastNdjson.verdict).toEqual(general.verdict);
  expect((await ndjson(bytes, ctx, false, key)).text).toBe(lines);
  return { verdict: general.verdict as FileVerdict, fastRecords: run(bytes, ctx, true, 32 * 1024, key).fastRecords };
}

describe('fast path and general path give the same output, byte for byte', () => {
  it('the vendor vectors', async () => {
    const bytes = readFileSync(new URL('../../vectors/docs-log-62310ba5.log', import.meta.url));
    const key = JSON.parse(readFileSync(new URL('../../vectors/docs-logger-key.json', import.meta.url), 'utf8'));
    for (const ctx of Object.values(CONTEXTS)) {
      const { verdict, fastRecords } = await expectSameOutput(bytes, ctx, decodeBase64(key.key)!);
      expect(verdict.lines).toEqual({ total: 7, verified: 7 });
      expect(fastRecords).toBe(6); // all but the KEY_INIT
    }
  });

  it.each(Object.keys(CONTEXTS))('every event/result pair over many key segments (%s context)', async (name) => {
    const text = everyPairFile();
    const { verdict, fastRecords } = await expectSameOutput(Buffer.from(text, 'latin1'), CONTEXTS[name]!);
    expect(verdict.valid).toBe(true);
    expect(verdict.segmentCount).toBeGreaterThan(20);
    expect(fastRecords).toBe(verdict.lines.total - verdict.segmentCount);
  });

  it.each(Object.keys(CONTEXTS))('a file with every kind of irregularity (%s context)', async (name) => {
    const { verdict, fastRecords } = await expectSameOutput(Buffer.from(irregularFile(), 'utf8'), CONTEXTS[name]!);
    for (const kind of Object.keys(verdict.problemCounts) as (keyof FileVerdict['problemCounts'])[])
      expect(verdict.problemCounts[kind], kind).toBeGreaterThan(0);
    expect(fastRecords).toBeGreaterThan(verdict.lines.total / 3);
    expect(fastRecords).toBeLessThan(verdict.lines.verified);
  });

  it('arbitrary edits of a valid file', async () => {
    const lines = everyPairFile('\n').split('\n').slice(0, 60);
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('drop' as const), at: fc.nat(59) }),
      fc.record({ kind: fc.constant('dup' as const), at: fc.nat(59) }),
      fc.record({
        kind: fc.constant('byte' as const),
        at: fc.nat(59),
        pos: fc.nat(200),
        c: fc.integer({ min: 0, max: 255 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { maxLength: 6 }), fc.constantFrom('\n', '\r\n', '\r'), async (edits, eol) => {
        const out = [...lines];
        for (const e of edits) {
          const at = e.at % out.length;
          if (e.kind === 'drop') out.splice(at, 1);
          else if (e.kind === 'dup') out.splice(at, 0, out[at]!);
          else {
            const l = out[at]!;
            const pos = e.pos % (l.length + 1);
            out[at] = l.slice(0, pos) + String.fromCharCode(e.c) + l.slice(pos + 1);
          }
        }
        const bytes = Buffer.from(out.join(eol), 'latin1');
        const general = run(bytes, CONTEXTS.plain!, false, 4096);
        const fast = run(bytes, CONTEXTS.plain!, true, 97);
        expect(fast.docs).toEqual(general.docs);
        expect(fast.verdict).toEqual(general.verdict);
      }),
      { numRuns: 150 },
    );
  });
});

describe('the fast path stages', () => {
  it('SegmentMac is HMAC-SHA256 cut to 16 bytes, as createHmac computes it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.string({ unit: 'binary-ascii', maxLength: 300 }),
        fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 5 }),
        fc.nat(),
        (key, ascii, latin1, cut) => {
          const text = ascii + latin1;
          const macLength = cut % (text.length + 1);
          const mac = new SegmentMac(key);
          const expected = createHmac('sha256', key)
            .update(text.slice(0, macLength), 'latin1')
            .digest()
            .subarray(0, 16)
            .toString('base64url');
          expect(mac.tag(text, macLength)).toBe(expected);
          expect(mac.matches(text.slice(0, macLength) + expected, macLength)).toBe(true);
        },
      ),
    );
    const key = bytesFor('long');
    const long = 'x'.repeat(70_000);
    expect(new SegmentMac(key).tag(long, 69_000)).toBe(
      createHmac('sha256', key).update(long.slice(0, 69_000)).digest().subarray(0, 16).toString('base64url'),
    );
  });

  it('SegmentMac instances share their scratch space safely', () => {
    const [a, b] = [new SegmentMac(bytesFor('a')), new SegmentMac(bytesFor('b'))];
    const hmac = (k: string, t: string) =>
      createHmac('sha256', bytesFor(k)).update(t, 'latin1').digest().subarray(0, 16).toString('base64url');
    for (const t of ['x', 'yy', 'x']) {
      expect(a.tag(t, t.length)).toBe(hmac('a', t));
      expect(b.tag(t, t.length)).toBe(hmac('b', t));
    }
  });

  it('idFromDigest is the first 20 bytes of the digest, in base64url', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (material) => {
        const expected = createHash('sha256').update(material).digest().subarray(0, 20).toString('base64url');
        expect(idFromDigest(createHash('sha256').update(material).digest('base64url'))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('splitRecord accepts only records, with the values parseLine gives them', () => {
    const valid = everyPairFile('\n').split('\n').slice(1, -1);
    const f = new RecordFields();
    const same = (text: string) => {
      const padded = `xx${text}yy`;
      if (!splitRecord(padded, 2, padded.length - 2, f)) return false;
      const r = parseLine(text, 1) as ParsedRecord;
      expect(r.kind).toBe('record');
      expect({ seq: f.seq, time: f.time, event: f.event, result: f.result }).toEqual({
        seq: r.seq,
        time: r.time,
        event: r.event,
        result: r.result,
      });
      expect(padded.slice(f.subjectStart, f.dataStart - 1)).toBe(r.subject);
      expect(padded.slice(f.dataStart, f.tagStart - 1)).toBe(r.data);
      expect(f.tagStart - 2).toBe(r.macLength);
      return true;
    };
    for (const line of valid) expect(same(line), line).toBe(true);
    const alphabet = fc.constantFrom(...'0123456789abcdefAFUMzZ-_|=+/# \t\r\né\u0000'.split(''));
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.array(fc.tuple(fc.nat(), alphabet), { maxLength: 4 }),
        (line, edits) => {
          let text = line;
          for (const [pos, c] of edits) {
            const at = pos % (text.length + 1);
            text = text.slice(0, at) + c + text.slice(at + (pos % 2));
          }
          same(text);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('LogParser with a fast path splits lines exactly as without', () => {
    const byte = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...'0123456789abcdef|U'.split('').map((c) => c.charCodeAt(0))) },
      fc.constantFrom(0x0a, 0x0d, 0x23, 0xe9, 0x00),
    );
    const valid = everyPairFile('\n').slice(0, 3000);
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.array(byte, { maxLength: 40 }), fc.constant([...Buffer.from(valid, 'latin1')]))),
        fc.integer({ min: 1, max: 500 }),
        fc.boolean(),
        (pieces, size, take) => {
          const bytes = Buffer.from(pieces.flat());
          const expected = parseLogSync(bytes);
          const parser = new LogParser();
          const got = new Map<number, LogLine | string>();
          const f = new RecordFields();
          const fast = (text: string, start: number, end: number, line: number) => {
            if (!take || !splitRecord(text, start, end, f)) return false;
            got.set(line, text.slice(start, end));
            return true;
          };
          const emit = (l: LogLine) => void got.set(l.line, l);
          for (const chunk of chunks(bytes, size)) parser.push(chunk, emit, fast);
          parser.end(emit);
          expect(got.size).toBe(expected.length);
          for (const l of expected) {
            const g = got.get(l.line);
            if (typeof g === 'string') expect(l).toMatchObject({ kind: 'record', text: g });
            else expect(g).toEqual(l);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
