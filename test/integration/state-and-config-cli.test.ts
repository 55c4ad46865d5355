import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createOutput } from '../../src/app/wiring.js';
import { loadConfig } from '../../src/config/load.js';
import { Metrics, MetricsListenError, serveMetrics } from '../../src/observability/metrics.js';
import { FileStateStore, StateReadError, emptyState } from '../../src/state/store.js';
import { runCli } from '../helpers/cli.js';
import { clusterUrl } from '../helpers/cluster.js';

const root = mkdtempSync(join(tmpdir(), 'hemfwd-state-cli-'));
const after: (() => void)[] = [];
afterAll(() => {
  for (const f of after) f();
});
let n = 0;

/** A config with simulator devices `a` and `b`, and its own state_dir (inside a nested dir, to catch `../`). */
function setup(): { config: string; stateDir: string; base: string } {
  const base = join(root, `case${n++}`);
  const stateDir = join(base, 'deep', 'state');
  mkdirSync(stateDir, { recursive: true });
  const config = join(base, 'config.yaml');
  const devices = 'devices:\n  - name: a\n    simulator: {}\n  - name: b\n    simulator: {}\n';
  writeFileSync(config, `state_dir: ${stateDir}\n${devices}`);
  return { config, stateDir, base };
}

const SINCE = new Date().toISOString();
function stateFile(device: string, halted = false): string {
  const state = emptyState(device);
  state.serial = '0123456789abcdef';
  if (halted) state.halted = { reason: 'the logger key changed', newKey: `${'K'.repeat(43)}=`, since: SINCE };
  return `${JSON.stringify(state)}\n`;
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('hem-forwarder state', () => {
  it('show never moves anything, not even outside state_dir (../../x)', () => {
    const { config, stateDir, base } = setup();
    writeFileSync(join(base, 'x.json'), stateFile('x'));
    writeFileSync(join(base, 'deep', 'x.json'), '{ not json');
    for (const name of ['../../x', '../x']) {
      const r = runCli(['state', 'show', name, '--config', config]);
      expect(r.status).toBe(2);
      const named = `no device named ${JSON.stringify(name)} in ${config}`;
      expect(oneLine(r.stderr)).toBe(`hem-forwarder: state show: ${named} (devices: a, b)`);
    }
    expect(readdirSync(base).sort()).toEqual(['config.yaml', 'deep', 'x.json']);
    expect(readdirSync(join(base, 'deep')).sort()).toEqual(['state', 'x.json']);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it('show reports a corrupt state file as corrupt and leaves it where it is', () => {
    const { config, stateDir } = setup();
    writeFileSync(join(stateDir, 'a.json'), '{ not json');
    writeFileSync(join(stateDir, 'b.json'), stateFile('b'));
    const r = runCli(['state', 'show', 'a', '--config', config]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`a: CORRUPT state file ${join(stateDir, 'a.json')} (not JSON)`);
    expect(readdirSync(stateDir).sort()).toEqual(['a.json', 'b.json']);
    expect(readFileSync(join(stateDir, 'a.json'), 'utf8')).toBe('{ not json');
  });

  it('show of a valid state writes nothing', () => {
    const { config, stateDir } = setup();
    writeFileSync(join(stateDir, 'b.json'), stateFile('b'));
    const r = runCli(['state', 'show', 'b', '--config', config]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^b: serial 0123456789abcdef; logger key none \(-\); 0 files/);
    expect(readdirSync(stateDir)).toEqual(['b.json']);
    expect(readFileSync(join(stateDir, 'b.json'), 'utf8')).toBe(stateFile('b'));
  });

  it('show without a name lists the configured devices, not other files in state_dir', () => {
    const { config, stateDir } = setup();
    writeFileSync(join(stateDir, 'b.json'), stateFile('b'));
    writeFileSync(join(stateDir, 'stranger.json'), stateFile('stranger'));
    const r = runCli(['state', 'show', '--config', config]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('a: no state yet');
    expect(lines[1]).toMatch(/^b: serial 0123456789abcdef;/);
  });

  it.each([['reset'], ['accept-key']])('%s accepts only configured device names', (action) => {
    const { config, base } = setup();
    writeFileSync(join(base, 'x.json'), stateFile('x', true));
    const r = runCli(['state', action, '../../x', '--config', config]);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toContain(`state ${action}: no device named "../../x"`);
    expect(existsSync(join(base, 'x.json'))).toBe(true);
    expect(readFileSync(join(base, 'x.json'), 'utf8')).toBe(stateFile('x', true));
  });

  it('accept-key on a corrupt file reports it and moves nothing', () => {
    const { config, stateDir } = setup();
    writeFileSync(join(stateDir, 'a.json'), '[]');
    const r = runCli(['state', 'accept-key', 'a', '--config', config]);
    expect(r.status).toBe(1);
    expect(oneLine(r.stderr)).toContain(`the state file ${join(stateDir, 'a.json')} is corrupt`);
    expect(readdirSync(stateDir)).toEqual(['a.json']);
  });

  it.each([['show'], ['accept-key']])('%s: an unreadable state file is one line naming the file, exit 2', (action) => {
    const { config, stateDir } = setup();
    mkdirSync(join(stateDir, 'a.json'));
    const r = runCli(['state', action, 'a', '--config', config]);
    expect(r.status).toBe(2);
    const file = join(stateDir, 'a.json');
    const expected = `hem-forwarder: state ${action}: cannot read the state file ${file}: is a directory`;
    expect(oneLine(r.stderr)).toBe(expected);
  });

  it('the store: load throws a StateReadError for an unreadable file; inspect never moves a corrupt one', async () => {
    const dir = mkdtempSync(join(root, 'store-'));
    const store = new FileStateStore(dir);
    mkdirSync(join(dir, 'a.json'));
    const error = await store.load('a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StateReadError);
    expect((error as Error).message).toBe(`cannot read the state file ${join(dir, 'a.json')}: is a directory`);
    writeFileSync(join(dir, 'b.json'), stateFile('other'));
    expect(await store.inspect('b')).toMatchObject({ verdict: 'corrupt', reason: 'the state of device "other"' });
    expect(await store.inspect('c')).toMatchObject({ verdict: 'none' });
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'b.json']);
  });
});

describe('one-line errors', () => {
  it('metrics.listen in use: serveMetrics rejects with a MetricsListenError naming the address', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      const health = () => ({ healthy: true, details: {} });
      const error = await serveMetrics(`127.0.0.1:${port}`, new Metrics(), health).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MetricsListenError);
      expect((error as Error).message).toBe(`metrics.listen 127.0.0.1:${port}: address in use`);
    } finally {
      blocker.close();
    }
  });

  it('simulate --port 99999 is a usage error', () => {
    const r = runCli(['simulate', '--port', '99999'], { timeoutMs: 20_000 });
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toBe(
      'hem-forwarder: simulate: --port must be a whole number from 0 to 65535, got "99999"',
    );
  });

  it('import to an unreachable cluster is one line (exit 2), with the URL password redacted', () => {
    const log = join(root, 'some.log');
    writeFileSync(log, '');
    const key = 'T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A=';
    const args = ['import', '--elasticsearch', 'http://elastic:changeme@127.0.0.1:1', '--key', key];
    const r = runCli([...args, '--serial', 'x', log], { timeoutMs: 30_000 });
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toContain('hem-forwarder: import: Elasticsearch http://***@127.0.0.1:1: unreachable');
    expect(r.stderr).not.toContain('changeme');
  });

  it("run's output description redacts the URL password", async () => {
    // The real engine (it has no security, so it ignores the credentials the URL carries).
    const host = clusterUrl().replace('://', '://elastic:changeme@');
    const path = join(root, 'es.yaml');
    const es = `output:\n  elasticsearch:\n    hosts: ["${host}"]\n    setup: false\n`;
    writeFileSync(path, `devices:\n  - name: a\n    simulator: {}\n${es}`);
    const output = await createOutput(loadConfig(path, {}).config, pino({ level: 'silent' }));
    try {
      const redacted = host.replace('elastic:changeme', '***');
      expect(output.description).toBe(`Elasticsearch ${redacted} (data streams logs-encedo_hem.*)`);
      expect(output.description).not.toContain('changeme');
    } finally {
      output.sink.abort('test');
      await output.client?.close();
    }
  });
});
