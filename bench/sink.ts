/**
 * npm run bench:sink — documents/s through ElasticsearchBulkSink against a baseline that bulk-indexes the
 * same pre-serialized documents with the plain client (same batch size and concurrency), in one run,
 * after a warm-up round of both.
 * Uses ELASTICSEARCH_URL, or starts the test engine. Usage: node dist/bench/sink.js [documents]
 */
import { createHash } from 'node:crypto';
import type { Client } from '@elastic/elasticsearch';
import { RecordMapper, sourceJson } from '../src/ecs/map.js';
import { parseLogSync } from '../src/logfile/parse.js';
import { verifyLines } from '../src/logfile/verify.js';
import { LogWriter } from '../src/logfile/write.js';
import { ed25519PublicKey } from '../src/shared/ed25519.js';
import { ElasticsearchBulkSink } from '../src/sinks/elasticsearch/bulk-sink.js';
import { createElasticsearchClient } from '../src/sinks/elasticsearch/client.js';
import { setupCluster } from '../src/sinks/elasticsearch/setup.js';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { startEngine, stopEngine } from '../../test/engine/engine.mjs';

const N = Number(process.argv[2] ?? 100_000);
const BATCH = 2000;
const CONCURRENCY = 2;

let url = process.env.ELASTICSEARCH_URL;
let started = false;
if (!url) {
  const engine = (await startEngine({ log: () => {} })) as { url: string; reused: boolean };
  url = engine.url;
  started = !engine.reused;
}
const client = createElasticsearchClient({ hosts: [url] });
await setupCluster(client);

const secret = new Uint8Array(createHash('sha256').update('bench').digest());
const writer = new LogWriter({ signingKey: secret });
let text = LogWriter.header('Encedo nGINE FW v1.2.2') + writer.keyInit(new Uint8Array(32).fill(1), 1_700_000_000);
for (let i = 1; i < N; i++)
  text += writer.append({
    time: 1_700_000_000 + i,
    event: 20 + (i % 19),
    result: 0,
    subject: 'U',
    data: Buffer.alloc(16, i % 256).toString('base64url'),
  });
const records = verifyLines(parseLogSync(Buffer.from(text)), ed25519PublicKey(secret)).records;
const docsFor = (namespace: string) => {
  const mapper = new RecordMapper({
    device: { serial: 'bench' },
    fileId: 'f',
    header: null,
    namespace,
    created: new Date(),
  });
  return records.map((r) => mapper.map(r));
};
const run = `${Date.now().toString(36)}`;
const namespaces: string[] = [];

async function baseline(c: Client, round: number): Promise<number> {
  const ns = `base${run}r${round}`;
  namespaces.push(ns);
  const docs = docsFor(ns);
  const lines = docs.map((d) => [
    `{"create":{"_index":${JSON.stringify(d._index)},"_id":${JSON.stringify(d._id)}}}`,
    sourceJson(d),
  ]);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < lines.length) {
      const slice = lines.slice(next, (next += BATCH));
      const r = await c.bulk({ operations: slice.flat() });
      if (r.errors) throw new Error('baseline bulk had item errors');
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (performance.now() - t0) / 1000;
}

async function throughSink(c: Client, round: number): Promise<number> {
  const ns = `sink${run}r${round}`;
  namespaces.push(ns);
  const docs = docsFor(ns);
  const t0 = performance.now();
  const sink = new ElasticsearchBulkSink({
    client: c,
    deadLetterFile: '/dev/null',
    flushCount: BATCH,
    flushBytes: 64 * 1024 * 1024,
    concurrency: CONCURRENCY,
  });
  const unit = sink.open('bench');
  for (const d of docs) await unit.write(d);
  const summary = await unit.end();
  await sink.close();
  if (summary.written !== docs.length) throw new Error(`sink wrote ${summary.written} of ${docs.length}`);
  return (performance.now() - t0) / 1000;
}

// Round 0 warms the engine and both code paths (JIT, first segments); round 1 is measured.
await baseline(client, 0);
await throughSink(client, 0);
const base = await baseline(client, 1);
const sink = await throughSink(client, 1);
const rate = (s: number) => Math.round(N / s);
console.log(
  `bench:sink  ${N.toLocaleString('en-US')} documents, batches of ${BATCH}, ${CONCURRENCY} requests in flight, ${url}`,
);
console.log(
  `baseline (plain client, pre-serialized): ` +
    `${rate(base).toLocaleString('en-US').padStart(10)} docs/s  (${base.toFixed(2)} s)`,
);
console.log(
  `ElasticsearchBulkSink:                   ` +
    `${rate(sink).toLocaleString('en-US').padStart(10)} docs/s  (${sink.toFixed(2)} s)`,
);
console.log(`ratio sink/baseline:                     ${(rate(sink) / rate(base)).toFixed(3)}  (target >= 0.9)`);
for (const ns of namespaces) await client.indices.deleteDataStream({ name: `logs-encedo_hem.audit-${ns}` });
await client.close();
if (started) await stopEngine({ log: () => {} });
