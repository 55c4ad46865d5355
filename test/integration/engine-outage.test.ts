import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { startEngine, stopEngine } from '../engine/engine.mjs';
import { ElasticsearchTransport } from '../../src/sinks/elasticsearch/transport.js';
import { createElasticsearchClient } from '../../src/sinks/elasticsearch/client.js';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { bigFileDocs, indexThroughOutage } from '../helpers/big-file.js';
import { countDocs } from '../helpers/cluster.js';

// An engine of its own: this test stops and restarts it, which the shared one must never see.
// OUTAGE_ENGINE_PORT moves it off 9251 (two suites at once on one machine must not stop each other's).
const PORT = Number(process.env.OUTAGE_ENGINE_PORT || 9251);
const log = () => {};
afterAll(async () => {
  await stopEngine({ port: PORT, log });
});

describe('the engine goes away during indexing', () => {
  it('the sink retries until it is back; every document is indexed exactly once', async () => {
    await stopEngine({ port: PORT, log });
    const { url } = (await startEngine({ port: PORT, keepData: true, log })) as { url: string };
    const client = createElasticsearchClient({ hosts: [url], requestTimeoutMs: 5000 });
    await setupCluster(client);
    const docs = await bigFileDocs({ seed: 3, events: 12_000, segmentEvery: 2000, namespace: 'outage' });

    const { summary, retries } = await indexThroughOutage(new ElasticsearchTransport(client), docs, 2000, async () => {
      await stopEngine({ port: PORT, keepData: true, log });
      await new Promise((r) => setTimeout(r, 1500));
      await startEngine({ port: PORT, keepData: true, log });
    });
    expect(retries).toBeGreaterThan(0);
    expect(summary.written + summary.duplicates).toBe(docs.length);
    expect(summary.deadLettered).toBe(0);
    const index = 'logs-encedo_hem.audit-outage';
    expect(await countDocs(client, index)).toBe(docs.length);
    const ids = docs.map((d) => d._id);
    expect(await countDocs(client, index, { ids: { values: ids } })).toBe(new Set(ids).size);
    await client.close();
  }, 180_000); // two engine starts on 2 cores, more while other suites run
});
