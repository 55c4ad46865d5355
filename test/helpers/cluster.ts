import { randomBytes } from 'node:crypto';
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
