/**
 * Documents audited per second by `hem-forwarder audit --config FILE` (the built CLI in a process of its own,
 * run as a user runs it) over the audit documents that `run --once` wrote into a search engine, against a
 * baseline measured in the same run over the same documents: the engine's plain `search_after` read, file by
 * file with the audit's query, sort and page size, from this process. The ratio (audit rate / plain-read
 * rate) is how much of the engine's read speed the audit keeps: the rest is the digest chain, the tag and
 * document checks, and the process start.
 *
 *   npm run bench:audit -- [--records 100000] [--elasticsearch URL]
 *
 * The engine is --elasticsearch, else ELASTICSEARCH_URL, else the test engine started on port 9271 (and
 * stopped at the end). Each run writes to a namespace of its own. Exits 1 unless the audit says intact.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@elastic/elasticsearch';
import { createElasticsearchClient } from '../src/sinks/elasticsearch/client.js';
import { CLI, benchCluster, nodeFlags, runTimed } from './child.js';

/** One closed log file per boot: the documents spread over this many files, as on a device that rebooted. */
const FILES = 10;
/** As src/audit/cluster-reader.ts reads a file's documents. */
const PAGE = 1000;
const LINE = 'encedo_hem.log.line';
const SERIAL = 'observer.serial_number';
const FILE_ID = 'encedo_hem.log.file_id';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    elasticsearch: { type: 'string' },
    'engine-port': { type: 'string', default: '9271' },
  },
});
const records = Number(values.records);
if (!Number.isInteger(records) || records < FILES) throw new Error(`--records ${values.records}: a whole number >= 10`);
const cli = (args: string[], stdout: 'pipe' | 'ignore' = 'ignore') => runTimed([CLI, ...args], { stdout });
const n = (x: number) => Math.round(x).toLocaleString('en-US');

/** Every (serial, file id) with audit documents in the index, as the audit learns them from the digests. */
async function filesIn(client: Client, index: string): Promise<{ serial: string; fileId: string }[]> {
  const r = await client.search({
    index,
    size: 0,
    aggs: {
      serials: { terms: { field: SERIAL, size: 100 }, aggs: { files: { terms: { field: FILE_ID, size: 10_000 } } } },
    },
  });
  type Buckets = { buckets: { key: string; files?: Buckets }[] };
  const serials = (r.aggregations as { serials: Buckets } | undefined)?.serials.buckets ?? [];
  return serials.flatMap((s) => (s.files?.buckets ?? []).map((f) => ({ serial: s.key, fileId: f.key })));
}

/** The baseline: each file's documents in line order, a page of PAGE at a time with `search_after`. */
async function plainRead(client: Client, index: string, files: { serial: string; fileId: string }[]): Promise<number> {
  let documents = 0;
  for (const { serial, fileId } of files) {
    const query = {
      bool: { filter: [{ term: { [SERIAL]: serial } }, { term: { [FILE_ID]: fileId } }, { exists: { field: LINE } }] },
    };
    let after: unknown[] | undefined;
    for (;;) {
      const r = await client.search({
        index,
        query,
        sort: [{ [LINE]: 'asc' }],
        size: PAGE,
        track_total_hits: false,
        ...(after ? { search_after: after as never } : {}),
      });
      const hits = r.hits.hits;
      documents += hits.length;
      if (hits.length < PAGE) break;
      after = hits.at(-1)!.sort as unknown[];
    }
  }
  return documents;
}

const cluster = await benchCluster(values.elasticsearch ?? process.env.ELASTICSEARCH_URL, values['engine-port']);
const url = cluster.url;
const dir = mkdtempSync(join(tmpdir(), 'hemfwd-bench-audit-'));
const namespace = `bench_audit_${Date.now()}`;
const index = `logs-encedo_hem.audit-${namespace}`;
// The forwarder's own client and options (the audit builds its client the same way).
const client = createElasticsearchClient({ hosts: [url] });
try {
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `state_dir: ${JSON.stringify(join(dir, 'state'))}`,
      'log: { level: warn }',
      'devices:',
      '  - name: bench',
      `    simulator: { seed: 1, boots: ${FILES}, events_per_boot: ${Math.ceil(records / FILES)} }`,
      `    namespace: ${namespace}`,
      'output:',
      '  type: elasticsearch',
      `  elasticsearch: { hosts: [${JSON.stringify(url)}], setup: true }`,
      '',
    ].join('\n'),
  );
  console.log(`collecting ${n(records)} records in ${FILES} files into ${url} (namespace ${namespace})...`);
  const run = await cli(['run', '--once', '--config', config]);
  if (run.code !== 0) throw new Error(`run --once exited with ${run.code}`);
  console.log(`  run --once: ${run.seconds.toFixed(1)} s`);
  await client.indices.refresh({ index: `logs-encedo_hem.*-${namespace}` });
  const documents = (await client.count({ index })).count;
  const files = await filesIn(client, index);

  // An untimed read first, so that neither measured reader finds the engine's caches cold and the other warm.
  await plainRead(client, index, files);

  const audit = await cli(['audit', '--config', config, '--namespace', namespace, '--json'], 'pipe');
  let intact = false;
  let audited = 0;
  try {
    const report = JSON.parse(audit.stdout) as { intact: boolean; devices: { documents: number }[] };
    intact = report.intact;
    audited = report.devices.reduce((a, d) => a + d.documents, 0);
  } catch {
    console.error(`audit printed no JSON report:\n${audit.stdout.slice(0, 2000)}`);
  }

  const started = process.hrtime.bigint();
  const read = await plainRead(client, index, files);
  const plainSeconds = Number(process.hrtime.bigint() - started) / 1e9;

  const auditRate = audited / audit.seconds;
  const plainRate = read / plainSeconds;
  const mb = (b: number) => (b > 0 ? `${(b / 1024 / 1024).toFixed(0)} MB` : 'n/a (no /proc)');
  console.log(`audit of ${files.length} files, ${n(documents)} audit documents in ${index}:`);
  console.log(
    `  audit (hem-forwarder audit --config, node ${nodeFlags.join(' ')}): ${n(audited)} documents, ` +
      `${audit.seconds.toFixed(2)} s, ${n(auditRate)} docs/s, exit ${audit.code} ` +
      `(${intact ? 'intact' : 'NOT intact'}), peak RSS ${mb(audit.peak)}`,
  );
  console.log(
    `  plain search_after read (page ${PAGE}, per file): ${n(read)} documents, ${plainSeconds.toFixed(2)} s, ` +
      `${n(plainRate)} docs/s`,
  );
  console.log(`  ratio audit/plain read: ${(auditRate / plainRate).toFixed(2)}`);
  if (audited !== documents || read !== documents) {
    console.error(`document counts differ: ${n(documents)} in the index, audit ${n(audited)}, plain read ${n(read)}`);
    process.exitCode = 1;
  }
  if (audit.code !== 0 || !intact) {
    console.error(`the audit did not say intact (exit ${audit.code})`);
    process.exitCode = 1;
  }
} finally {
  // A shared cluster keeps nothing of the bench; the engine started here goes away with its data.
  if (cluster.shared) {
    await client.indices
      .deleteDataStream({ name: `logs-encedo_hem.*-${namespace}` })
      .catch((err: Error) => console.error(`could not delete the bench data streams: ${err.message}`));
  }
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  await cluster.stop();
}
