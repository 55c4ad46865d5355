import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { effectiveOutput } from '../../src/config/schema.js';
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

const DEVICE = `devices:\n  - name: lab\n    url: https://hem.example\n    passphrase: \${env:PW}\n    logger_key: T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A=\n`;

describe('config', () => {
  it('the shipped example is valid and writes to files unless ELASTICSEARCH_URL is set', () => {
    const example = new URL('../../config.example.yaml', import.meta.url).pathname;
    expect(effectiveOutput(loadConfig(example, {}).config)).toBe('file');
    expect(effectiveOutput(loadConfig(example, { ELASTICSEARCH_URL: 'http://127.0.0.1:9200' }).config)).toBe('elasticsearch');
  });

  it.each([
    ['an unknown key', `${DEVICE}    tlss: {}\n`, 'devices[0].tlss: unknown key'],
    ['a wrong type', `${DEVICE}    poll_interval: soon\n`, 'devices[0].poll_interval: expected a duration like 30s, 5m, 1h or 7d, found "soon"'],
    ['a bad enum', `${DEVICE}    on_key_change: ignore\n`, 'devices[0].on_key_change: expected one of "halt", "alert", found "ignore"'],
    ['a missing url', 'devices:\n  - name: lab\n    passphrase: x\n    trust_on_first_use: true\n', 'devices[0].url: required: the device address'],
    ['no logger key', 'devices:\n  - name: lab\n    url: https://h\n    passphrase: x\n', 'devices[0].logger_key: required: pin the logger key'],
    ['a short key', `${DEVICE.replace('T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A=', 'abc')}`, 'devices[0].logger_key: expected a 32-byte Ed25519 public key in standard base64 (44 characters), found "abc"'],
    ['plain http', `${DEVICE.replace('https:', 'http:')}`, 'devices[0].url: plain http:// sends the token and the log in the clear; use https://, or set tls.insecure: true to accept it (found "http://hem.example")'],
    ['a dashed namespace', `${DEVICE}    namespace: my-ns\n`, 'devices[0].namespace: expected 1-100 characters of a-z, 0-9 and _ (no dash), found "my-ns"'],
    ['two fingerprints', `${DEVICE}    tls: { ca: /x, insecure: true }\n`, 'devices[0].tls: choose one of ca, fingerprint or insecure (found {"ca":"/x","insecure":true})'],
    ['duplicate names', `${DEVICE}  - name: lab\n    simulator: {}\n`, 'devices[1].name: duplicate device name "lab" (found "lab")'],
    ['no devices', 'devices: []\n', 'devices: expected at least one device, found []'],
    ['YAML syntax', 'devices: [\n', 'line'],
    ['elasticsearch without hosts', `${DEVICE}output:\n  type: elasticsearch\n`, 'output.elasticsearch.hosts: required with type: elasticsearch'],
  ])('%s names the key and what was expected', (_name, text, message) => {
    expect(problems(text, { PW: 'pw' }).join('\n')).toContain(message);
  });

  it('a missing environment variable is named; its value is never shown', () => {
    expect(problems(DEVICE)).toEqual(['devices[0].passphrase: environment variable PW is not set (referenced as ${env:PW})']);
  });

  it('reads secrets from files and env, keeps them out of printing, and warns about literal secrets', () => {
    const secretFile = join(dir, 'pw.txt');
    writeFileSync(secretFile, 'from-a-file\n');
    const { config, warnings } = loadConfig(file(`${DEVICE.replace('${env:PW}', `\${file:${secretFile}}`)}output:\n  elasticsearch:\n    hosts: [http://es:9200]\n    api_key: literal-api-key\n`));
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
});
