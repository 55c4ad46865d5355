import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeviceClient, type DeviceClientOptions } from '../../src/device/client.js';
import {
  EJWT_HEADER,
  derivePassphraseKey,
  jwtSignatureValid,
  signJwt,
  x25519PublicKey,
  x25519SharedSecret,
} from '../../src/device/ejwt.js';
import { DeviceError } from '../../src/device/errors.js';
import { parseLogSync } from '../../src/logfile/parse.js';
import { verifyLines } from '../../src/logfile/verify.js';
import { HemSimulator, type SimulatorOptions } from '../../src/simulator/server.js';
import type { Log } from '../../src/shared/log.js';
import { VendorStyleClient } from '../helpers/vendor-client.js';

const PASS = 'correct horse battery staple';
const MASTER = 'master recovery words';
const vector = JSON.parse(readFileSync(new URL('../vectors/ejwt-login.json', import.meta.url), 'utf8')) as Record<
  string,
  string
> & { claims: object; header: object };

const started: HemSimulator[] = [];
async function simulator(options: SimulatorOptions = {}): Promise<HemSimulator> {
  const sim = await HemSimulator.start({
    passphrase: PASS,
    masterPassphrase: MASTER,
    authDelayMs: 5,
    control: true,
    ...options,
  });
  started.push(sim);
  return sim;
}
const clients: DeviceClient[] = [];
function client(sim: HemSimulator, options: Partial<DeviceClientOptions> = {}): DeviceClient {
  const c = new DeviceClient({
    url: sim.url,
    passphrase: () => PASS,
    tls: { fingerprint: sim.certSha256! },
    retryBaseMs: 10,
    responseTimeoutMs: 2000,
    ...options,
  });
  clients.push(c);
  return c;
}
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(started.map((s) => s.close()));
});

function recordingLog(): Log & { lines: { level: string; msg: string; fields: object }[] } {
  const lines: { level: string; msg: string; fields: object }[] = [];
  const at = (level: string) => (fields: object, msg: string) => void lines.push({ level, msg, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function rejection(p: Promise<unknown>): Promise<DeviceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DeviceError);
    return err as DeviceError;
  }
  throw new Error('expected a DeviceError');
}

describe('passphrase login vector (spec 3.7)', () => {
  it('the client side reproduces iss, the shared secret and the eJWT', async () => {
    const seed = await derivePassphraseKey(vector.passphrase!, vector.eid!);
    expect(seed.toString('hex')).toBe(vector.seed_hex);
    expect(x25519PublicKey(seed).toString('base64')).toBe(vector.iss);
    const secret = x25519SharedSecret(seed, Buffer.from(vector.spk!, 'base64'));
    expect(secret.toString('hex')).toBe(vector.shared_secret_hex);
    expect(EJWT_HEADER).toEqual(vector.header);
    expect(signJwt(EJWT_HEADER, vector.claims, secret)).toBe(vector.ejwt);
  });

  it('the device side accepts the eJWT with its session key, and refuses a changed one', () => {
    const deviceSecret = x25519SharedSecret(
      Buffer.from(vector.device_session_x25519_private_hex!, 'hex'),
      Buffer.from(vector.iss!, 'base64'),
    );
    expect(jwtSignatureValid(vector.ejwt!, deviceSecret)).toBe(true);
    expect(jwtSignatureValid(vector.ejwt!.replace('.eyJqdGkiOiIx', '.eyJqdGkiOiIy'), deviceSecret)).toBe(false);
  });
});

describe('client and simulator over HTTPS with a pinned certificate', () => {
  let sim: HemSimulator;
  beforeAll(async () => {
    sim = await simulator({ boots: 140, eventsPerBoot: 12 });
  });

  const verifiesEveryFileTitle =
    'logs in, describes the device, checks the logger key, lists every page and verifies ' + 'every closed file';
  it(verifiesEveryFileTitle, async () => {
    const log = recordingLog();
    const c = client(sim, { log });
    const description = await c.describe();
    expect(description).toMatchObject({
      serial: sim.device.serial,
      hostname: sim.device.hostname,
      product: 'HEM PPA',
      firmware: 'Encedo nGINE FW v1.2.2',
    });
    const key = await c.loggerKey();
    expect(key.nonceSignatureValid).toBe(true);
    expect(key.key.equals(description.loggerKey!)).toBe(true);
    const { ids } = await c.listLogFiles();
    expect(ids).toHaveLength(141); // more than one page of 128
    expect(ids).toEqual([...ids].sort());
    expect(ids.at(-1)).toBe(sim.device.currentFileId);
    for (const id of ids.slice(0, -1)) {
      const { verdict } = verifyLines(parseLogSync(await c.fetchLogFile(id)), key.key);
      expect(verdict.valid, id).toBe(true);
      expect(verdict.lines.total).toBe(1 + 3 + 12 + 1);
    }
    const locked = await rejection(c.fetchLogFile(sim.device.currentFileId));
    expect(locked.code).toBe('locked');
    expect(log.lines.filter((l) => /matches the pinned fingerprint/.test(l.msg))).toHaveLength(1);
  });

  it('the device audits our own activity in the current file', async () => {
    const c = client(sim);
    await c.listLogFiles();
    const current = sim.device.currentFileId;
    const text = sim.device.fileText(current)!;
    const events = verifyLines(parseLogSync(Buffer.from(text)), sim.device.loggerPublicKey).records.map((r) =>
      r.record.kind === 'record' ? r.record.event : -1,
    );
    expect(events).toContain(13); // AUTH_SUCCESS_INTERNAL
    expect(events).toContain(9); // LOGGER_LIST_LOG
    expect(events).toContain(11); // LOGGER_READ_LOG
  });
});

describe('prepared login (the run command prepares it while the output is set up)', () => {
  const events = (sim: HemSimulator) =>
    verifyLines(
      parseLogSync(Buffer.from(sim.device.fileText(sim.device.currentFileId)!)),
      sim.device.loggerPublicKey,
    ).records.map((r) => (r.record.kind === 'record' ? r.record.event : -1));

  /** Requests a client makes to list a fresh device's files when nothing was prepared. */
  let unprepared = 0;
  beforeAll(async () => {
    const sim = await simulator({ boots: 1 });
    await client(sim).listLogFiles();
    unprepared = sim.stats().requests;
  });

  async function prepared(): Promise<{ sim: HemSimulator; c: DeviceClient }> {
    const sim = await simulator({ boots: 1 });
    const c = client(sim);
    await c.prepareLogin();
    return { sim, c };
  }

  it('leaves no trace in the audit log; the login answers its challenge (no request more than without)', async () => {
    const { sim, c } = await prepared();
    expect(sim.stats()).toMatchObject({ requests: 1, sessions: 0 });
    expect(events(sim)).not.toContain(13); // no AUTH_SUCCESS_INTERNAL before the login itself
    await c.listLogFiles();
    expect(sim.stats()).toMatchObject({ requests: unprepared, sessions: 1 });
    expect(events(sim)).toContain(13);
  });

  it('a prepared challenge that has gone stale is not answered: the login fetches a fresh one', async () => {
    const { sim, c } = await prepared();
    const realNow = Date.now;
    const later = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 31_000);
    try {
      await c.listLogFiles();
    } finally {
      later.mockRestore();
    }
    expect(sim.stats()).toMatchObject({ requests: unprepared + 1, sessions: 1 });
  });

  it('a prepare that fails is silent; the login meets the failure again and reports it', async () => {
    const sim = await simulator({ boots: 1 });
    sim.device.rtcSet = false;
    const c = client(sim);
    await expect(c.prepareLogin()).resolves.toBeUndefined();
    const err = await rejection(c.listLogFiles());
    expect(err.code).toBe('clock_not_set');
  });
});

describe('failure paths', () => {
  it('a wrong passphrase is refused (401), and answers slow down after three failures', async () => {
    const sim = await simulator({ boots: 1, authDelayMs: 100 });
    const c = client(sim, { passphrase: () => 'hunter2-secret' });
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      const err = await rejection(c.describe());
      times.push(Date.now() - t0);
      expect(err.code).toBe('unauthorized');
      expect(err.message).toMatch(/wrong passphrase/);
      expect(err.message).not.toContain('hunter2');
    }
    expect(Math.min(...times.slice(0, 3))).toBeGreaterThanOrEqual(95);
    expect(times[3]).toBeGreaterThanOrEqual(295);
  });

  it('an expired bearer is renewed once, transparently', async () => {
    let now = 1_800_000_000;
    const sim = await simulator({ boots: 2, clock: () => now });
    const c = client(sim, { tokenLifetimeS: 600 });
    await c.listLogFiles();
    now += 3600; // the token is now past its exp on the device clock
    expect((await c.listLogFiles()).ids).toHaveLength(3);
  });

  it('a reboot mid-run invalidates the token; the client logs in again and sees the closed file', async () => {
    const sim = await simulator({ boots: 2 });
    const c = client(sim);
    const before = (await c.listLogFiles()).ids;
    const closing = sim.device.currentFileId;
    sim.device.reboot();
    const after = (await c.listLogFiles()).ids;
    expect(after).toEqual([...before, sim.device.currentFileId]);
    const key = (await c.loggerKey()).key;
    expect(verifyLines(parseLogSync(await c.fetchLogFile(closing)), key).verdict.valid).toBe(true);
  });

  it('a token with the wrong scope gets 403, and the device audits FAILED_SCOPE_CHECK', async () => {
    const sim = await simulator({ boots: 1 });
    const c = client(sim, { scope: 'keymgmt:list' });
    const err = await rejection(c.loggerKey());
    expect(err).toMatchObject({ code: 'forbidden', status: 403 });
    const file = sim.device.currentFileId;
    sim.device.reboot();
    const text = await client(sim).fetchLogFile(file);
    const { records, verdict } = verifyLines(parseLogSync(text), sim.device.loggerPublicKey);
    expect(verdict.valid).toBe(true);
    const fsc = records.find((r) => r.record.kind === 'record' && r.record.event === 12);
    expect(fsc?.record.kind === 'record' && Buffer.from(fsc.record.data, 'base64url').toString()).toBe('logger:get');
  });

  it('403 at login means the device clock is not set, and says so', async () => {
    const sim = await simulator({ boots: 1 });
    sim.device.rtcSet = false;
    const err = await rejection(client(sim).listLogFiles());
    expect(err.code).toBe('clock_not_set');
    expect(err.message).toMatch(/clock is not set/);
  });

  it('409 in a fault state names the cause', async () => {
    const sim = await simulator({ boots: 1 });
    sim.device.faultState = 0x02;
    const err = await rejection(client(sim).listLogFiles());
    expect(err.code).toBe('fault');
    expect(err.message).toMatch(/fault state/);
  });

  it('a hung device times out; with a retry left, the next attempt succeeds', async () => {
    const sim = await simulator({ boots: 1 });
    sim.faults.hang = 1;
    const err = await rejection(client(sim, { responseTimeoutMs: 300, retries: 0 }).version());
    expect(err.code).toBe('timeout');
    sim.faults.hang = 1;
    await expect(client(sim, { responseTimeoutMs: 300, retries: 1 }).version()).resolves.toMatchObject({
      fwv: 'Encedo nGINE FW v1.2.2',
    });
  });

  it('a connection dropped mid-body is retried; without retries it is a connection error', async () => {
    const sim = await simulator({ boots: 2 });
    const id = sim.device.fileIds()[0]!;
    sim.faults.drop = 1;
    const bytes = await client(sim, { retries: 2 }).fetchLogFile(id);
    expect(bytes.toString('latin1')).toBe(sim.device.fileText(id));
    sim.faults.drop = 1;
    const err = await rejection(client(sim, { retries: 0 }).fetchLogFile(id));
    expect(err.code).toBe('connection');
  });

  it('5xx answers are retried with backoff, 4xx never', async () => {
    const sim = await simulator({ boots: 1 });
    sim.faults.error = 2;
    sim.faults.errorStatus = 503;
    await expect(client(sim, { retries: 3 }).version()).resolves.toBeDefined();
    expect(sim.faults.error).toBe(0);
    sim.faults.error = 2;
    sim.faults.errorStatus = 404;
    await rejection(client(sim, { retries: 3 }).version());
    expect(sim.faults.error).toBe(1); // one 404 answered, not retried
  });

  it('a wrong pinned fingerprint is refused and not retried', async () => {
    const sim = await simulator({ boots: 1 });
    const err = await rejection(client(sim, { tls: { fingerprint: 'ab'.repeat(32) } }).version());
    expect(err.code).toBe('tls');
    expect(err.message).toMatch(/does not match the pinned fingerprint/);
  });

  it('without a pin or CA the self-signed certificate is refused; insecure accepts it with a warning', async () => {
    const sim = await simulator({ boots: 1 });
    const err = await rejection(client(sim, { tls: {} }).version());
    expect(err.code).toBe('tls');
    const log = recordingLog();
    await expect(client(sim, { tls: { insecure: true }, log }).version()).resolves.toBeDefined();
    expect(log.lines.some((l) => l.level === 'warn' && /TLS verification is OFF/.test(l.msg))).toBe(true);
  });

  it('EPA devices have no log files: listing is not_found', async () => {
    const sim = await simulator({ boots: 1, epa: true });
    const c = client(sim);
    expect((await c.describe()).product).toBe('HEM EPA');
    expect((await rejection(c.listLogFiles())).code).toBe('not_found');
  });

  it('the master passphrase logs in as M', async () => {
    const sim = await simulator({ boots: 1 });
    await client(sim, { passphrase: () => MASTER }).listLogFiles();
    expect(sim.device.fileText(sim.device.currentFileId)).toMatch(/\|d\|0\|M\|/);
  });
});

describe('the simulator speaks the documented API', () => {
  it('a vendor-style client (alg,typ,ecdh header, \\/ escapes, iat = now - 5) logs in and reads', async () => {
    const sim = await simulator({ boots: 2 });
    const vendor = new VendorStyleClient(sim.url, PASS);
    expect((await vendor.login()).status).toBe(200);
    const list = JSON.parse((await vendor.call('GET', '/api/logger/list/0')).body.toString()) as {
      total: number;
      id: string[];
    };
    expect(list.id).toEqual(sim.device.fileIds());
    expect(list.total).toBeGreaterThan(list.id.length); // total counts every directory entry
    expect((await vendor.call('GET', `/api/logger/${list.id[0]}`)).status).toBe(200);
  });

  it('refuses replayed nonces, bad signatures, tampered tokens, chunked bodies and an Origin header', async () => {
    const sim = await simulator({ boots: 1 });
    const vendor = new VendorStyleClient(sim.url, PASS);
    const { status, sent } = await vendor.login();
    expect(status).toBe(200);
    expect((await vendor.call('POST', '/api/auth/token', sent)).status).toBe(401); // the nonce is single-use
    expect((await new VendorStyleClient(sim.url, 'not the passphrase').login()).status).toBe(401);
    expect((await vendor.call('POST', '/api/auth/token', sent, { 'transfer-encoding': 'chunked' })).status).toBe(411);
    expect((await vendor.call('POST', '/api/auth/token', '{"auth":"a.b.c"}')).status).toBe(400);
    expect((await vendor.call('GET', '/api/logger/key', undefined, { origin: 'https://evil.example' })).status).toBe(
      412,
    );
    expect((await vendor.call('GET', '/api/logger/key')).status).toBe(200);
    vendor.token = `${vendor.token!.slice(0, -2)}AA`;
    expect((await vendor.call('GET', '/api/logger/key')).status).toBe(401);
    vendor.token = null;
    expect((await vendor.call('GET', '/api/logger/key')).status).toBe(401);
  });
});

describe('simulator fault injection', () => {
  it.each([
    ['edit', 'mac_mismatch'],
    ['drop', 'seq_gap'],
    ['truncate', 'malformed'],
  ] as const)('tamper %s makes the file fail with %s', async (kind, problem) => {
    const sim = await simulator({ boots: 2, eventsPerBoot: 20 });
    const id = sim.device.fileIds()[0]!;
    sim.device.tamper(id, kind);
    const { verdict } = verifyLines(parseLogSync(await client(sim).fetchLogFile(id)), sim.device.loggerPublicKey);
    expect(verdict.valid).toBe(false);
    expect(verdict.problems.map((p) => p.kind)).toContain(problem);
  });

  it('a deleted file vanishes from the listing; a replaced logger key no longer verifies older files', async () => {
    const sim = await simulator({ boots: 3 });
    const [first, second] = sim.device.fileIds();
    sim.device.tamper(first!, 'delete');
    const c = client(sim);
    expect((await c.listLogFiles()).ids).not.toContain(first);
    const oldKey = sim.device.loggerPublicKey;
    sim.device.replaceLoggerKey();
    const newKey = (await c.loggerKey()).key;
    expect(newKey.equals(oldKey)).toBe(false);
    expect(
      verifyLines(parseLogSync(await c.fetchLogFile(second!)), newKey).verdict.problemCounts.signature_invalid,
    ).toBe(1);
  });

  it('the same seed gives the same device and history', async () => {
    const a = await simulator({ boots: 2, seed: 7 });
    const b = await simulator({ boots: 2, seed: 7 });
    expect(a.device.serial).toBe(b.device.serial);
    expect(a.device.loggerPublicKey.equals(b.device.loggerPublicKey)).toBe(true);
    const closed = a.device.fileIds().slice(0, 2);
    expect(closed).toEqual(b.device.fileIds().slice(0, 2));
    for (const id of closed) expect(a.device.fileText(id)).toBe(b.device.fileText(id));
  });
});
