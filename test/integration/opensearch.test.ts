// The OpenSearch output against an unmodified engine (no Elasticsearch-client shims: the official Elasticsearch
// client is refused there), driven through the CLI as a user runs it.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@opensearch-project/opensearch';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../../src/audit/report.js';
import { runCliAsync } from '../helpers/cli.js';
import { openSearchSimConfig, opensearchUrl, uniqueNamespace } from '../helpers/cluster.js';

const url = opensearchUrl();
const client = new Client({ node: url });
afterAll(async () => {
  await client.close();
});

async function count(index: string): Promise<number> {
  await client.indices.refresh({ index, ignore_unavailable: true } as never);
  const r = await client.count({ index, ignore_unavailable: true } as never);
  return (r.body as { count: number }).count;
}

const number = (text: string, re: RegExp) => Number(re.exec(text)?.[1]?.replaceAll(',', '') ?? Number.NaN);

describe('output.type: opensearch on an unmodified OpenSearch', () => {
  it('setup installs the templates and pipeline through the OpenSearch client; ISM missing is said', async () => {
    const { path } = openSearchSimConfig(uniqueNamespace('os'));
    const dry = await runCliAsync(['setup', '--config', path, '--dry-run']);
    expect(dry.status, dry.stderr).toBe(0);
    const r = await runCliAsync(['setup', '--config', path]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^opensearch 2\.\d+\.\d+: /m);
    // The test engine has no Index State Management plugin: retention is not silently assumed.
    expect(r.stdout).toMatch(/SKIP ism_policy logs-encedo_hem: .*retention is NOT enforced/);
    const templates = await client.indices.getIndexTemplate({ name: 'logs-encedo_hem.*' } as never);
    const names = (templates.body as { index_templates: { name: string }[] }).index_templates.map((t) => t.name);
    expect(names.sort()).toEqual([
      'logs-encedo_hem.audit',
      'logs-encedo_hem.custody',
      'logs-encedo_hem.deadletter',
      'logs-encedo_hem.integrity',
    ]);
    const again = await runCliAsync(['setup', '--config', path]);
    expect(again.stdout).toMatch(/0 created, 0 updated/);
  });

  it('run --once collects every record once; a rerun from scratch finds them all already there', async () => {
    const namespace = uniqueNamespace('os');
    const { path } = openSearchSimConfig(namespace);
    const first = await runCliAsync(['run', '--once', '--config', path]);
    expect(first.status, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/output: OpenSearch http:\/\/127\.0\.0\.1:\d+ \(data streams/);
    const records = number(first.stdout, /\); ([\d,]+) records/);
    expect(records).toBeGreaterThan(100);
    expect(await count(`logs-encedo_hem.audit-${namespace}`)).toBe(records);
    // One signed custody digest per file, in the same cluster.
    expect(await count(`logs-encedo_hem.custody-${namespace}`)).toBe(3);
    // Forget the checkpoints: every document comes again and is found already there (create + 409).
    const reset = await runCliAsync(['state', 'reset', 'sim', '--config', path]);
    expect(reset.status).toBe(0);
    const second = await runCliAsync(['run', '--once', '--config', path]);
    expect(second.status, second.stdout + second.stderr).toBe(0);
    // Written again: only a status document and the three files' digests of the chain that starts over.
    expect(number(second.stdout, /documents: ([\d,]+) written/)).toBe(4);
    expect(number(second.stdout, /([\d,]+) already there/)).toBeGreaterThanOrEqual(records);
    expect(await count(`logs-encedo_hem.audit-${namespace}`)).toBe(records);
  });

  it('an unreachable cluster at start is one line naming the output, exit 1', async () => {
    const { path } = openSearchSimConfig(uniqueNamespace('os'));
    writeFileSync(path, readFileSync(path, 'utf8').replace(url, 'http://127.0.0.1:9'));
    const r = await runCliAsync(['run', '--once', '--config', path]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/output: cannot read the cluster info: the cluster is unreachable/);
  });

  it('audit proves what run wrote intact, and finds a deleted and an altered document', async () => {
    const namespace = uniqueNamespace('os');
    const { path } = openSearchSimConfig(namespace);
    const run = await runCliAsync(['run', '--once', '--config', path]);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    const audit = async () => {
      const r = await runCliAsync(['audit', '--config', path, '--namespace', namespace, '--json']);
      return { status: r.status, stderr: r.stderr, report: JSON.parse(r.stdout) as AuditReport };
    };
    const clean = await audit();
    expect(clean.status, clean.stderr).toBe(0);
    expect(clean.report.intact).toBe(true);
    expect(clean.report.source).toMatch(/^OpenSearch http:\/\/127\.0\.0\.1:\d+$/);
    const records = await count(`logs-encedo_hem.audit-${namespace}`);
    expect(clean.report.devices[0]).toMatchObject({ device: 'sim', files: 3, documents: records, verified: records });
    expect(clean.report.devices[0]!.chain).toMatchObject({ first: 0, last: 2, digests: 3 });

    // Someone with write access deletes one event and rewrites another in a backing index.
    const index = `logs-encedo_hem.audit-${namespace}`;
    const hits = (
      await client.search({
        index,
        body: { query: { match_all: {} }, sort: [{ 'encedo_hem.log.line': 'asc' }], size: 60 },
      } as never)
    ).body as { hits: { hits: { _id: string; _index: string; _source: Record<string, any> }[] } };
    const [gone, changed] = [hits.hits.hits[10]!, hits.hits.hits[50]!];
    await client.delete({ index: gone._index, id: gone._id, refresh: true } as never);
    await client.update({
      index: changed._index,
      id: changed._id,
      body: { doc: { event: { outcome: changed._source.event.outcome === 'success' ? 'failure' : 'success' } } },
      refresh: true,
    } as never);
    const tampered = await audit();
    expect(tampered.status).toBe(1);
    const kinds = tampered.report.devices.flatMap((d) => d.findings.map((f) => f.kind));
    expect(kinds).toContain('document_missing');
    expect(kinds).toContain('document_altered');
  });

  it('import --opensearch URL indexes the vendor log; importing again adds nothing', async () => {
    const namespace = uniqueNamespace('os');
    const key = JSON.parse(readFileSync('test/vectors/docs-logger-key.json', 'utf8')).key as string;
    const log = 'test/vectors/docs-log-62310ba5.log';
    const args = ['import', '--opensearch', url, '--key', key, '--serial', '4e95d079', '--namespace', namespace, log];
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-os-import-'));
    const first = await runCliAsync([...args, '--dead-letter-file', join(dir, 'dl.ndjson')]);
    expect(first.status, first.stdout + first.stderr).toBe(0);
    const n = await count(`logs-encedo_hem.audit-${namespace}`);
    expect(n).toBeGreaterThan(0);
    // Every record, plus the file's integrity record.
    expect(first.stdout).toContain(`${log}: valid; ${n}/${n} records verified; ${n + 1} written, 0 already indexed`);
    const second = await runCliAsync([...args, '--dead-letter-file', join(dir, 'dl.ndjson')]);
    expect(second.stdout).toContain(`0 written, ${n + 1} already indexed, 0 dead-lettered`);
    expect(await count(`logs-encedo_hem.integrity-${namespace}`)).toBe(1);
  });

  it('import and audit name an unreachable OpenSearch in one line, exit 2', async () => {
    const key = JSON.parse(readFileSync('test/vectors/docs-logger-key.json', 'utf8')).key as string;
    const log = 'test/vectors/docs-log-62310ba5.log';
    const bad = 'http://admin:s3cret@127.0.0.1:9';
    const imp = await runCliAsync(['import', '--opensearch', bad, '--key', key, '--serial', 'x', log]);
    expect(imp.status).toBe(2);
    expect(imp.stderr).toMatch(/import: OpenSearch http:\/\/\*\*\*@127\.0\.0\.1:9: unreachable/);
    const aud = await runCliAsync(['audit', '--opensearch', bad, '--public-key', key]);
    expect(aud.status).toBe(2);
    expect(aud.stderr).toMatch(/audit: cannot reach OpenSearch http:\/\/\*\*\*@127\.0\.0\.1:9/);
    expect(imp.stderr + aud.stderr).not.toContain('s3cret');
  });
});
