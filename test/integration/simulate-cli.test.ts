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

/** Starts `hem-forwarder simulate` and resolves with its first stdout line. */
function startSimulator(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ line: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'simulate', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve({ line, child }));
    child.once('exit', (code) => reject(new Error(`simulate exited with ${code}`)));
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
  });
});
