import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HemSimulator } from '../../src/simulator/server.js';
import { CLI, type CliResult, runCliAsync } from '../helpers/cli.js';
import { clusterUrl, testClient } from '../helpers/cluster.js';

const children: ChildProcess[] = [];
const sims: HemSimulator[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of sims) await s.close();
});

/** A config with one in-process simulated device writing NDJSON files, in a directory of its own. */
function simConfig(options: { boots: number; events: number; extra?: string }): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-rel-'));
  const path = join(dir, 'config.yaml');
  const device =
    `  - name: sim\n    simulator: { seed: 7, boots: ${options.boots}, events_per_boot: ` +
    `${options.events} }\n    poll_interval: 1s\n`;
  const text =
    `state_dir: ${dir}/state\nlog: { level: warn, format: ecs }\n` +
    `${options.extra ?? ''}devices:\n${device}output: { type: file, file: { dir: ` +
    `${dir}/out } }\n`;
  writeFileSync(path, text);
  return { dir, path };
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  return { child, done };
}

async function until(condition: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('run: one instance per state, bounded and honest exits', () => {
  it('a second run on the same state_dir exits 2 naming the first; the lock goes with the first', async () => {
    const { dir, path } = simConfig({ boots: 2, events: 20 });
    const first = start(['run', '--config', path]);
    await until(() => existsSync(join(dir, 'state', '.lock')) && existsSync(join(dir, 'state', 'sim.json')));
    const second = await runCliAsync(['run', '--once', '--config', path]);
    expect(second.status).toBe(2);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toMatch(
      new RegExp(`state_dir .* is in use by another hem-forwarder \\(pid ${first.child.pid} on `),
    );
    first.child.kill('SIGTERM');
    expect((await first.done).status).toBe(0);
    expect(existsSync(join(dir, 'state', '.lock'))).toBe(false);
    expect((await runCliAsync(['run', '--once', '--config', path])).status).toBe(0);
    expect(existsSync(join(dir, 'state', 'custody-key.pem'))).toBe(true); // made at the first run
  });

  it('SIGTERM during run --once reports the devices as interrupted and exits 3', async () => {
    const { dir, path } = simConfig({ boots: 40, events: 1500 });
    const run = start(['run', '--once', '--config', path]);
    await until(() => existsSync(join(dir, 'state', 'sim.json')));
    run.child.kill('SIGTERM');
    const r = await run.done;
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/Summary: 1 device\(s\)/);
    expect(r.stdout).toMatch(/ sim: INTERRUPTED;/);
    expect(r.stdout).toMatch(/INTERRUPTED by SIGTERM/);
  });

  it('--once is bounded by once_timeout even when a device keeps it waiting', async () => {
    const sim = await HemSimulator.start({ passphrase: 'pw', masterPassphrase: 'm', boots: 2, authDelayMs: 5 });
    sims.push(sim);
    sim.faults.latencyMs = 4000; // every answer slow: the cycle outlives the bound
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-rel-'));
    const path = join(dir, 'config.yaml');
    const device =
      `  - name: slow\n    url: ${sim.url}\n    passphrase: \${env:SLOW_PW}\n` +
      `    tls: { fingerprint: "${sim.certSha256}" }\n` +
      `    logger_key: ${sim.device.loggerPublicKey.toString('base64')}\n`;
    writeFileSync(
      path,
      `state_dir: ${dir}/state\nonce_timeout: 1s\nlog: { level: warn }\ndevices:\n` +
        `${device}output: { type: file, file: { dir: ${dir}/out } }\n`,
    );
    const r = await runCliAsync(['run', '--once', '--config', path], { env: { SLOW_PW: 'pw' } });
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/ slow: (INTERRUPTED|FAILED)/);
    expect(r.stdout).toMatch(/INTERRUPTED by once_timeout \(1000 ms\)/);
  });

  it('a metrics port in use is one line and exit 2, and the lock is released', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    const { dir, path } = simConfig({ boots: 1, events: 5, extra: `metrics: { listen: 127.0.0.1:${port} }\n` });
    const r = await runCliAsync(['run', '--once', '--config', path]);
    blocker.close();
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`hem-forwarder: metrics.listen 127.0.0.1:${port}: address in use`);
    expect(existsSync(join(dir, 'state', '.lock'))).toBe(false);
  });

  it('an unreadable state file is one line and exit 2 before anything starts', async () => {
    const { dir, path } = simConfig({ boots: 1, events: 5 });
    mkdirSync(join(dir, 'state', 'sim.json'), { recursive: true }); // a directory where the file should be
    const r = await runCliAsync(['run', '--once', '--config', path]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `hem-forwarder: cannot read the state file ${join(dir, 'state', 'sim.json')}: is a directory`,
    );
  });

  it('with setup: false and the cluster down, --once ends at once with a clear error', async () => {
    const { path } = simConfig({ boots: 1, events: 5 });
    const text =
      `${readFileSync(path, 'utf8').replace(/output: .*\n/, '')}output:\n` +
      `  type: elasticsearch\n  elasticsearch: { hosts: ["http://127.0.0.1:1"], setup: ` +
      `false }\n`;
    writeFileSync(path, text);
    const r = await runCliAsync(['run', '--once', '--config', path]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^hem-forwarder: output: .*127\.0\.0\.1:1/m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe('checkpoints belong to an output', () => {
  it('npm start (file output), then the same with ELASTICSEARCH_URL: the cluster gets every file', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'hemfwd-quick-'));
    const example = new URL('../../config.example.yaml', import.meta.url).pathname;
    // As `npm start` runs it (npm names the script it runs in npm_lifecycle_event).
    const cli = (args: string[], url: string) =>
      spawnSync(process.execPath, [CLI, ...args, '--config', example], {
        cwd,
        env: { ...process.env, ELASTICSEARCH_URL: url, npm_lifecycle_event: 'start' },
        encoding: 'utf8',
        timeout: 120_000,
      });
    const run = (url: string) => cli(['run', '--once'], url);
    const toFiles = run('');
    expect(toFiles.status).toBe(0);
    expect(toFiles.stdout).toContain('6 files ingested');
    expect(toFiles.stdout).toMatch(/custody: every ingested file has a digest signed by [0-9a-f]{16}…/);
    expect(toFiles.stdout).toContain('audit reads them from an Elasticsearch output');
    expect(readdirSync(join(cwd, 'data/out')).length).toBeGreaterThan(0);
    // The example's namespace is `default`: a chain from an earlier test run against this engine would fork it.
    const client = testClient();
    await client.indices.deleteDataStream({ name: 'logs-encedo_hem.*-default' }).catch(() => undefined);
    await client.close();
    const toCluster = run(clusterUrl());
    expect(toCluster.status).toBe(0);
    expect(toCluster.stdout).toContain('6 files ingested');
    expect(toCluster.stdout).toMatch(/0 files ingested by earlier runs/);
    expect(toCluster.stderr).toMatch(
      /6 file\(s\) were ingested into file:.*data\/out, not into this output; collecting them again/,
    );
    expect(toCluster.stdout).toContain('check what was written: npm run audit');
    const again = run(clusterUrl());
    expect(again.stdout).toContain('0 files ingested');
    expect(again.stdout).toMatch(/6 files ingested by earlier runs/);
    // What `npm run audit` runs: the trail written above is intact, every file accounted for.
    const audit = cli(['audit', '--namespace', 'default'], clusterUrl());
    expect(audit.status, audit.stderr).toBe(0);
    expect(audit.stdout).toMatch(/INTACT/);
    expect(audit.stdout).toMatch(/demo-hem \(\w+\): 6 files, 1236 records, 1235 verified/);
  });
});
