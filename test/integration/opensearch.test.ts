// The OpenSearch output against an unmodified engine (no Elasticsearch-client shims: the official Elasticsearch
// client is refused there), driven through the CLI as a user runs it.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@opensearch-project/opensearch';
import { afterAll, describe, expect, it } from 'vitest';
import { runCliAsync } from '../helpers/cli.js';
import { opensearchUrl, uniqueNamespace } from '../helpers/cluster.js';

const url = opensearchUrl();
const client = new Client({ node: url });
afterAll(async () => {
  await client.close();
});

function config(namespace: string, extra = ''): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-os-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    [
      `state_dir: ${join(dir, 'state')}`,
      'log: { level: warn, format: ecs }',
      'devices:',
      '  - name: sim',
      '    simulator: { seed: 5, boots: 3, events_per_boot: 40 }',
      `    namespace: ${namespace}`,
      'output:',
      '  type: opensearch',
      `  opensearch: { hosts: ["${url}"]${extra} }`,
      '',
    ].join('\n'),
  );
  return { path, dir };
}

async function count(index: string): Promise<number> {
  await client.indices.refresh({ index, ignore_unavailable: true } as never);
  const r = await client.count({ index, ignore_unavailable: true } as never);
  return (r.body as { count: number }).count;
}

const number = (text: string, re: RegExp) => Number(re.exec(text)?.[1]?.replaceAll(',', '') ?? Number.NaN);

describe('output.type: opensearch on an unmodified OpenSearch', () => {
  it('setup installs the templates and pipeline through the OpenSearch client; ISM missing is said', async () => {
    const { path } = config(uniqueNamespace('os'));
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
    const { path } = config(namespace);
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
    const { path } = config(uniqueNamespace('os'));
    writeFileSync(path, readFileSync(path, 'utf8').replace(url, 'http://127.0.0.1:9'));
    const r = await runCliAsync(['run', '--once', '--config', path]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/output: cannot read the cluster info: the cluster is unreachable/);
  });
});
