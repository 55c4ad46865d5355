import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, FILE_REFERENCE_MAX_BYTES, REFERENCE_KEYS, loadConfig } from '../../src/config/load.js';
import { effectiveOutput } from '../../src/config/schema.js';
import { redactUrl, redactUrls } from '../../src/shared/redact.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'hemfwd-config-'));
let n = 0;
function file(text: string): string {
  const path = join(dir, `c${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}
function problems(text: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    loadConfig(file(text), env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

const DEVICE =
  `devices:\n  - name: lab\n    url: https://hem.example\n    passphrase: \${env:PW}\n` +
  `    logger_key: T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A=\n`;

describe('config', () => {
  it('the shipped example is valid and writes to files unless ELASTICSEARCH_URL is set', () => {
    const example = new URL('../../config.example.yaml', import.meta.url).pathname;
    expect(effectiveOutput(loadConfig(example, {}).config)).toBe('file');
    expect(effectiveOutput(loadConfig(example, { ELASTICSEARCH_URL: 'http://127.0.0.1:9200' }).config)).toBe(
      'elasticsearch',
    );
  });

  it.each([
    ['an unknown key', `${DEVICE}    tlss: {}\n`, 'devices[0].tlss: unknown key'],
    [
      'a wrong type',
      `${DEVICE}    poll_interval: soon\n`,
      'devices[0].poll_interval: expected a duration like 30s, 5m, 1h or 7d, found "soon"',
    ],
    [
      'a bad enum',
      `${DEVICE}    on_key_change: ignore\n`,
      'devices[0].on_key_change: expected one of "halt", "alert", found "ignore"',
    ],
    [
      'a missing url',
      'devices:\n  - name: lab\n    passphrase: x\n    trust_on_first_use: true\n',
      'devices[0].url: required: the device address',
    ],
    [
      'no logger key',
      'devices:\n  - name: lab\n    url: https://h\n    passphrase: x\n',
      'devices[0].logger_key: required: pin the logger key',
    ],
    [
      'a short key',
      `${DEVICE.replace('T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A=', 'abc')}`,
      'devices[0].logger_key: expected a 32-byte Ed25519 public key in standard base64 (44 characters), found "abc"',
    ],
    [
      'plain http',
      `${DEVICE.replace('https:', 'http:')}`,
      'devices[0].url: plain http:// sends the token and the log in the clear; use ' +
        'https://, or set tls.insecure: true to accept it (found "http://hem.example")',
    ],
    [
      'a dashed namespace',
      `${DEVICE}    namespace: my-ns\n`,
      'devices[0].namespace: expected 1-100 characters of a-z, 0-9 and _ (no dash), found "my-ns"',
    ],
    [
      'two fingerprints',
      `${DEVICE}    tls: { ca: /x, insecure: true }\n`,
      'devices[0].tls: choose one of ca, fingerprint or insecure (found {"ca":"/x","insecure":true})',
    ],
    [
      'duplicate names',
      `${DEVICE}  - name: lab\n    simulator: {}\n`,
      'devices[1].name: duplicate device name "lab" (found "lab")',
    ],
    ['no devices', 'devices: []\n', 'devices: expected at least one device, found []'],
    ['YAML syntax', 'devices: [\n', 'line'],
    [
      'elasticsearch without hosts',
      `${DEVICE}output:\n  type: elasticsearch\n`,
      'output.elasticsearch.hosts: required with type: elasticsearch',
    ],
  ])('%s names the key and what was expected', (_name, text, message) => {
    expect(problems(text, { PW: 'pw' }).join('\n')).toContain(message);
  });

  it('a missing environment variable is named; its value is never shown', () => {
    expect(problems(DEVICE)).toEqual([
      'devices[0].passphrase: environment variable PW is not set (referenced as ${env:PW})',
    ]);
  });

  it('reads secrets from files and env, keeps them out of printing, and warns about literal secrets', () => {
    const secretFile = join(dir, 'pw.txt');
    writeFileSync(secretFile, 'from-a-file\n');
    const { config, warnings } = loadConfig(
      file(
        `${DEVICE.replace('${env:PW}', `\${file:${secretFile}}`)}output:\n  elasticsearch:\n` +
          `    hosts: [http://es:9200]\n    api_key: literal-api-key\n`,
      ),
    );
    expect(config.devices[0]!.passphrase!.reveal()).toBe('from-a-file');
    expect(JSON.stringify(config)).not.toContain('from-a-file');
    expect(inspect(config, { depth: 10 })).not.toContain('literal-api-key');
    expect(warnings).toEqual([expect.stringContaining('output.elasticsearch.api_key is written in the config file')]);
  });

  it('check-config prints the same messages and exits 2', () => {
    const r = runCli(['check-config', '--config', file(`${DEVICE}    tlss: {}\n`)], { env: { PW: 'x' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('devices[0].tlss: unknown key');
    expect(runCli(['check-config', '--config', file(DEVICE)], { env: { PW: 'x' } }).status).toBe(0);
  });

  describe('references (${env:}, ${file:}) only in secret keys', () => {
    const secretFile = join(dir, 'secret.txt');
    writeFileSync(secretFile, 'top-secret-value\n');

    it.each([
      ['tags', `${DEVICE}    tags: ["\${file:${secretFile}}"]\n`, 'devices[0].tags[0]'],
      ['state_dir', `state_dir: \${file:${secretFile}}\n${DEVICE}`, 'state_dir'],
      ['a name', DEVICE.replace('name: lab', 'name: ${env:PW}'), 'devices[0].name'],
    ])('a reference in %s is an error naming the key; the file is not read into the config', (_n, text, key) => {
      const found = problems(text, { PW: 'pw' });
      const keys = REFERENCE_KEYS.join(', ');
      expect(found).toEqual([`${key}: references are only expanded in secret keys: ${keys}; write the value itself`]);
      expect(found.join('\n')).not.toContain('top-secret-value');
    });

    it('check-config does not print a referenced file through state_dir', () => {
      const path = file(`state_dir: \${file:${secretFile}}\n${DEVICE}`);
      const r = runCli(['check-config', '--config', path], { env: { PW: 'x' } });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('state_dir: references are only expanded in secret keys');
      expect(r.stdout + r.stderr).not.toContain('top-secret-value');
    });

    it('check-config does not print a referenced file through hosts: hosts must be URLs', () => {
      const path = file(`${DEVICE}output:\n  elasticsearch:\n    hosts: ["\${file:${secretFile}}"]\n`);
      const r = runCli(['check-config', '--config', path], { env: { PW: 'x' } });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('output.elasticsearch.hosts[0]');
      expect(r.stdout + r.stderr).not.toContain('top-secret-value');
    });

    it('secret keys and hosts still expand', () => {
      const es = `  elasticsearch:\n    hosts: ["\${env:ES}"]\n    api_key: \${file:${secretFile}}\n`;
      const text = `${DEVICE}output:\n${es}`;
      const { config } = loadConfig(file(text), { PW: 'pw', ES: 'http://es:9200' });
      expect(config.output.elasticsearch!.hosts).toEqual(['http://es:9200']);
      expect(config.output.elasticsearch!.api_key!.reveal()).toBe('top-secret-value');
    });

    const fifo = join(dir, 'fifo');
    spawnSync('mkfifo', [fifo]);
    const directory = join(dir, 'a-directory');
    mkdirSync(directory);
    const big = join(dir, 'big.txt');
    writeFileSync(big, 'x'.repeat(FILE_REFERENCE_MAX_BYTES + 1));
    it.each([
      ['a device', '/dev/zero', 'is a device; expected a regular file'],
      ['a FIFO (without blocking)', fifo, 'is a FIFO; expected a regular file'],
      ['a directory', directory, 'is a directory; expected a regular file'],
      ['a file over 64 KiB', big, 'is larger than 64 KiB, the most a ${file:} reference reads'],
    ])('${file:} refuses %s, naming the key', (_n, path, why) => {
      const t0 = Date.now();
      const found = problems(DEVICE.replace('${env:PW}', `\${file:${path}}`));
      expect(found).toEqual([`devices[0].passphrase: ${path} (referenced as \${file:${path}}) ${why}`]);
      expect(Date.now() - t0).toBeLessThan(2000);
    });

    it('${file:} reads a regular file of exactly 64 KiB', () => {
      const max = join(dir, 'max.txt');
      writeFileSync(max, 'y'.repeat(FILE_REFERENCE_MAX_BYTES));
      const { config } = loadConfig(file(DEVICE.replace('${env:PW}', `\${file:${max}}`)));
      expect(config.devices[0]!.passphrase!.reveal()).toHaveLength(FILE_REFERENCE_MAX_BYTES);
    });
  });

  describe('errors never show a secret', () => {
    it.each([
      ['a secret inside a misplaced object', 'devices:\n  name: lab\n  passphrase: hunter2\n'],
      ['a passphrase given as a map', DEVICE.replace('${env:PW}', '{ a: hunter2 }')],
      ['a password given as a number', `${DEVICE}output:\n  elasticsearch:\n    password: 20242024\n`],
      ['an api_key in a list', `${DEVICE}output:\n  elasticsearch: [{ api_key: hunter2 }]\n`],
    ])('%s', (_n, text) => {
      const found = problems(text, { PW: 'pw' }).join('\n');
      expect(found).not.toMatch(/hunter2|20242024/);
      expect(found).toMatch(/not shown/);
    });

    it('the user name and password of a URL are redacted in errors and in check-config', () => {
      const bad = `${DEVICE}output:\n  elasticsearch:\n    hosts: "https://elastic:changeme@es:9200"\n`;
      const found = problems(bad, { PW: 'pw' });
      expect(found).toEqual(['output.elasticsearch.hosts: expected array, found "https://***@es:9200"']);
      const good = `${DEVICE}output:\n  elasticsearch:\n    hosts: ["https://elastic:changeme@es:9200"]\n`;
      const r = runCli(['check-config', '--config', file(good)], { env: { PW: 'x' } });
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('output elasticsearch (https://***@es:9200)');
      expect(r.stdout + r.stderr).not.toContain('changeme');
    });

    it('redactUrl', () => {
      expect(redactUrl('https://user:pw@host:9200')).toBe('https://***@host:9200');
      expect(redactUrl('https://token@host/path?x=a@b')).toBe('https://***@host/path?x=a@b');
      expect(redactUrl('https://a@b:c@host')).toBe('https://***@host');
      expect(redactUrl('http://host:9200/')).toBe('http://host:9200/');
      const text = 'connect to http://u:p@h:1 and https://h2 failed';
      expect(redactUrls(text)).toBe('connect to http://***@h:1 and https://h2 failed');
    });
  });

  it('a YAML alias bomb is a one-line config error, at once', () => {
    const rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    // Nine times nine times ... : 9^9 strings if aliases were expanded without a limit.
    for (const [i, c] of [...'bcdefghi'].entries()) {
      rows.push(`${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`);
    }
    const path = file(`${rows.join('\n')}\ndevices: [*i]\n`);
    const t0 = Date.now();
    expect(() => loadConfig(path, {})).toThrow(ConfigError);
    expect(Date.now() - t0).toBeLessThan(2000);
    const r = runCli(['check-config', '--config', path]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('more than 100 alias (*name) expansions')]);
  });

  it.each(['127.0.0.1:99999', '127.0.0.1:0', ':65536'])('metrics.listen %s: a port out of range is an error', (l) => {
    expect(problems(`metrics: { listen: "${l}" }\n${DEVICE}`, { PW: 'x' })).toEqual([
      `metrics.listen: expected a port from 1 to 65535, e.g. 127.0.0.1:9464 (found "${l}")`,
    ]);
  });

  it('metrics.listen: a bad format is one error; a good port is fine', () => {
    expect(problems(`metrics: { listen: nonsense }\n${DEVICE}`, { PW: 'x' })).toEqual([
      'metrics.listen: expected host:port, e.g. 127.0.0.1:9464, found "nonsense"',
    ]);
    const { config } = loadConfig(file(`metrics: { listen: "127.0.0.1:65535" }\n${DEVICE}`), { PW: 'x' });
    expect(config.metrics?.listen).toBe('127.0.0.1:65535');
  });
});

describe('state: the shared store and its leases', () => {
  const ES = 'output: { type: elasticsearch, elasticsearch: { hosts: [http://127.0.0.1:9200] } }\n';
  it('defaults to the file store; elasticsearch needs an Elasticsearch output to live in', () => {
    const c = loadConfig(file(DEVICE), { PW: 'x' }).config;
    expect(c.state).toEqual({ store: 'file', fleet: 'default', lease_ttl: 60_000, lease_renew: 20_000 });
    expect(problems(`state: { store: elasticsearch }\n${DEVICE}`, { PW: 'x' })).toEqual([
      expect.stringMatching(
        /^state\.store: elasticsearch needs the output in use to be elasticsearch \(output\.elasticsearch\.hosts\)/,
      ),
    ]);
    const ok = loadConfig(file(`state: { store: elasticsearch, lease_ttl: 30s }\n${DEVICE}${ES}`), { PW: 'x' });
    expect(ok.config.state).toMatchObject({ lease_ttl: 30_000, lease_renew: 10_000 });
  });
  it('a renewal interval above a third of the lease, or a bad id or fleet, is named', () => {
    const renew = problems(`state: { lease_ttl: 30s, lease_renew: 11s }\n${DEVICE}`, { PW: 'x' });
    expect(renew).toEqual([expect.stringMatching(/^state\.lease_renew: at most a third of lease_ttl \(30000 ms\)/)]);
    const found = problems(`state: { instance_id: "a b", fleet: UP }\n${DEVICE}`, { PW: 'x' }).join('\n');
    expect(found).toMatch(/state\.instance_id: expected 1-128 letters/);
    expect(found).toMatch(/state\.fleet: expected 1-64 characters/);
  });
});

describe('compression: auto', () => {
  it('is off for plain http and loopback, on for a remote https host or Elastic Cloud', async () => {
    const { compressionPays } = await import('../../src/app/cluster.js');
    expect(compressionPays({ hosts: ['http://127.0.0.1:9200'] })).toBe(false);
    expect(compressionPays({ hosts: ['https://localhost:9200'] })).toBe(false);
    expect(compressionPays({ hosts: ['http://es.example.com:9200'] })).toBe(false);
    expect(compressionPays({ hosts: ['https://es.example.com:9200'] })).toBe(true);
    expect(compressionPays({ hosts: [], cloud_id: 'x:eHk=' })).toBe(true);
  });
});
