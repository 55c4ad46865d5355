import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

const RECORDER = fileURLToPath(new URL('../../helpers/loaded-modules.mjs', import.meta.url));
const VECTOR = fileURLToPath(new URL('../../vectors/docs-log-62310ba5.log', import.meta.url));
const VECTOR_KEY = 'T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A=';
const dir = mkdtempSync(join(tmpdir(), 'hemfwd-lazy-'));

/** Which search clients the bundle's modules loaded by one command hold (their user agents name them). */
function clientsLoaded(args: string[]): { status: number | null; clients: string[] } {
  const file = join(dir, `${args[0]}-${Date.now()}.txt`);
  writeFileSync(file, '');
  const r = runCli(args, { env: { NODE_OPTIONS: `--import ${RECORDER}`, HEMFWD_LOADED_FILE: file } });
  const modules = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
  expect(modules.some((m) => m.endsWith('/dist/cli/main.js'))).toBe(true); // the recorder saw the command
  const code = modules.map((m) => readFileSync(fileURLToPath(m), 'utf8')).join('\n');
  return { status: r.status, clients: ['elasticsearch-js', 'opensearch-js'].filter((ua) => code.includes(ua)) };
}

describe("each command loads its own modules only (the bundle's chunks)", () => {
  it('--version and verify load no search client', () => {
    expect(clientsLoaded(['--version'])).toEqual({ status: 0, clients: [] });
    expect(clientsLoaded(['verify', '--key', VECTOR_KEY, VECTOR])).toEqual({ status: 0, clients: [] });
  });

  it('run with an Elasticsearch output loads that client and not the OpenSearch one', () => {
    const config = join(dir, 'es.yaml');
    writeFileSync(
      config,
      [
        `state_dir: ${JSON.stringify(join(dir, 'state'))}`,
        `devices: [{ name: d, url: "https://127.0.0.1:1", passphrase: x, logger_key: "${VECTOR_KEY}" }]`,
        'output: { type: elasticsearch, elasticsearch: { hosts: ["http://127.0.0.1:1"] } }',
        '',
      ].join('\n'),
    );
    const run = clientsLoaded(['run', '--once', '--config', config]);
    expect(run.status).toBe(1); // a valid config, but nothing answers on port 1: the point is what it loaded
    expect(run.clients).toEqual(['elasticsearch-js']);
  });
});
