/**
 * Chain of custody on the real engine: `run --once` from a simulated device, then tampering in the cluster the
 * way someone with write access could, and `hem-forwarder audit` run as a user runs it. Each case has its
 * own namespace and state, so the chains never mix.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/custody/canonical.js';
import type { SignedDigest } from '../../src/custody/digest.js';
import { custodyKeyFromPem, generateCustodyKeyPem, signWithCustodyKey } from '../../src/custody/signing.js';
import type { AuditReport, Finding } from '../../src/audit/report.js';
import { macTag } from '../../src/logfile/write.js';
import { HemSimulator } from '../../src/simulator/server.js';
import { CLI, type CliResult, runCliAsync } from '../helpers/cli.js';
import { clusterUrl, countDocs, testClient, uniqueNamespace } from '../helpers/cluster.js';

const client = testClient();
const children: ChildProcess[] = [];
const sims: HemSimulator[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of sims) await s.close();
  await client.close();
});

interface Setup {
  readonly dir: string;
  readonly path: string;
  readonly ns: string;
}

const BOOTS = 4; // released files (the simulator's current boot is one more, locked)
const EVENTS = 150;

function config(options: { device?: string; extra?: string } = {}): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-custody-'));
  const ns = uniqueNamespace('c');
  const device =
    options.device ??
    `  - name: hem1\n    simulator: { seed: 11, boots: ${BOOTS}, events_per_boot: ${EVENTS} }\n` +
      `    namespace: ${ns}\n    poll_interval: 1s\n`;
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    `state_dir: ${dir}/state\nlog: { level: warn, format: ecs }\n${options.extra ?? ''}devices:\n${device}` +
      `output: { type: elasticsearch, elasticsearch: { hosts: ["${clusterUrl()}"], setup: true } }\n`,
  );
  return { dir, path, ns };
}

async function ingest(setup: Setup = config()): Promise<Setup> {
  const r = await runCliAsync(['run', '--once', '--config', setup.path]);
  expect(r.status, r.stderr).toBe(0);
  await client.indices.refresh({ index: 'logs-encedo_hem.*' });
  return setup;
}

async function audit(s: Setup, ...extra: string[]): Promise<{ result: CliResult; report: AuditReport }> {
  const result = await runCliAsync(['audit', '--config', s.path, '--namespace', s.ns, '--json', ...extra]);
  let report: AuditReport;
  try {
    report = JSON.parse(result.stdout) as AuditReport;
  } catch {
    throw new Error(`audit printed no report (exit ${result.status}): ${result.stderr}`);
  }
  return { result, report };
}

function findings(report: AuditReport): Finding[] {
  return report.devices.flatMap((d) => d.findings);
}

type Source = Record<string, any>;
interface Hit {
  _index: string;
  _id: string;
  _source: Source;
}

async function search(index: string, query: object, size = 10_000, sort?: object[]): Promise<Hit[]> {
  await client.indices.refresh({ index });
  const r = await client.search({ index, query, size, ...(sort ? { sort } : {}) } as never);
  return r.hits.hits as unknown as Hit[];
}

async function digests(ns: string): Promise<Hit[]> {
  return search(`logs-encedo_hem.custody-${ns}`, { match_all: {} }, 1000, [
    { 'encedo_hem.custody.body.chain.position': 'asc' },
  ]);
}

async function fileDocs(ns: string, fileId: string): Promise<Hit[]> {
  return search(`logs-encedo_hem.audit-${ns}`, { term: { 'encedo_hem.log.file_id': fileId } }, 10_000, [
    { 'encedo_hem.log.line': 'asc' },
  ]);
}

async function firstFile(ns: string): Promise<string> {
  const [first] = await digests(ns);
  return (first!._source.encedo_hem.custody as SignedDigest).body.kind === 'file'
    ? ((first!._source.encedo_hem.custody as SignedDigest).body as { file: { id: string } }).file.id
    : '';
}

async function remove(hit: Hit): Promise<void> {
  await client.delete({ index: hit._index, id: hit._id, refresh: true });
}

describe('audit on what run wrote', () => {
  it('finds nothing on untouched data, and says what it checked', async () => {
    const s = await ingest();
    const { result, report } = await audit(s);
    expect(result.status, result.stderr).toBe(0);
    expect(report.intact).toBe(true);
    const [device] = report.devices;
    const records = await countDocs(client, `logs-encedo_hem.audit-${s.ns}`);
    expect(device).toMatchObject({ device: 'hem1', files: BOOTS, documents: records, deadLetters: 0 });
    expect(device!.records).toBe(records);
    expect(device!.verified).toBe(records);
    expect(device!.chain).toMatchObject({ first: 0, last: BOOTS - 1, digests: BOOTS, localDigests: BOOTS });
    expect(report.keys).toEqual([{ fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/), trust: 'state' }]);
    // The text form says the same for a person.
    const text = await runCliAsync(['audit', '--config', s.path, '--namespace', s.ns]);
    expect(text.status).toBe(0);
    // A window or a device that matches nothing proves nothing, and says so.
    for (const args of [
      ['--device', 'another'],
      ['--since', '2999-01-01'],
    ]) {
      const none = await audit(s, ...args);
      expect(none.report.devices).toEqual([]);
      expect(none.result.status).toBe(1);
      expect(none.result.stderr).toMatch(/no custody digests matched: nothing was proven/);
      expect(none.report.intact).toBe(false);
    }
    const windowed = await audit(s, '--device', 'hem1', '--since', '2000-01-01', '--until', '2999-01-01');
    expect(windowed.result.status).toBe(0);
    expect(windowed.report.devices[0]!.files).toBe(BOOTS);
    expect(text.stdout).toMatch(/INTACT/);
    expect(text.stdout).toMatch(new RegExp(`hem1 \\(\\w+\\): ${BOOTS} files, ${records} records`));
  });

  it('one field of one document updated: document_altered on its lines', async () => {
    const s = await ingest();
    const fileId = await firstFile(s.ns);
    const target = (await fileDocs(s.ns, fileId))[40]!;
    await client.update({ index: target._index, id: target._id, doc: { message: 'nothing happened' }, refresh: true });
    const { result, report } = await audit(s);
    expect(result.status).toBe(1);
    const line = target._source.encedo_hem.log.line as number;
    const [finding, ...rest] = findings(report);
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ kind: 'document_altered', fileId, position: 0 });
    expect(finding!.lines!.first).toBeLessThanOrEqual(line);
    expect(finding!.lines!.last).toBeGreaterThanOrEqual(line);
    expect(finding!.lines!.last - finding!.lines!.first).toBeLessThan(16);
  });

  it('one document deleted: document_missing naming its line', async () => {
    const s = await ingest();
    const fileId = await firstFile(s.ns);
    const target = (await fileDocs(s.ns, fileId))[70]!;
    await remove(target);
    const html = join(s.dir, 'report.html');
    const { result, report } = await audit(s, '--report', html);
    expect(result.status).toBe(1);
    const line = target._source.encedo_hem.log.line as number;
    expect(findings(report)).toEqual([
      expect.objectContaining({ kind: 'document_missing', fileId, lines: { first: line, last: line } }),
    ]);
    // The auditor's report of the same audit (rendering itself is checked in a browser elsewhere).
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/FINDINGS/);
    expect(page).toContain('document_missing');
    expect(page).toContain(`the document of line ${line} is missing`);
  });

  it('a forged document claiming an ingested file, with a correct device tag: document_extra', async () => {
    const s = await ingest();
    const fileId = await firstFile(s.ns);
    const docs = await fileDocs(s.ns, fileId);
    const last = docs.at(-1)!._source;
    // K travels in clear in the file's KEY_INIT record: whoever holds the file can tag a record of their own.
    const keyInit = docs.filter((d) => d._source.event.code === '0').at(-1)!._source;
    const k = Buffer.from(String(keyInit.event.original).split('|')[4]!, 'base64url');
    const seq = (last.event.sequence as number) + 1;
    const mac = `${seq.toString(16)}|${(last.encedo_hem.device_time as number).toString(16)}|2|0|U||`;
    const original = mac + macTag(k, mac);
    const forged = structuredClone(last);
    forged.event.original = original;
    forged.event.hash = createHash('sha256').update(original).digest('hex');
    forged.event.sequence = seq;
    forged.encedo_hem.log.line = (last.encedo_hem.log.line as number) + 1;
    delete forged.event.ingested;
    await client.create({ index: `logs-encedo_hem.audit-${s.ns}`, id: 'forged-1', document: forged, refresh: true });
    // And a whole file that was never collected: its document claims a file id no digest names.
    const invented = structuredClone(forged);
    invented.encedo_hem.log.file_id = 'deadbeef';
    await client.create({ index: `logs-encedo_hem.audit-${s.ns}`, id: 'forged-2', document: invented, refresh: true });
    const { result, report } = await audit(s);
    expect(result.status).toBe(1);
    const all = findings(report);
    expect(all).toHaveLength(2);
    expect(all.find((f) => f.fileId === fileId)).toMatchObject({ kind: 'document_extra', position: 0 });
    expect(all.find((f) => f.fileId === 'deadbeef')).toMatchObject({ kind: 'document_extra' });
    expect(all.find((f) => f.fileId === 'deadbeef')!.detail).toMatch(
      /1 document\(s\) claim file deadbeef .* which no custody digest names/,
    );
  });

  it('a document re-indexed under a new id (same content): document_extra on its line', async () => {
    const s = await ingest();
    const fileId = await firstFile(s.ns);
    const copy = (await fileDocs(s.ns, fileId))[10]!;
    const source = structuredClone(copy._source);
    delete source.event.ingested;
    await client.create({ index: `logs-encedo_hem.audit-${s.ns}`, id: 'copy-1', document: source, refresh: true });
    const { result, report } = await audit(s);
    expect(result.status).toBe(1);
    const line = copy._source.encedo_hem.log.line as number;
    expect(findings(report)).toEqual([
      expect.objectContaining({ kind: 'document_extra', fileId, lines: { first: line, last: line } }),
    ]);
    expect(findings(report)[0]!.detail).toMatch(/copy-1/);
  });

  it('a digest deleted in the middle of the chain: chain_gap', async () => {
    const s = await ingest();
    const chain = await digests(s.ns);
    await remove(chain[1]!);
    const { result, report } = await audit(s);
    expect(result.status).toBe(1);
    expect(findings(report)).toEqual([
      expect.objectContaining({ kind: 'chain_gap', position: 1, detail: expect.stringMatching(/local digest files/) }),
      expect.objectContaining({
        kind: 'chain_gap',
        position: 2,
        detail: expect.stringMatching(/1 digest\(s\) missing/),
      }),
    ]);
  });

  it('a digest altered: digest_signature; a digest signed by another key: unknown_key', async () => {
    const s = await ingest();
    const chain = await digests(s.ns);
    const altered = chain[0]!;
    const custody = altered._source.encedo_hem.custody as SignedDigest;
    const body = structuredClone(custody.body) as Source;
    body.file.records = (body.file.records as number) - 1;
    await client.update({
      index: altered._index,
      id: altered._id,
      doc: { encedo_hem: { custody: { body } } },
      refresh: true,
    });
    // Another key re-signs digest 2 with its own fingerprint, hash and signature: well formed, untrusted.
    const other = custodyKeyFromPem(generateCustodyKeyPem());
    const victim = chain[2]!;
    const vbody = structuredClone((victim._source.encedo_hem.custody as SignedDigest).body) as Source;
    vbody.forwarder.key = other.fingerprint;
    const bytes = Buffer.from(canonicalJson(vbody));
    const resigned = {
      body: vbody,
      hash: (victim._source.encedo_hem.custody as SignedDigest).hash, // keeps the chain link
      signature: signWithCustodyKey(other, bytes).toString('base64'),
    };
    await client.update({
      index: victim._index,
      id: victim._id,
      doc: { encedo_hem: { custody: resigned } },
      refresh: true,
    });
    const { result, report } = await audit(s);
    expect(result.status).toBe(1);
    const kinds = findings(report).map((f) => [f.kind, f.position]);
    expect(kinds).toContainEqual(['digest_signature', 0]);
    expect(kinds).toContainEqual(['digest_signature', 2]); // its hash no longer matches its body
    // Signed by another key with a consistent hash: unknown_key alone.
    const hash = createHash('sha256').update(bytes).digest('hex');
    await client.update({
      index: victim._index,
      id: victim._id,
      doc: { encedo_hem: { custody: { ...resigned, hash } } },
      refresh: true,
    });
    const again = findings((await audit(s)).report).map((f) => [f.kind, f.position]);
    expect(again).toContainEqual(['unknown_key', 2]);
    expect(again).toContainEqual(['chain_fork', 3]); // digest 3 links to the original digest 2
  });

  it('the newest digests deleted: truncated with the local digest files, invisible without them', async () => {
    const s = await ingest();
    const chain = await digests(s.ns);
    await remove(chain.at(-1)!);
    await remove(chain.at(-2)!);
    const { result, report } = await audit(s);
    expect(result.status).toBe(1);
    expect(findings(report)).toEqual([expect.objectContaining({ kind: 'truncated', position: chain.length - 2 })]);
    // Without an outside copy only the files' documents, which no digest names any more, show it; had they been
    // deleted too, nothing would: why digest_dir belongs off the cluster.
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-empty-digests-'));
    const blind = await audit(s, '--digest-dir', dir);
    expect(blind.result.status).toBe(1);
    const truncatedFiles = chain.slice(-2).map((d) => (d._source.encedo_hem.custody as SignedDigest).body);
    expect(
      findings(blind.report)
        .map((f) => [f.kind, f.fileId])
        .sort(),
    ).toEqual(truncatedFiles.map((b) => ['document_extra', b.kind === 'file' ? b.file.id : '']).sort());
  });

  it('with --public-key pinned to another key, every digest is unknown_key; the right key passes', async () => {
    const s = await ingest();
    const other = custodyKeyFromPem(generateCustodyKeyPem()).publicKey.toString('base64');
    const wrong = await audit(s, '--public-key', other);
    expect(wrong.result.status).toBe(1);
    expect(new Set(findings(wrong.report).map((f) => f.kind))).toEqual(new Set(['unknown_key']));
    const key = await runCliAsync(['custody', 'key', '--config', s.path, '--json']);
    const { publicKey } = JSON.parse(key.stdout) as { publicKey: string };
    const right = await runCliAsync([
      'audit',
      '--elasticsearch',
      clusterUrl(),
      '--namespace',
      s.ns,
      '--public-key',
      publicKey,
    ]);
    expect(right.status, right.stdout + right.stderr).toBe(0);
    expect(right.stdout).toMatch(/INTACT; keys [0-9a-f]{16}… \(pinned\)/);
  });

  it('documents the cluster refused are known dead letters, not missing', async () => {
    const s = config();
    expect((await runCliAsync(['setup', '--config', s.path])).status).toBe(0);
    // A mapping of this namespace's own (a template above ours, for this namespace only, so tests running beside
    // this one are not touched) that some documents cannot satisfy: key ids are hex, not numbers.
    const { index_templates } = await client.indices.getIndexTemplate({ name: 'logs-encedo_hem.audit' });
    const ours = index_templates[0]!.index_template;
    const name = `hemfwd-test-${s.ns}`;
    await client.indices.putIndexTemplate({
      name,
      index_patterns: [`logs-encedo_hem.audit-${s.ns}`],
      priority: 300,
      data_stream: {},
      composed_of: ours.composed_of,
      template: {
        ...ours.template,
        mappings: { properties: { encedo_hem: { properties: { key: { properties: { id: { type: 'long' } } } } } } },
      },
    } as never);
    try {
      const r = await runCliAsync(['run', '--once', '--config', s.path]);
      expect(r.status).toBe(1); // dead letters make the cycle exit 1
      const { result, report } = await audit(s);
      const [device] = report.devices;
      expect(device!.deadLetters).toBeGreaterThan(0);
      expect(findings(report)).toEqual([]);
      expect(result.status).toBe(0);
    } finally {
      await client.indices.deleteDataStream({ name: `logs-encedo_hem.audit-${s.ns}` });
      await client.indices.deleteIndexTemplate({ name });
    }
  });
});

describe('custody across interruptions and key rotation', () => {
  it("a crash between a file's documents and its digest leaves no gap: the file is collected again, its digest written once", async () => {
    const s = config();
    expect((await runCliAsync(['setup', '--config', s.path])).status).toBe(0);
    const stream = `logs-encedo_hem.custody-${s.ns}`;
    await client.indices.createDataStream({ name: stream });
    await client.indices.putSettings({ index: stream, settings: { 'index.blocks.write': true } });
    const child = spawn(process.execPath, [CLI, 'run', '--once', '--config', s.path], { stdio: 'ignore' });
    children.push(child);
    // The first file's documents are in; its digest is refused by the block and retried.
    const state = join(s.dir, 'state', 'hem1.json');
    await until(async () => {
      if (!existsSync(state)) return false;
      const collecting = (JSON.parse(readFileSync(state, 'utf8')) as { custody: { collecting: unknown[] } }).custody;
      return collecting.collecting.length > 0 && (await countDocs(client, `logs-encedo_hem.audit-${s.ns}`)) >= EVENTS;
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await client.indices.putSettings({ index: stream, settings: { 'index.blocks.write': false } });
    expect(await countDocs(client, stream)).toBe(0);
    await ingest(s);
    const chain = await digests(s.ns);
    expect(chain.map((d) => d._source.encedo_hem.custody.body.chain.position)).toEqual([0, 1, 2, 3]);
    const local = readdirSync(join(s.dir, 'state', 'digests')).flatMap((f) =>
      readFileSync(join(s.dir, 'state', 'digests', f), 'utf8')
        .trim()
        .split('\n'),
    );
    expect(local).toHaveLength(BOOTS);
    const { result, report } = await audit(s);
    expect(findings(report)).toEqual([]);
    expect(result.status).toBe(0);
  });

  it('custody rotate: a signed rotation digest names the next key; later digests verify with only the old key pinned', async () => {
    const sim = await HemSimulator.start({ passphrase: 'pw', masterPassphrase: 'm', boots: 3, authDelayMs: 5 });
    sims.push(sim);
    const ns = uniqueNamespace('r');
    const device =
      `  - name: hem1\n    url: ${sim.url}\n    passphrase: pw\n    tls: { fingerprint: "${sim.certSha256}" }\n` +
      `    logger_key: ${sim.device.loggerPublicKey.toString('base64')}\n    namespace: ${ns}\n`;
    const s = { ...config({ device }), ns };
    await ingest(s);
    const old = JSON.parse((await runCliAsync(['custody', 'key', '--config', s.path, '--json'])).stdout) as {
      publicKey: string;
      fingerprint: string;
    };
    const rotated = await runCliAsync(['custody', 'rotate', '--config', s.path]);
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/hem1: rotation digest at chain position 3/);
    const next = JSON.parse((await runCliAsync(['custody', 'key', '--config', s.path, '--json'])).stdout) as {
      fingerprint: string;
    };
    expect(next.fingerprint).not.toBe(old.fingerprint);
    sim.device.reboot();
    await ingest(s);
    const chain = await digests(ns);
    const signers = chain.map((d) => (d._source.encedo_hem.custody as SignedDigest).body.forwarder.key);
    expect(signers).toEqual([...Array(4).fill(old.fingerprint), next.fingerprint]);
    const r = await runCliAsync([
      ...['audit', '--elasticsearch', clusterUrl(), '--namespace', ns, '--public-key', old.publicKey, '--json'],
    ]);
    const report = JSON.parse(r.stdout) as AuditReport;
    expect(findings(report)).toEqual([]);
    expect(r.status).toBe(0);
    expect(report.keys).toEqual([
      { fingerprint: old.fingerprint, trust: 'pinned' },
      { fingerprint: next.fingerprint, trust: 'rotation' },
    ]);
  });
});

async function until(condition: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
