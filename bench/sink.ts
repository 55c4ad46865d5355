/**
 * npm run bench:sink — documents/s through the bulk sink against a baseline that bulk-indexes the same
 * pre-serialized documents with the plain client (same batch size and concurrency), in one run, after a
 * warm-up round of both; for each output: the Elasticsearch sink against the plain @elastic/elasticsearch
 * client on the shimmed test engine, and the OpenSearch sink against the plain @opensearch-project/opensearch
 * client on an unmodified (plain) engine.
 * Uses ELASTICSEARCH_URL and OPENSEARCH_URL, or starts the test engines (ports 9250 and 9273).
 * Usage: node dist/bench/sink.js [documents]
 */
import { createHash } from 'node:crypto';
import { RecordMapper, sourceJson } from '../src/ecs/map.js';
import { parseLogSync } from '../src/logfile/parse.js';
import { verifyLines } from '../src/logfile/verify.js';
import { LogWriter } from '../src/logfile/write.js';
import { ed25519PublicKey } from '../src/shared/ed25519.js';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { ElasticsearchTransport } from '../src/sinks/elasticsearch/transport.js';
import type { BulkTransport } from '../src/sinks/search/transport.js';
import { createOpenSearchClient } from '../src/sinks/opensearch/client.js';
import { openSearchRest } from '../src/sinks/opensearch/rest.js';
import { OpenSearchTransport } from '../src/sinks/opensearch/transport.js';
import { SearchBulkSink } from '../src/sinks/search/bulk-sink.js';
import { setupEngine } from '../src/sinks/search/setup.js';
import { createElasticsearchClient } from '../src/sinks/elasticsearch/client.js';
import { setupCluster } from '../src/sinks/elasticsearch/setup.js';
// @ts-expect-error: a dependency-free .mjs script without type declarations
import { startEngine, stopEngine } from '../../test/engine/engine.mjs';

const N = Number(process.argv[2] ?? 100_000);
const BATCH = 2000;
const CONCURRENCY = 2;

const OS_PORT = 9273;
let url = process.env.ELASTICSEARCH_URL;
let osUrl = process.env.OPENSEARCH_URL;
let started = false;
let osStarted = false;
if (!url) {
  const engine = (await startEngine({ log: () => {} })) as { url: string; reused: boolean };
  url = engine.url;
  started = !engine.reused;
}
if (!osUrl) {
  const engine = (await startEngine({ port: OS_PORT, plain: true, log: () => {} })) as { url: string; reused: boolean };
  osUrl = engine.url;
  osStarted = !engine.reused;
}
const client = createElasticsearchClient({ hosts: [url] });
await setupCluster(client);
const osClient = createOpenSearchClient({ hosts: [osUrl] });
await setupEngine(openSearchRest(osClient));

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

/**
 * The plain client's bulk: `bulk` sends one request of NDJSON lines and says whether any item failed. Returns
 * seconds. `prefix` names the round's data stream, kept in `streams` for the cleanup.
 */
async function baseline(
  bulk: (lines: string[]) => Promise<boolean>,
  prefix: string,
  streams: string[],
  round: number,
): Promise<number> {
  const ns = `${prefix}base${run}r${round}`;
  streams.push(ns);
  const lines = docsFor(ns).map((d) => [
    `{"create":{"_index":${JSON.stringify(d._index)},"_id":${JSON.stringify(d._id)}}}`,
    sourceJson(d),
  ]);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < lines.length) {
      if (await bulk(lines.slice(next, (next += BATCH)).flat()))
        throw new Error(`${prefix} baseline bulk had item errors`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (performance.now() - t0) / 1000;
}

/** The sink core over `transport`, with the baseline's batch size and concurrency. Returns seconds. */
async function throughSink(
  transport: BulkTransport,
  prefix: string,
  streams: string[],
  round: number,
): Promise<number> {
  const ns = `${prefix}sink${run}r${round}`;
  streams.push(ns);
  const docs = docsFor(ns);
  const t0 = performance.now();
  const sink = new SearchBulkSink({
    transport,
    deadLetterFile: '/dev/null',
    flushCount: BATCH,
    flushBytes: 64 * 1024 * 1024,
    concurrency: CONCURRENCY,
  });
  const unit = sink.open('bench');
  for (const d of docs) await unit.write(d);
  const summary = await unit.end();
  await sink.close();
  if (summary.written !== docs.length) throw new Error(`${prefix} sink wrote ${summary.written} of ${docs.length}`);
  return (performance.now() - t0) / 1000;
}

const esBulk = async (lines: string[]) => (await client.bulk({ operations: lines })).errors;
const osBulk = async (lines: string[]) =>
  ((await osClient.bulk({ body: `${lines.join('\n')}\n` } as never)).body as { errors: boolean }).errors;
const esTransport = new ElasticsearchTransport(client);
const osTransport = new OpenSearchTransport(osClient);
const osNamespaces: string[] = [];

// Round 0 warms the engine and both code paths (JIT, first segments); round 1 is measured.
await baseline(esBulk, 'es', namespaces, 0);
await throughSink(esTransport, 'es', namespaces, 0);
const base = await baseline(esBulk, 'es', namespaces, 1);
const sink = await throughSink(esTransport, 'es', namespaces, 1);
await baseline(osBulk, 'os', osNamespaces, 0);
await throughSink(osTransport, 'os', osNamespaces, 0);
const osBase = await baseline(osBulk, 'os', osNamespaces, 1);
const osSink = await throughSink(osTransport, 'os', osNamespaces, 1);
const rate = (s: number) => Math.round(N / s);
const line = (name: string, seconds: number) =>
  `${name.padEnd(42)}${rate(seconds).toLocaleString('en-US').padStart(10)} docs/s  (${seconds.toFixed(2)} s)`;
console.log(
  `bench:sink  ${N.toLocaleString('en-US')} documents, batches of ${BATCH}, ${CONCURRENCY} requests in flight`,
);
console.log(`Elasticsearch output (${url}, the shimmed engine):`);
console.log(line('  baseline (plain @elastic/elasticsearch):', base));
console.log(line('  sink (ElasticsearchTransport):', sink));
console.log(`  ratio sink/baseline: ${(rate(sink) / rate(base)).toFixed(3)}  (target >= 0.9)`);
console.log(`OpenSearch output (${osUrl}, an unmodified engine):`);
console.log(line('  baseline (plain @opensearch-project/opensearch):', osBase));
console.log(line('  sink (same core, OpenSearchTransport):', osSink));
console.log(`  ratio sink/baseline: ${(rate(osSink) / rate(osBase)).toFixed(3)}  (target >= 0.9)`);
for (const ns of namespaces) await client.indices.deleteDataStream({ name: `logs-encedo_hem.audit-${ns}` });
const plainOs = new OpenSearchClient({ node: osUrl });
for (const ns of osNamespaces)
  await plainOs.indices.deleteDataStream({ name: `logs-encedo_hem.audit-${ns}` } as never).catch(() => undefined);
await plainOs.close();
await osClient.close();
await client.close();
if (started) await stopEngine({ log: () => {} });
if (osStarted) await stopEngine({ port: OS_PORT, log: () => {} });
