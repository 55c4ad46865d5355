import { Client as ElasticsearchClient, errors as esErrors } from '@elastic/elasticsearch';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterUrl, opensearchUrl, uniqueNamespace } from '../helpers/cluster.js';

// The plain engine (test/setup: `engine.mjs start --plain`) is stock OpenSearch 2.19 without the two shims the
// Elasticsearch client needs. These tests prove the shims are really off there, and that the OpenSearch client
// works against it unmodified. Everything about the engine itself is checked with plain fetch.

const VND_JSON = 'application/vnd.elasticsearch+json; compatible-with=8';
const VND_NDJSON = 'application/vnd.elasticsearch+x-ndjson; compatible-with=8';

const created: string[] = [];
afterAll(async () => {
  for (const index of created) {
    await fetch(`${opensearchUrl()}/${index}`, { method: 'DELETE' }).catch(() => {});
  }
});

function indexName(): string {
  const name = `plain-${uniqueNamespace()}`;
  created.push(name);
  return name;
}

describe('the plain engine', () => {
  it('is OpenSearch and sends no X-elastic-product header', async () => {
    const res = await fetch(`${opensearchUrl()}/`);
    expect(res.status).toBe(200);
    expect(res.headers.has('x-elastic-product')).toBe(false);
    const body = (await res.json()) as { version: { distribution?: string; number: string } };
    expect(body.version.distribution).toBe('opensearch');
    expect(body.version.number).toMatch(/^2\./);
    // Not on other routes either (the shim adds it to every handled request).
    const health = await fetch(`${opensearchUrl()}/_cluster/health`);
    expect(health.status).toBe(200);
    expect(health.headers.has('x-elastic-product')).toBe(false);
  });

  it('refuses the vnd.elasticsearch media types with 406, as stock OpenSearch does', async () => {
    const index = indexName();
    const doc = await fetch(`${opensearchUrl()}/${index}/_doc/1`, {
      method: 'PUT',
      headers: { 'content-type': VND_JSON },
      body: JSON.stringify({ a: 1 }),
    });
    expect(doc.status).toBe(406);
    expect(((await doc.json()) as { error: string }).error).toContain('application/vnd.elasticsearch+json');

    const bulk = await fetch(`${opensearchUrl()}/_bulk`, {
      method: 'POST',
      headers: { 'content-type': VND_NDJSON },
      body: `${JSON.stringify({ index: { _index: index } })}\n${JSON.stringify({ a: 1 })}\n`,
    });
    expect(bulk.status).toBe(406);
    await bulk.body?.cancel();

    // The same request with plain JSON is fine: the 406 is about the media type alone.
    const json = await fetch(`${opensearchUrl()}/${index}/_doc/1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(json.status).toBe(201);
    await json.body?.cancel();
  });

  it('while the shimmed engine accepts that media type and sends the header', async () => {
    // Contrast with the main engine (or a real Elasticsearch behind ELASTICSEARCH_URL): same request, accepted.
    const res = await fetch(`${clusterUrl()}/${uniqueNamespace('plain-contrast-')}/_doc/1?refresh=true`, {
      method: 'PUT',
      headers: { 'content-type': VND_JSON, accept: VND_JSON },
      body: JSON.stringify({ a: 1 }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-elastic-product')).toBe('Elasticsearch');
    const { _index } = (await res.json()) as { _index: string };
    await fetch(`${clusterUrl()}/${_index}`, { method: 'DELETE' });
  });

  it('serves the OpenSearch client: info, then an index/get roundtrip', async () => {
    const client = new OpenSearchClient({ node: opensearchUrl() });
    try {
      const info = await client.info();
      expect(info.statusCode).toBe(200);
      expect(info.body.version.distribution).toBe('opensearch');

      const index = indexName();
      const source = { message: 'hello plain engine', n: 42, tags: ['a', 'b'] };
      const put = await client.index({ index, id: 'doc-1', body: source, refresh: true });
      expect(put.statusCode).toBe(201);
      expect(put.body.result).toBe('created');

      const got = await client.get({ index, id: 'doc-1' });
      expect(got.statusCode).toBe(200);
      expect(got.body.found).toBe(true);
      expect(got.body._source).toEqual(source);

      const search = await client.search({ index, body: { query: { match: { message: 'plain' } } } });
      expect(search.body.hits.hits.map((h) => h._id)).toEqual(['doc-1']);
    } finally {
      await client.close();
    }
  });

  it('is refused by the Elasticsearch client (product check), so the shims really are off', async () => {
    const client = new ElasticsearchClient({ node: opensearchUrl() });
    try {
      // A 2xx without X-elastic-product: the client's product check rejects it.
      const info = client.info();
      await expect(info).rejects.toBeInstanceOf(esErrors.ProductNotSupportedError);
      // A request with a body: its vnd.elasticsearch Content-Type is refused by the engine (406).
      const indexed = client.index({ index: indexName(), id: '1', document: { a: 1 } });
      await expect(indexed).rejects.toMatchObject({ name: 'ResponseError', meta: { statusCode: 406 } });
    } finally {
      await client.close();
    }
  });
});
