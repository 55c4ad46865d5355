import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { VendorStyleClient } from '../helpers/vendor-client.js';

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGTERM');
});

/** Starts `hem-forwarder simulate` and resolves with its first `count` stdout lines. */
function startSimulator(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  count = 1,
): Promise<{ line: string; lines: string[]; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'simulate', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (lines.push(line) === count) resolve({ line: lines[0]!, lines, child });
    });
    child.once('exit', (code) => reject(new Error(`simulate exited with ${code}`)));
  });
}

/** Stops a simulator with SIGTERM and resolves with its stderr lines. */
function stop(child: ChildProcess): Promise<string[]> {
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => {
    child.once('close', () => resolve(stderr.trim().split('\n')));
    child.kill('SIGTERM');
  });
}

describe('hem-forwarder simulate', () => {
  const printsJsonLineTitle =
    'prints one JSON line; a plain script logs in, fetches every closed file, and each ' +
    'verifies with the printed key';
  it(printsJsonLineTitle, async () => {
    const { line } = await startSimulator([
      '--json',
      '--port',
      '0',
      '--boots',
      '4',
      '--events-per-boot',
      '30',
      '--auth-delay-ms',
      '10',
    ]);
    const info = JSON.parse(line) as {
      url: string;
      certSha256: string;
      loggerKey: string;
      serial: string;
      passphrase: string;
    };
    expect(info).toEqual({
      url: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/),
      certSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      loggerKey: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
      serial: expect.stringMatching(/^[0-9a-f]{16}$/),
      passphrase: expect.any(String),
    });

    const device = new VendorStyleClient(info.url, info.passphrase);
    expect((await device.login()).status).toBe(200);
    const ids: string[] = [];
    for (let offset = 0; ; ) {
      const page = JSON.parse((await device.call('GET', `/api/logger/list/${offset}`)).body.toString()) as {
        id: string[];
      };
      if (page.id.length === 0) break;
      ids.push(...page.id.filter((id) => !ids.includes(id)));
      offset += page.id.length;
    }
    expect(ids).toHaveLength(5);
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-sim-'));
    const files: string[] = [];
    for (const id of ids.sort()) {
      const reply = await device.call('GET', `/api/logger/${id}`);
      if (reply.status === 406) continue; // the current boot's file
      expect(reply.status).toBe(200);
      files.push(join(dir, `${id}.log`));
      writeFileSync(files.at(-1)!, reply.body);
    }
    expect(files).toHaveLength(4);
    const verify = runCli(['verify', '--key', info.loggerKey, ...files]);
    expect(verify.stdout).toContain('Results: 4/4 files valid');
    expect(verify.status).toBe(0);
  });

  it('takes the passphrase from HEM_SIM_PASSPHRASE and then does not print it', async () => {
    const { line } = await startSimulator(['--json', '--port', '0', '--boots', '1'], {
      HEM_SIM_PASSPHRASE: 'from the environment',
    });
    const info = JSON.parse(line) as Record<string, string>;
    expect(info.passphrase).toBeUndefined();
    expect((await new VendorStyleClient(info.url!, 'from the environment').login()).status).toBe(200);
  });

  it('serves plain HTTP with --http, and keeps /sim/* off unless --control', async () => {
    const plain = JSON.parse((await startSimulator(['--json', '--port', '0', '--http', '--boots', '1'])).line) as {
      url: string;
      certSha256: string | null;
    };
    expect(plain.url).toMatch(/^http:\/\//);
    expect(plain.certSha256).toBeNull();
    expect((await fetch(`${plain.url}/sim/state`)).status).toBe(404);
    expect((await fetch(`${plain.url}/sim/stats`)).status).toBe(404);
    const ctl = JSON.parse(
      (await startSimulator(['--json', '--port', '0', '--http', '--boots', '1', '--control'])).line,
    ) as { url: string };
    const state = (await (await fetch(`${ctl.url}/sim/state`)).json()) as { files: string[] };
    expect(state.files).toHaveLength(2);
    expect((await fetch(`${ctl.url}/sim/reboot`, { method: 'POST' })).status).toBe(200);
    expect(((await (await fetch(`${ctl.url}/sim/state`)).json()) as { files: string[] }).files).toHaveLength(3);
  });

  it('rejects a bad number with a one-line usage error', () => {
    const r = runCli(['simulate', '--boots', 'many']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--boots must be a whole number/);
    expect(runCli(['simulate', '--devices', '0']).stderr).toMatch(/--devices must be a whole number from 1 to 1000/);
    expect(runCli(['simulate', '--devices', '2', '--port', '65535']).stderr).toMatch(/past 65535/);
  });

  it('serves --devices N devices: one JSON line each, /sim/stats per device, and their stats on stderr at exit', async () => {
    const args = ['--json', '--port', '0', '--boots', '1', '--control', '--devices', '3'];
    const { lines, child } = await startSimulator(args, {}, 3);
    const infos = lines.map((l) => JSON.parse(l) as Record<string, string | null>);
    for (const info of infos)
      expect(info).toEqual({
        url: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/),
        certSha256: infos[0]!.certSha256, // one certificate for the process
        loggerKey: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
        serial: expect.stringMatching(/^[0-9a-f]{16}$/),
        passphrase: infos[0]!.passphrase,
      });
    for (const field of ['url', 'loggerKey', 'serial']) expect(new Set(infos.map((i) => i[field])).size).toBe(3);

    const busy = infos[1]!.url!;
    expect((await new VendorStyleClient(busy, infos[1]!.passphrase!).login()).status).toBe(200);
    const stats = await new VendorStyleClient(busy, '').call('GET', '/sim/stats');
    expect(JSON.parse(stats.body.toString())).toEqual({
      sessions: 1,
      requests: 2, // the challenge and the login
      maxConcurrentSessions: 1,
    });
    const exits = (await stop(child)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(exits).toEqual(
      infos.map((i) => ({
        serial: i.serial,
        url: i.url,
        sessions: i.url === busy ? 1 : 0,
        requests: i.url === busy ? 2 : 0,
        maxConcurrentSessions: i.url === busy ? 1 : 0,
      })),
    );
  });

  it('prints one human line per device; over HTTPS the devices share one certificate', async () => {
    const { lines } = await startSimulator(['--port', '0', '--boots', '1', '--devices', '2'], {}, 2);
    const parsed = lines.map((l) => /^HEM simulator at (\S+) \(serial (\w+), .*certificate sha256 (\w+),/.exec(l));
    expect(parsed.every((p) => p !== null)).toBe(true);
    expect(parsed[0]![1]).not.toBe(parsed[1]![1]);
    expect(parsed[0]![2]).not.toBe(parsed[1]![2]);
    expect(parsed[0]![3]).toBe(parsed[1]![3]);
  });
});
