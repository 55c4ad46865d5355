import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMMANDS } from '../../src/cli/commands.js';
import { loadConfig } from '../../src/config/load.js';
import { effectiveOutput } from '../../src/config/schema.js';

// The systemd units in deploy/systemd and the config they expect (deploy/hem-forwarder.example.yaml): the
// hardening they promise, the shutdown budget, and that the credentials the config reads are the ones the unit
// loads. systemd-analyze, when present, checks what a parse here cannot (unknown keys, bad values).

const path = (p: string) => new URL(`../../${p}`, import.meta.url).pathname;
const UNIT = path('deploy/systemd/hem-forwarder.service');
const TEMPLATE = path('deploy/systemd/hem-forwarder@.service');
const EXAMPLE = path('deploy/hem-forwarder.example.yaml');
const CREDENTIALS_DIR = '/run/credentials/hem-forwarder.service/';
const STATE_DIR = '/var/lib/hem-forwarder';
const CREDENTIAL_NAMES = ['device-passphrase', 'elasticsearch-api-key'];

const temps: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-deploy-'));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A unit file as systemd reads it: sections of `Key=value` assignments, in order (a key may repeat). */
type Unit = Map<string, [key: string, value: string][]>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: [string, string][] | null = null;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    // A trailing backslash continues the value on the next line (joined with a space).
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = [];
      unit.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || section === null) throw new Error(`not a unit file line: ${line}`);
    section.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return unit;
}

/** Every value assigned to key in [Service], in order. */
function all(unit: Unit, key: string, section = 'Service'): string[] {
  return (unit.get(section) ?? []).filter(([k]) => k === key).map(([, v]) => v);
}
/** The value that counts (the last one); undefined when the key is not set. */
function value(unit: Unit, key: string, section = 'Service'): string | undefined {
  return all(unit, key, section).at(-1);
}
/** A list setting (space-separated, accumulating; an empty assignment resets it). */
function list(unit: Unit, key: string): string[] {
  let items: string[] = [];
  for (const v of all(unit, key)) items = v === '' ? [] : [...items, ...v.split(/\s+/)];
  return items;
}
const truthy = (v: string | undefined) => v !== undefined && ['yes', 'true', 'on', '1'].includes(v.toLowerCase());

/** A systemd time span (`20s`, `1min 30s`, a bare number of seconds) in seconds. */
function seconds(span: string): number {
  const UNIT_S: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600, hr: 3600 };
  let total = 0;
  const rest = span.replace(/(\d+(?:\.\d+)?)\s*([a-z]*)/g, (_m, n: string, u: string) => {
    const factor = UNIT_S[u === '' ? 's' : u];
    if (factor === undefined) throw new Error(`time unit ${u} in ${span}`);
    total += Number(n) * factor;
    return '';
  });
  if (rest.trim() !== '') throw new Error(`not a time span: ${span}`);
  return total;
}

/** A systemd byte size (`512M`: base 1024) in bytes. */
function bytes(size: string): number {
  const m = /^(\d+)([KMGT]?)$/.exec(size);
  if (!m) throw new Error(`not an absolute size: ${size}`);
  return Number(m[1]) * 1024 ** ' KMGT'.indexOf(m[2] || ' ');
}

/** ExecStart= as argv (these units use no quoting). */
const execStart = (unit: Unit) => value(unit, 'ExecStart')!.split(/\s+/);

/** LoadCredential=NAME:PATH lines as NAME → PATH. */
function credentials(unit: Unit): Map<string, string> {
  return new Map(
    all(unit, 'LoadCredential').map((v) => {
      const colon = v.indexOf(':');
      return [v.slice(0, colon), v.slice(colon + 1)] as const;
    }),
  );
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const template = parseUnit(readFileSync(TEMPLATE, 'utf8'));
const exampleText = readFileSync(EXAMPLE, 'utf8');

describe.each([
  ['hem-forwarder.service', unit],
  ['hem-forwarder@.service', template],
])('%s', (_name, u) => {
  it('runs `hem-forwarder run` with options the command has, as a dedicated user', () => {
    const argv = execStart(u);
    expect(argv[0]).toMatch(/^\/usr(\/local)?\/bin\/hem-forwarder$/);
    expect(argv[1]).toBe('run');
    // Exactly what the command parses: a renamed or removed option fails here, not at the first start.
    const { values } = parseArgs({ args: argv.slice(2), options: COMMANDS.run.options, strict: true });
    expect(values.config).toMatch(/^\/etc\/hem-forwarder\//);
    expect(values.once).not.toBe(true);
    expect(value(u, 'Type')).toBe('exec');
    expect(value(u, 'User')).toBe('hem-forwarder');
    expect(value(u, 'DynamicUser')).toBeUndefined();
    expect(value(u, 'WantedBy', 'Install')).toBe('multi-user.target');
  });

  it('keeps its state in a private StateDirectory that --state-dir names', () => {
    const { values } = parseArgs({ args: execStart(u).slice(2), options: COMMANDS.run.options, strict: true });
    expect(values['state-dir']).toBe(`/var/lib/${value(u, 'StateDirectory')}`);
    expect(value(u, 'WorkingDirectory')).toBe(values['state-dir']);
    expect(value(u, 'StateDirectoryMode')).toBe('0700');
    expect(value(u, 'UMask')).toBe('0077');
  });

  it('is hardened', () => {
    for (const key of [
      'NoNewPrivileges',
      'ProtectHome',
      'PrivateTmp',
      'PrivateDevices',
      'ProtectKernelTunables',
      'ProtectKernelModules',
      'ProtectKernelLogs',
      'ProtectControlGroups',
      'RestrictNamespaces',
      'LockPersonality',
    ])
      expect(truthy(value(u, key)), `${key}=yes`).toBe(true);
    expect(value(u, 'ProtectSystem')).toBe('strict');
    expect(all(u, 'CapabilityBoundingSet')).toEqual(['']);
    expect(value(u, 'AmbientCapabilities') ?? '').toBe('');
    expect(new Set(list(u, 'RestrictAddressFamilies'))).toEqual(new Set(['AF_INET', 'AF_INET6', 'AF_UNIX']));
    expect(value(u, 'SystemCallArchitectures')).toBe('native');
    const filter = list(u, 'SystemCallFilter');
    expect(filter).toContain('@system-service');
    // Node 20's V8 calls pkey_alloc at start, outside @system-service: with that alone it dies of SIGSYS.
    expect(filter).toContain('@pkey');
    expect(filter.filter((s) => s.startsWith('~'))).toEqual([]);
    // V8's JIT needs writable and executable memory.
    expect(truthy(value(u, 'MemoryDenyWriteExecute'))).toBe(false);
  });

  it('has room for the V8 heap the #! line caps', () => {
    const shebang = readFileSync(path('src/cli/main.ts'), 'utf8').split('\n')[0]!;
    const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(shebang)?.[1]);
    expect(heapMiB).toBeGreaterThan(0);
    // RSS is the heap plus code, the young generation and buffers outside it: 220 MB measured at 160.
    expect(bytes(value(u, 'MemoryMax')!)).toBeGreaterThanOrEqual(3 * heapMiB * 1024 ** 2);
  });

  it('restarts on failure and gives SIGTERM time to flush', () => {
    expect(value(u, 'Restart')).toBe('on-failure');
    expect(seconds(value(u, 'RestartSec')!)).toBeGreaterThanOrEqual(1);
    expect(value(u, 'KillSignal')).toBe('SIGTERM');
    // The forwarder exits within ~10 s of SIGTERM (6 s in-flight work, 2.5 s output); SIGKILL only after 15 s+.
    expect(seconds(value(u, 'TimeoutStopSec')!)).toBeGreaterThanOrEqual(15);
    // It does not speak sd_notify: a watchdog would kill it every WatchdogSec.
    expect(value(u, 'WatchdogSec')).toBeUndefined();
    expect(value(u, 'NotifyAccess')).toBeUndefined();
  });

  it('loads both secrets as credentials from root-only files', () => {
    const creds = credentials(u);
    expect([...creds.keys()].sort()).toEqual(CREDENTIAL_NAMES);
    for (const [name, source] of creds) expect(source).toBe(`/etc/hem-forwarder/credentials/${name}`);
  });
});

describe('hem-forwarder@.service', () => {
  it('gives each instance its id, state directory and config', () => {
    const argv = execStart(template);
    const { values } = parseArgs({ args: argv.slice(2), options: COMMANDS.run.options, strict: true });
    expect(values).toMatchObject({
      config: '/etc/hem-forwarder/%i.yaml',
      'instance-id': '%i',
      'state-dir': '/var/lib/hem-forwarder/%i',
    });
    expect(value(template, 'StateDirectory')).toBe('hem-forwarder/%i');
  });

  it('is hem-forwarder.service otherwise', () => {
    const own = new Set(['ExecStart', 'StateDirectory', 'WorkingDirectory']);
    const rest = (u: Unit) => (u.get('Service') ?? []).filter(([k]) => !own.has(k));
    expect(rest(template)).toEqual(rest(unit));
    expect(template.get('Install')).toEqual(unit.get('Install'));
    expect(value(template, 'After', 'Unit')).toBe(value(unit, 'After', 'Unit'));
  });
});

describe('deploy/hem-forwarder.example.yaml', () => {
  it('reads exactly the credentials the unit loads, from its credentials directory', () => {
    // The values, not the comments: every string of the parsed document.
    const strings = (v: unknown): string[] =>
      typeof v === 'string' ? [v] : v !== null && typeof v === 'object' ? Object.values(v).flatMap(strings) : [];
    const refs = strings(parse(exampleText))
      .flatMap((s) => [...s.matchAll(/\$\{(env|file):([^}]*)\}/g)])
      .map((m) => [m[1], m[2]!] as const);
    expect(refs.length).toBeGreaterThanOrEqual(CREDENTIAL_NAMES.length);
    expect(refs.filter(([kind]) => kind === 'env')).toEqual([]);
    const files = refs.map(([, p]) => p);
    for (const p of files) expect(p.startsWith(CREDENTIALS_DIR), p).toBe(true);
    expect([...new Set(files.map((p) => p.slice(CREDENTIALS_DIR.length)))].sort()).toEqual(
      [...credentials(unit).keys()].sort(),
    );
  });

  it('is a valid config for the service once the credentials are there', () => {
    const creds = tempDir();
    writeFileSync(join(creds, 'device-passphrase'), 'device passphrase\n', { mode: 0o600 });
    writeFileSync(join(creds, 'elasticsearch-api-key'), 'api-key-value\n', { mode: 0o600 });
    const copy = join(tempDir(), 'config.yaml');
    writeFileSync(copy, exampleText.replaceAll(CREDENTIALS_DIR, `${creds}/`));
    const { config, warnings } = loadConfig(copy, {});
    expect(warnings).toEqual([]);
    // The config and the unit agree on the state, so `state`, `custody` and `audit` run by hand see the service's.
    expect(config.state_dir).toBe(STATE_DIR);
    const { values } = parseArgs({ args: execStart(unit).slice(2), options: COMMANDS.run.options, strict: true });
    expect(values['state-dir']).toBe(config.state_dir);
    expect(effectiveOutput(config)).toBe('elasticsearch');
    expect(config.devices.map((d) => d.passphrase?.reveal())).toEqual(['device passphrase']);
    expect(config.output.elasticsearch?.api_key?.reveal()).toBe('api-key-value');
    expect(config.log.format).toBe('auto');
  });
});

/** The first executable named so on PATH, or null. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return null;
}

const analyze = onPath('systemd-analyze');

describe.skipIf(analyze === null)('systemd-analyze verify', () => {
  // verify checks that ExecStart's program exists, and hem-forwarder is not installed where tests run. Copies
  // of the units whose ExecStart runs /usr/bin/env (with the same arguments) are verified instead, so that any
  // other complaint, however small, fails the test.
  function copies(edit: (text: string) => string = (t) => t): string {
    const dir = tempDir();
    for (const file of [UNIT, TEMPLATE]) {
      const text = readFileSync(file, 'utf8');
      const swapped = text.replace(/^ExecStart=\/\S+\/hem-forwarder /m, 'ExecStart=/usr/bin/env hem-forwarder ');
      expect(swapped, `${file}: ExecStart`).not.toBe(text);
      writeFileSync(join(dir, file.slice(file.lastIndexOf('/') + 1)), edit(swapped));
    }
    return dir;
  }
  function verify(dir: string) {
    const files = [join(dir, 'hem-forwarder.service'), join(dir, 'hem-forwarder@test.service')];
    const r = spawnSync(analyze!, ['verify', ...files], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' },
    });
    return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
  }

  it('finds nothing to say about either unit', () => {
    expect(verify(copies())).toEqual({ status: 0, output: '' });
  });

  it('does report a mistake (the check above can fail)', () => {
    const { output } = verify(copies((t) => t.replace('ProtectHome=yes', 'ProtectHome=yes\nProtectHomme=yes')));
    expect(output).toMatch(/ProtectHomme/);
  });
});
