import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { ecsViolations } from '../../helpers/ecs-validate.js';
import { FOREIGN_SECRET, LOGGER_PUBLIC, joinFile, validFile } from '../../helpers/log-gen.js';

const VECTOR = fileURLToPath(new URL('../../vectors/docs-log-62310ba5.log', import.meta.url));
const VECTOR_KEY = 'T61jY1AgV5XUW++eAcQibRDFOl5KjKwLGdo+U0def8A=';
const KEY = Buffer.from(LOGGER_PUBLIC).toString('base64');

const dir = mkdtempSync(join(tmpdir(), 'hemfwd-cli-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, 'latin1');
  return path;
}

const good = validFile({ segments: 2, perSegment: 6 });
const files = {
  good: file('62310ba5.log', good.text),
  tampered: file('tampered.log', joinFile(good.records.map((r, i) => (i === 2 ? r.replace('|7|0|', '|7|1|') : r)))),
  truncated: file('truncated.log', good.text.slice(0, -12)),
  reordered: file(
    'reordered.log',
    joinFile([good.records[0]!, good.records[2]!, good.records[1]!, ...good.records.slice(3)]),
  ),
  foreign: file('foreign.log', validFile({ signingKey: FOREIGN_SECRET }).text),
  garbage: file('garbage.log', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
};

describe('hem-forwarder verify', () => {
  it('the vendor vector is valid with the vendor key (exit 0)', () => {
    const r = runCli(['verify', '--key', VECTOR_KEY, VECTOR]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${VECTOR}: valid (7/7 records verified, 1 key segment)`);
    expect(r.stdout).toContain('Results: 1/1 files valid; 7/7 records verified');
  });

  it.each([
    ['tampered', 'mac_mismatch', 4],
    ['truncated', 'malformed', 13],
    ['reordered', 'seq_gap', 3],
    ['foreign', 'signature_invalid', 2],
    ['garbage', 'malformed', 1],
  ] as const)('a %s file is INVALID with %s at line %i (exit 1)', (name, kind, line) => {
    const r = runCli(['verify', '--key', KEY, files[name]]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`${files[name]}: INVALID:`);
    expect(r.stdout).toMatch(new RegExp(`  line ${line}( \\(seq [0-9a-f]+\\))?: ${kind}: `));
  });

  it('summarises several files like validate-logs', () => {
    const r = runCli(['verify', '--key', KEY, files.good, files.tampered, files.garbage]);
    expect(r.status).toBe(1);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('Results: 1/3 files valid, 2 INVALID; 23/26 records verified');
  });

  it('--json prints one object per file in the documented shape', () => {
    const r = runCli(['verify', '--json', '--key', KEY, files.good, files.reordered]);
    expect(r.status).toBe(1);
    const [ok, bad] = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(ok).toEqual({
      file: files.good,
      valid: true,
      header: 'Encedo nGINE FW v1.2.2',
      lines: { total: 12, verified: 12 },
      segment_count: 2,
      segments: [
        { line: 2, seq: 0, signature: 'valid', key_fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) },
        { line: 8, seq: 6, signature: 'valid', key_fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) },
      ],
      problems: [],
      problem_counts: {},
    });
    expect(bad.problems).toEqual([
      { line: 3, seq: 2, kind: 'seq_gap', message: 'seq jumps from 0 to 2: 1 record(s) missing' },
      { line: 4, seq: 1, kind: 'seq_disorder', message: 'seq 1 comes after seq 2: records are out of order' },
    ]);
  });

  it.each([
    [
      'an unreadable file',
      ['verify', '--key', KEY, join(dir, 'missing.log')],
      /cannot read .*missing\.log: no such file/,
    ],
    ['a bad key', ['verify', '--key', 'not-a-key', VECTOR], /--key is not a 32-byte Ed25519 public key/],
    ['no key', ['verify', VECTOR], /logger public key is required/],
    ['a mistyped option', ['verify', '--kye', KEY, VECTOR], /unknown option '--kye'; did you mean --key\?/],
    ['an unknown option', ['verify', '--colour', VECTOR], /Unknown option '--colour' \(hem-forwarder verify --help\)/],
    ['no file', ['verify', '--key', KEY], /no FILE given/],
  ])('%s exits 2 with one line and no stack', (_name, args, message) => {
    const r = runCli(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('counts an unreadable file as unreadable, not invalid', () => {
    const r = runCli(['verify', '--key', KEY, files.good, join(dir, 'missing.log')]);
    expect(r.status).toBe(2);
    expect(r.stdout).toContain('Results: 1/2 files valid, 1 unreadable; 12/12 records verified');
  });

  it('--key-file takes the JSON answer of /api/logger/key', () => {
    const keyFile = fileURLToPath(new URL('../../vectors/docs-logger-key.json', import.meta.url));
    expect(runCli(['verify', '--key-file', keyFile, VECTOR]).status).toBe(0);
  });
});

describe('hem-forwarder parse', () => {
  it('prints one valid ECS document per record, with stable ids', () => {
    const args = ['parse', '--key', KEY, '--serial', '2023b758c209269a', '--namespace', 'prod', files.good];
    const r = runCli(args);
    expect(r.status).toBe(0);
    const docs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(docs).toHaveLength(12);
    for (const d of docs) {
      expect(Object.keys(d)).toEqual(['_id', '_index', '_source']);
      expect(d._index).toBe('logs-encedo_hem.audit-prod');
      expect(ecsViolations(d._source)).toEqual([]);
      expect(d._source.encedo_hem.log.file_id).toBe('62310ba5');
    }
    const again = runCli(args)
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l)._id);
    expect(again).toEqual(docs.map((d) => d._id));
  });

  it('still prints every line of an invalid file, flagged, and exits 1', () => {
    const r = runCli(['parse', '--key', KEY, files.tampered]);
    expect(r.status).toBe(1);
    const docs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(docs).toHaveLength(12);
    expect(docs.filter((d) => d._source.encedo_hem.integrity.status === 'unverified')).toHaveLength(1);
  });

  it('rejects a namespace with a dash', () => {
    const r = runCli(['parse', '--key', KEY, '--namespace', 'a-b', files.good]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--namespace');
  });
});
