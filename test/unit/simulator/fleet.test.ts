import { afterAll, describe, expect, it } from 'vitest';
import { DeviceClient } from '../../../src/device/client.js';
import { parseLogSync } from '../../../src/logfile/parse.js';
import { verifyLines } from '../../../src/logfile/verify.js';
import { type FleetOptions, type SimulatorFleet, startSimulatorFleet } from '../../../src/simulator/fleet.js';
import { RenderedFiles } from '../../../src/simulator/file-cache.js';
import type { HemSimulator } from '../../../src/simulator/server.js';

const PASS = 'fleet passphrase';
const fleets: SimulatorFleet[] = [];
const clients: DeviceClient[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(fleets.map((f) => f.close()));
});

async function fleet(options: Partial<FleetOptions> = {}): Promise<HemSimulator[]> {
  const f = await startSimulatorFleet({ passphrase: PASS, http: true, authDelayMs: 5, boots: 2, ...options });
  fleets.push(f);
  return [...f.simulators];
}

function client(sim: HemSimulator): DeviceClient {
  const c = new DeviceClient({ url: sim.url, passphrase: () => PASS, retryBaseMs: 10 });
  clients.push(c);
  return c;
}

const firstFile = (sim: HemSimulator) => sim.device.fileText(sim.device.fileIds()[0]!)!;

describe('a simulator fleet', () => {
  it('serves independent devices: distinct serials, logger keys, urls and histories, the same for a seed', async () => {
    const sims = await fleet({ devices: 3, seed: 5 });
    expect(sims).toHaveLength(3);
    for (const key of [
      (s: HemSimulator) => s.device.serial,
      (s: HemSimulator) => s.device.loggerPublicKey.toString('base64'),
      (s: HemSimulator) => s.url,
      firstFile,
    ])
      expect(new Set(sims.map(key)).size).toBe(3);
    const again = await fleet({ devices: 2, seed: 5 });
    expect(again.map((s) => s.device.serial)).toEqual(sims.slice(0, 2).map((s) => s.device.serial));
    expect(firstFile(again[1]!)).toBe(firstFile(sims[1]!));
    const [one] = await fleet({ devices: 1, seed: 5 });
    expect(one!.device.serial).toBe(sims[0]!.device.serial);
    for (const sim of sims) {
      const { verdict, records } = verifyLines(
        parseLogSync(Buffer.from(firstFile(sim), 'latin1')),
        sim.device.loggerPublicKey,
      );
      expect(verdict.valid).toBe(true);
      expect(records).toHaveLength(50 + 5); // KEY_INIT, three preamble records, the activity, REBOOT
    }
  });

  it('shares one certificate over HTTPS, and listens on consecutive ports from basePort', async () => {
    // Below the kernel's ephemeral range (32768 and up), where the suite's own connections take their ports;
    // a base that is taken all the same is tried again elsewhere (the fleet closes what it had started).
    let port = 0;
    let sims: HemSimulator[] = [];
    for (let attempt = 0; sims.length === 0; attempt++) {
      port = 20_000 + Math.floor(Math.random() * 10_000);
      try {
        sims = await fleet({ devices: 2, http: false, basePort: port, boots: 1 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 4) throw err;
      }
    }
    expect(sims.map((s) => s.url)).toEqual([`https://127.0.0.1:${port}`, `https://127.0.0.1:${port + 1}`]);
    expect(sims[0]!.certSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(sims[1]!.certSha256).toBe(sims[0]!.certSha256);
    const c = new DeviceClient({
      url: sims[1]!.url,
      passphrase: () => PASS,
      tls: { fingerprint: sims[1]!.certSha256! },
    });
    clients.push(c);
    expect((await c.config()).devid).toBe(sims[1]!.device.serial);
  });
});

describe('session accounting', () => {
  it('logins one after the other, each with requests: never two sessions at once', async () => {
    const [sim] = await fleet();
    await client(sim!).config();
    await client(sim!).listLogFiles();
    await client(sim!).loggerKey();
    expect(sim!.stats()).toMatchObject({ sessions: 3, maxConcurrentSessions: 1 });
  });

  it('a session still making requests after another logged in: two at once', async () => {
    const [sim] = await fleet();
    const a = client(sim!);
    const b = client(sim!);
    await a.config();
    await b.config();
    expect(sim!.stats().maxConcurrentSessions).toBe(1);
    await a.listLogFiles(); // a's window now spans b's
    expect(sim!.stats()).toMatchObject({ sessions: 2, maxConcurrentSessions: 2 });
  });

  it('a session lasts until its last answer is over: a slow read spans a login made meanwhile', async () => {
    const [sim] = await fleet({ boots: 1, eventsPerBoot: 10 });
    const a = client(sim!);
    await a.config();
    Object.assign(sim!.faults, { trickle: 1, trickleMs: 10 }); // ~1 KB in 16-byte steps: most of a second
    const reading = a.fetchLogFile(sim!.device.fileIds()[0]!);
    await client(sim!).config();
    await reading;
    expect(sim!.stats()).toMatchObject({ sessions: 2, maxConcurrentSessions: 2 });
  });

  it('a token the device no longer accepts does not keep its session alive', async () => {
    const [sim] = await fleet();
    const a = client(sim!);
    await a.config();
    sim!.device.reboot(); // every bearer dies
    await client(sim!).config();
    await a.loggerKey(); // 401 with the old token, then a login of its own
    expect(sim!.stats()).toMatchObject({ sessions: 3, maxConcurrentSessions: 1 });
  });

  it('counts every API request answered, by device, and serves the stats at /sim/stats with control on', async () => {
    const [quiet, busy] = await fleet({ devices: 2, control: true });
    const before = busy!.stats().requests;
    for (const path of ['/api/system/version', '/api/system/status', '/api/logger/key', '/no/such/path'])
      await (await fetch(`${busy!.url}${path}`)).arrayBuffer();
    expect(busy!.stats().requests).toBe(before + 4);
    const answer = await fetch(`${busy!.url}/sim/stats`);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ sessions: 0, requests: before + 4, maxConcurrentSessions: 0 });
    expect(quiet!.stats()).toEqual({ sessions: 0, requests: 0, maxConcurrentSessions: 0 });
    const [off] = await fleet();
    expect((await fetch(`${off!.url}/sim/stats`)).status).toBe(404);
  });
  it('with a file cache, serves each closed file as a rebuild gives it, and evicts the least recently read', async () => {
    const [plain] = await fleet({ devices: 1, boots: 3, eventsPerBoot: 20, seed: 9 });
    const ids = (await client(plain!).listLogFiles()).ids.slice(0, 3);
    const rebuilt = await Promise.all(ids.map((id) => client(plain!).fetchLogFile(id)));
    const budget = rebuilt.reduce((n, b) => n + b.length, 0); // the three files exactly
    const fileCache = new RenderedFiles(budget);
    const [cached, other] = await fleet({ devices: 2, boots: 3, eventsPerBoot: 20, seed: 9, fileCache });
    const c = client(cached!);
    for (const round of [1, 2])
      for (const [i, id] of ids.entries())
        expect((await c.fetchLogFile(id)).equals(rebuilt[i]!), `${round}`).toBe(true);
    expect(fileCache.bytes).toBe(budget);
    // The other device's files share the budget: the first device's least recently read go first.
    const otherIds = (await client(other!).listLogFiles()).ids.slice(0, 2);
    for (const id of otherIds) await client(other!).fetchLogFile(id);
    expect(fileCache.get(`${cached!.device.serial}/${ids[0]}`)).toBeUndefined();
    expect(fileCache.get(`${other!.device.serial}/${otherIds[1]}`)).toBeDefined();
    expect(fileCache.bytes).toBeLessThanOrEqual(budget);
  });
});
