import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { startEngine, stopEngine } from '../engine/engine.mjs';
import { RecordMapper } from '../../src/ecs/map.js';
import { parseLogSync } from '../../src/logfile/parse.js';
import { verifyLines } from '../../src/logfile/verify.js';
import { ElasticsearchBulkSink } from '../../src/sinks/elasticsearch/bulk-sink.js';
import { createElasticsearchClient } from '../../src/sinks/elasticsearch/client.js';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { SimulatedDevice } from '../../src/simulator/device.js';
import { countDocs } from '../helpers/cluster.js';

// An engine of its own: this test stops and restarts it, which the shared one must never see.
const PORT = 9251;
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
    const device = await SimulatedDevice.create({
      passphrase: 'p',
      masterPassphrase: 'm',
      boots: 1,
      eventsPerBoot: 12_000,
      segmentEvery: 2000,
      seed: 3,
    });
    const { records } = verifyLines(
      parseLogSync(Buffer.from(device.fileText(device.fileIds()[0]!)!, 'latin1')),
      device.loggerPublicKey,
    );
    const mapper = new RecordMapper({
      device: { serial: device.serial },
      fileId: 'f',
      header: null,
      namespace: 'outage',
      created: new Date(),
    });
    const docs = records.map((r) => mapper.map(r));

    const sink = new ElasticsearchBulkSink({
      client,
      deadLetterFile: '/dev/null',
      flushCount: 300,
      concurrency: 2,
      retryBaseMs: 100,
      retryMaxMs: 1000,
    });
    const unit = sink.open('big file');
    let outage: Promise<void> | null = null;
    for (const doc of docs) {
      await unit.write(doc);
      if (outage === null && sink.stats.written > 2000) {
        outage = (async () => {
          await stopEngine({ port: PORT, keepData: true, log });
          await new Promise((r) => setTimeout(r, 1500));
          await startEngine({ port: PORT, keepData: true, log });
        })();
      }
    }
    const summary = await unit.end();
    await outage;
    await sink.close();
    expect(sink.stats.retries).toBeGreaterThan(0);
    expect(summary.written + summary.duplicates).toBe(docs.length);
    expect(summary.deadLettered).toBe(0);
    const index = 'logs-encedo_hem.audit-outage';
    expect(await countDocs(client, index)).toBe(docs.length);
    const ids = docs.map((d) => d._id);
    expect(await countDocs(client, index, { ids: { values: ids } })).toBe(new Set(ids).size);
    await client.close();
  });
});
