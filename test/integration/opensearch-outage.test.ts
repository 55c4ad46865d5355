// The OpenSearch output's sink core through the OpenSearch client while the (unmodified) engine goes away and
// comes back: retried until stored, every document exactly once. The same story as engine-outage.test.ts tells
// for the Elasticsearch client, on an engine of its own (this test stops and restarts it).
import { Client } from '@opensearch-project/opensearch';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { startEngine, stopEngine } from '../engine/engine.mjs';
import { createOpenSearchClient } from '../../src/sinks/opensearch/client.js';
import { openSearchRest } from '../../src/sinks/opensearch/rest.js';
import { OpenSearchTransport } from '../../src/sinks/opensearch/transport.js';
import { bigFileDocs, indexThroughOutage } from '../helpers/big-file.js';
import { setupEngine } from '../../src/sinks/search/setup.js';

const PORT = Number(process.env.OPENSEARCH_OUTAGE_ENGINE_PORT || 9254);
const engine = { port: PORT, plain: true, keepData: true, log: () => {} };
afterAll(async () => {
  await stopEngine(engine);
});

describe('the OpenSearch engine goes away during indexing', () => {
  it('the sink retries until it is back; every document is indexed exactly once', async () => {
    await stopEngine(engine);
    const { url } = (await startEngine({ ...engine, keepData: false })) as { url: string };
    const client = createOpenSearchClient({ hosts: [url], requestTimeoutMs: 5000 });
    const { engine: info } = await setupEngine(openSearchRest(client));
    expect(info.kind).toBe('opensearch');
    const docs = await bigFileDocs({ seed: 4, events: 8000, namespace: 'osoutage' });
    const { summary, retries } = await indexThroughOutage(new OpenSearchTransport(client), docs, 1500, async () => {
      await stopEngine(engine);
      await new Promise((r) => setTimeout(r, 1500));
      await startEngine(engine);
    });
    expect(retries).toBeGreaterThan(0);
    expect(summary.written + summary.duplicates).toBe(docs.length);
    expect(summary.deadLettered).toBe(0);
    const plain = new Client({ node: url });
    await plain.indices.refresh({ index: 'logs-encedo_hem.audit-osoutage' } as never);
    const ids = docs.map((d) => d._id);
    const counted = await plain.count({ index: 'logs-encedo_hem.audit-osoutage' } as never);
    expect((counted.body as { count: number }).count).toBe(new Set(ids).size);
    await plain.close();
    await client.close();
  }, 180_000); // two engine starts of ~20 s each on 2 cores
});
