import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@elastic/elasticsearch';
import { inject } from 'vitest';
import { createElasticsearchClient } from '../../src/sinks/elasticsearch/client.js';

export function clusterUrl(): string {
  return inject('elasticsearchUrl');
}

export function testClient(url = clusterUrl()): Client {
  return createElasticsearchClient({ hosts: [url] });
}

/** A namespace of its own for each test, so data streams never collide between tests. */
export function uniqueNamespace(prefix = 't'): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export async function countDocs(client: Client, index: string, query?: object): Promise<number> {
  await client.indices.refresh({ index, ignore_unavailable: true });
  return (await client.count({ index, ignore_unavailable: true, ...(query ? { query } : {}) } as never)).count;
}

/** The plain engine (stock OpenSearch, no Elasticsearch-client shims) for the OpenSearch client; see test/setup. */
export function opensearchUrl(): string {
  return inject('opensearchUrl');
}

/**
 * A config (in a directory of its own) for one in-process simulated device writing into `namespace` of the
 * unmodified engine through the OpenSearch output.
 */
export function openSearchSimConfig(
  namespace: string,
  options: { device?: string; simulator?: string; level?: string; output?: string } = {},
): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-os-'));
  const path = join(dir, 'config.yaml');
  writeFileSync(
    path,
    [
      `state_dir: ${join(dir, 'state')}`,
      `log: { level: ${options.level ?? 'warn'}, format: ecs }`,
      'devices:',
      `  - name: ${options.device ?? 'sim'}`,
      `    simulator: ${options.simulator ?? '{ seed: 5, boots: 3, events_per_boot: 40 }'}`,
      `    namespace: ${namespace}`,
      'output:',
      '  type: opensearch',
      `  opensearch: { hosts: ["${opensearchUrl()}"]${options.output ?? ''} }`,
      '',
    ].join('\n'),
  );
  return { path, dir };
}
