import * as crypto from 'node:crypto';
import * as noble from '@noble/ed25519';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { mapLogFile } from '../../../src/ecs/map-file.js';
import type { MapContext } from '../../../src/ecs/map.js';
import { parseLogSync } from '../../../src/logfile/parse.js';
import { MAX_SEGMENTS_LISTED, verifyLines } from '../../../src/logfile/verify.js';
import { LogWriter } from '../../../src/logfile/write.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from '../../../src/shared/ed25519.js';
import { LOGGER_PUBLIC, LOGGER_SECRET, bytesFor } from '../../helpers/log-gen.js';

// Count calls of both Ed25519 implementations: the verdicts below must come from node:crypto, once per key.
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, verify: vi.fn(real.verify) };
});
vi.mock('@noble/ed25519', async (importOriginal) => {
  const real = await importOriginal<typeof import('@noble/ed25519')>();
  return { ...real, verify: vi.fn(real.verify), sign: vi.fn(real.sign), getPublicKey: vi.fn(real.getPublicKey) };
});

const CTX: Omit<MapContext, 'header'> = {
  device: { serial: '2023b758c209269a' },
  fileId: '62310ba5',
  namespace: 'default',
  created: new Date('2026-01-02T03:04:05.000Z'),
};

function verify(text: string) {
  return verifyLines(parseLogSync(Buffer.from(text, 'latin1')), LOGGER_PUBLIC);
}

/** Header, one KEY_INIT line and `copies` byte-identical copies of it, then two ordinary records. */
function keyInitFlood(copies: number): string {
  const writer = new LogWriter({ signingKey: LOGGER_SECRET, lineEnding: '\n' });
  const keyInit = writer.keyInit(bytesFor('flood'), 0x62310ba5);
  const startup = writer.append({ time: 0x62310ba6, event: 1, result: 0 });
  const selfTest = writer.append({ time: 0x62310ba6, event: 7, result: 0 });
  return LogWriter.header('Encedo nGINE FW v1.2.2', '\n') + keyInit.repeat(1 + copies) + startup + selfTest;
}

const nativeVerify = vi.mocked(crypto.verify);

function observerVersion(source: object): unknown {
  return (source as { observer?: { version?: unknown } }).observer?.version;
}

beforeEach(() => {
  vi.mocked(noble.verify).mockClear();
  vi.mocked(noble.sign).mockClear();
  nativeVerify.mockClear();
});

describe('Ed25519 through node:crypto', () => {
  it('signs and derives keys exactly as noble does, and verifies natively', () => {
    const message = bytesFor('message');
    const signature = ed25519Sign(message, LOGGER_SECRET);
    expect(Buffer.from(ed25519PublicKey(LOGGER_SECRET))).toEqual(Buffer.from(noble.getPublicKey(LOGGER_SECRET)));
    expect(Buffer.from(signature)).toEqual(Buffer.from(noble.sign(message, LOGGER_SECRET)));
    vi.mocked(noble.verify).mockClear();
    expect(ed25519Verify(signature, message, LOGGER_PUBLIC)).toBe(true);
    expect(ed25519Verify(signature, bytesFor('other'), LOGGER_PUBLIC)).toBe(false);
    expect(noble.verify).not.toHaveBeenCalled();
  });

  it('a malformed key or signature is simply false', () => {
    const message = bytesFor('message');
    const signature = ed25519Sign(message, LOGGER_SECRET);
    expect(ed25519Verify(signature, message, LOGGER_PUBLIC.subarray(0, 31))).toBe(false);
    expect(ed25519Verify(signature, message, new Uint8Array(32).fill(0xff))).toBe(false); // not a curve point
    expect(ed25519Verify(signature.subarray(0, 63), message, LOGGER_PUBLIC)).toBe(false);
    expect(ed25519Verify(new Uint8Array(64).fill(0xff), message, LOGGER_PUBLIC)).toBe(false); // S >= L
  });

  it('2000 distinct KEY_INIT segments: 2000 native verifies, none by noble', () => {
    const writer = new LogWriter({ signingKey: LOGGER_SECRET, lineEnding: '\n' });
    let text = LogWriter.header('Encedo nGINE FW v1.2.2', '\n');
    for (let i = 0; i < 2000; i++) text += writer.keyInit(bytesFor(`k${i}`), 0x62310ba5 + i);
    nativeVerify.mockClear();
    const { verdict } = verify(text);
    expect(verdict.valid).toBe(true);
    expect(verdict.lines).toEqual({ total: 2000, verified: 2000 });
    expect(nativeVerify).toHaveBeenCalledTimes(2000);
    expect(noble.verify).not.toHaveBeenCalled();
    // The verdict stays bounded: the first segments are listed, all are counted.
    expect(verdict.segmentCount).toBe(2000);
    expect(verdict.segments).toHaveLength(MAX_SEGMENTS_LISTED);
  });
});

describe('repeated KEY_INIT', () => {
  it('identical copies are seq_repeat; the first one and the records after it verify', () => {
    const { verdict, records } = verify(keyInitFlood(3));
    expect(verdict.problems.map((p) => [p.kind, p.line, p.seq])).toEqual([
      ['seq_repeat', 3, 0],
      ['seq_repeat', 4, 0],
      ['seq_repeat', 5, 0],
    ]);
    expect(verdict.problems[0]!.message).toMatch(/repeats line 2/);
    expect(verdict.segments).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'verified', problems: [] });
    expect(records.slice(4).map((r) => [r.status, r.problems.length])).toEqual([
      ['verified', 0],
      ['verified', 0],
    ]);
    expect(verdict.valid).toBe(false);
  });

  it('a flood of 20,000 identical lines costs one signature check', () => {
    const { verdict } = verify(keyInitFlood(19_999));
    expect(verdict.problemCounts.seq_repeat).toBe(19_999);
    expect(verdict.lines).toEqual({ total: 20_002, verified: 20_002 });
    expect(verdict.segments).toHaveLength(1);
    expect(nativeVerify).toHaveBeenCalledTimes(1);
    expect(noble.verify).not.toHaveBeenCalled();
  });

  it('a replayed seq-0 KEY_INIT later in the file does not restart the seq check', () => {
    const lines = keyInitFlood(0).split('\n');
    // header, KEY_INIT, seq 1, seq 2, then the KEY_INIT and seq 1 again
    const { verdict } = verify([...lines.slice(0, 4), lines[1], lines[2], ''].join('\n'));
    expect(verdict.problems.map((p) => [p.kind, p.line, p.seq])).toEqual([
      ['seq_repeat', 5, 0],
      ['seq_disorder', 6, 1],
    ]);
  });

  it('the same K and signature in a new KEY_INIT line is verified once', () => {
    const writer = new LogWriter({ signingKey: LOGGER_SECRET, lineEnding: '\n' });
    let text = LogWriter.header('Encedo nGINE FW v1.2.2', '\n');
    for (let i = 0; i < 5; i++) text += writer.keyInit(bytesFor('same'), 0x62310ba5 + i);
    nativeVerify.mockClear();
    const { verdict } = verify(text);
    expect(verdict.valid).toBe(true);
    expect(verdict.segments).toHaveLength(5);
    expect(nativeVerify).toHaveBeenCalledTimes(1);
  });
});

describe('mapLogFile yields the event loop', () => {
  it('a timer set before a big in-memory file fires before the file is done', async () => {
    const bytes = Buffer.from(keyInitFlood(20_000));
    let timerFired = false;
    let immediateFired = false;
    setTimeout(() => (timerFired = true), 0);
    setImmediate(() => (immediateFired = true));
    const docs = mapLogFile(bytes, { loggerKey: LOGGER_PUBLIC, context: CTX });
    let count = 0;
    let next = await docs.next();
    while (!next.done) {
      count += next.value.length;
      next = await docs.next();
    }
    const firedBeforeEnd = { timerFired, immediateFired };
    expect(firedBeforeEnd).toEqual({ timerFired: true, immediateFired: true });
    expect(count).toBe(20_003);
    expect(next.value.problemCounts.seq_repeat).toBe(20_000);
  });
});

describe('header line', () => {
  it.each([
    ['ESC', '\x1b[31m'],
    ['NUL', '\x00'],
    ['BS', '\x08'],
    ['VT', '\x0b'],
    ['DEL', '\x7f'],
  ])('a header with a control byte (%s) is malformed, not a header', async (_name, control) => {
    const text = keyInitFlood(0).replace('# Encedo nGINE', `# Encedo${control} nGINE`);
    const { verdict, records } = verify(text);
    expect(verdict.header).toBeNull();
    expect(verdict.problemCounts.malformed).toBe(1);
    expect(verdict.problems[0]).toMatchObject({ kind: 'malformed', line: 1 });
    expect(verdict.problems[0]!.message).toMatch(/^(header )?byte 0x(1b|00|08|0b|7f) at column 9 /);
    expect(verdict.valid).toBe(false);
    expect(records.slice(1).every((r) => r.status === 'verified')).toBe(true);

    const docs = mapLogFile(Buffer.from(text, 'latin1'), { loggerKey: LOGGER_PUBLIC, context: CTX });
    const versions: unknown[] = [];
    for await (const batch of docs) for (const { doc } of batch) versions.push(observerVersion(doc._source));
    expect(versions).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('a normal header, TAB included, passes unchanged', async () => {
    const text = keyInitFlood(0).replace('# Encedo nGINE FW v1.2.2', '# Encedo nGINE\tFW v1.2.2');
    const { verdict } = verify(text);
    expect(verdict.valid).toBe(true);
    expect(verdict.header).toBe('Encedo nGINE\tFW v1.2.2');
    const docs = mapLogFile(Buffer.from(text, 'latin1'), { loggerKey: LOGGER_PUBLIC, context: CTX });
    const versions: unknown[] = [];
    for await (const batch of docs) for (const { doc } of batch) versions.push(observerVersion(doc._source));
    expect(versions).toEqual(Array(3).fill('Encedo nGINE\tFW v1.2.2'));
  });
});
