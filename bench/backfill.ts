/**
 * End-to-end backfill throughput: `hem-forwarder run --once` (the built CLI in a process of its own, with the
 * node flags of its `#!` line) collecting 30 closed log files of 2,000 records each from the simulator (also
 * a process of its own) into a search engine, against a baseline measured in the same run on the same engine:
 * the very audit documents the forwarder wrote (those of its first run, read back into memory before anything
 * is timed), bulk-indexed by the plain client into a fresh data stream of the same template family (`create`
 * actions, batches of the forwarder's default flush_count, as many requests in flight as its default
 * concurrency, compression as its default would choose for the URL). The ratio (forwarder docs/s / plain bulk
 * docs/s) is how much of the engine's indexing speed the forwarder keeps end to end: the rest is the device
 * requests, the verification and mapping, the checkpoints, and the process start. The forwarder's peak RSS is
 * sampled from /proc.
 *
 * One pair of runs says little on a small machine: the engine's own CPU for the same documents varies by a
 * third from run to run (merges, its JIT, its GC). So --rounds pairs are measured and the target holds for the
 * median of their ratios. The order within a pair alternates (run --once first, then the plain bulk first),
 * because the engine keeps warming up over the first rounds and whichever writer always went first would
 * always meet it colder. Each phase starts once the machine has settled (nearly idle), so that neither pays
 * for the other's background work.
 *
 *   npm run bench:backfill -- [--files 30] [--records 2000] [--warmup 2] [--rounds 5] [--elasticsearch URL]
 *
 * The engine is --elasticsearch, else ELASTICSEARCH_URL, else the test engine started on port 9272 (and
 * stopped at the end). Before the measured run, --warmup untimed `run --once` rounds (into a namespace of
 * their own) warm the engine, so that neither measured writer meets it cold. Each run writes to namespaces of
 * its own, deleted at the end unless the engine goes away with them. Exits 1 if `run --once` fails or the
 * document counts differ.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compressionPays } from '../src/app/cluster.js';
import type { Client } from '@elastic/elasticsearch';
import { createElasticsearchClient } from '../src/sinks/elasticsearch/client.js';
import {
  CLI,
  type Finished,
  SIM_PASSPHRASE,
  type Simulator,
  benchCluster,
  cpuSeconds,
  nodeFlags,
  runTimed,
  startSimulator,
  stopSimulator,
} from './child.js';

/** The forwarder's defaults (src/config/defaults.ts): output.elasticsearch.flush_count and concurrency. */
const FLUSH_COUNT = 5000;
const CONCURRENCY = 2;
/** Documents per page when reading the forwarder's documents back (before anything is timed). */
const PAGE = 5000;
const TARGET_RATIO = 0.8;
const TARGET_RSS_MB = 200;
/** Enough for every file of the default run (30 x 2.7 MB). */
const SIM_CACHE_MB = 256;

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '30' },
    records: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    elasticsearch: { type: 'string' },
    'engine-port': { type: 'string', default: '9272' },
  },
});
const whole = (name: string, value: string, min: number): number => {
  const x = Number(value);
  if (!Number.isSafeInteger(x) || x < min) throw new Error(`--${name} ${value}: a whole number >= ${min}`);
  return x;
};
const files = whole('files', values.files, 1);
const perFile = whole('records', values.records, 1);
const warmups = whole('warmup', values.warmup, 0);
const rounds = whole('rounds', values.rounds, 1);
const cli = (args: string[]) => runTimed([CLI, ...args], { stdout: 'pipe', env: { BENCH_PW: SIM_PASSPHRASE } });
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const mb = (b: number) => (b > 0 ? `${(b / 1024 / 1024).toFixed(0)} MB` : 'n/a (no /proc)');

/**
 * CPU seconds the whole machine has spent busy and in all, from /proc/stat (zeros where there is none): the
 * engine's share of a phase is the machine's busy time less the forwarder's and the simulator's.
 */
function machineCpu(): { busy: number; total: number } {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { busy: (total - ticks[3]! - ticks[4]!) / 100, total: total / 100 };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/**
 * Waits (at most 20 s) until the machine is nearly idle for half a second: the engine's background work of
 * the previous phase (merges, refreshes, its GC) would otherwise land in the next one's time, on either side.
 */
async function settle(): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const before = machineCpu();
    await new Promise((r) => setTimeout(r, 500));
    const { share } = machineUse(before);
    if (share < 0.15) return;
  }
}

function machineUse(before: { busy: number; total: number }): { busy: number; share: number } {
  const after = machineCpu();
  const total = after.total - before.total;
  return { busy: after.busy - before.busy, share: total > 0 ? (after.busy - before.busy) / total : 0 };
}

/** A config for one device at the simulator, writing into `namespace` with templates installed at start. */
function writeConfig(dir: string, sim: Simulator, url: string, namespace: string): string {
  const path = join(dir, `${namespace}.yaml`);
  writeFileSync(
    path,
    [
      `state_dir: ${JSON.stringify(join(dir, `state-${namespace}`))}`,
      'log: { level: warn }',
      'devices:',
      '  - name: bench',
      `    url: ${JSON.stringify(sim.url)}`,
      '    passphrase: ${env:BENCH_PW}',
      `    tls: { fingerprint: ${JSON.stringify(sim.certSha256)} }`,
      `    logger_key: ${JSON.stringify(sim.loggerKey)}`,
      `    namespace: ${namespace}`,
      'output:',
      '  type: elasticsearch',
      `  elasticsearch: { hosts: [${JSON.stringify(url)}], setup: true }`,
      '',
    ].join('\n'),
  );
  return path;
}

/** `run --once`, failing the bench unless it exits 0. */
async function runOnce(
  config: string,
): Promise<Finished & { written: number; records: number; filesIngested: number }> {
  const run = await cli(['run', '--once', '--config', config]);
  if (run.code !== 0) {
    throw new Error(`run --once exited with ${run.code}; its summary:\n${run.stdout.trim() || '(nothing printed)'}`);
  }
  const written = /documents: ([\d,]+) written/.exec(run.stdout)?.[1];
  const ingested = /; ([\d,]+) files ingested/.exec(run.stdout)?.[1];
  const records = /\); ([\d,]+) records/.exec(run.stdout)?.[1];
  if (written === undefined || ingested === undefined || records === undefined) {
    throw new Error(`run --once printed no summary with files ingested, records and documents written:\n${run.stdout}`);
  }
  const num = (s: string) => Number(s.replaceAll(',', ''));
  return { ...run, written: num(written), records: num(records), filesIngested: num(ingested) };
}

/**
 * The forwarder's documents as NDJSON bulk lines for a `create` into `namespace`: `_source` without the
 * engine's event.ingested (the final pipeline sets it again), data_stream.namespace rewritten, `_id` kept.
 * In file and line order, as the forwarder sent them.
 */
async function readBack(client: Client, index: string, namespace: string): Promise<string[][]> {
  type Source = {
    event?: { ingested?: unknown };
    data_stream?: { namespace?: string };
    encedo_hem?: { log?: { file_id?: string; line?: number } };
  };
  const target = index.replace(/-[^-]+$/, `-${namespace}`);
  const docs: { key: [string, number]; action: string; source: string }[] = [];
  let r = await client.search<Source>({ index, scroll: '1m', size: PAGE, sort: ['_doc'] });
  try {
    while (r.hits.hits.length > 0) {
      for (const hit of r.hits.hits) {
        const source = hit._source!;
        if (source.event) delete source.event.ingested;
        if (source.data_stream) source.data_stream.namespace = namespace;
        const log = source.encedo_hem?.log;
        docs.push({
          key: [log?.file_id ?? '', log?.line ?? 0],
          action: JSON.stringify({ create: { _index: target, _id: hit._id } }),
          source: JSON.stringify(source),
        });
      }
      r = await client.scroll<Source>({ scroll_id: r._scroll_id!, scroll: '1m' });
    }
  } finally {
    if (r._scroll_id) await client.clearScroll({ scroll_id: r._scroll_id }).catch(() => {});
  }
  docs.sort((a, b) => (a.key[0] < b.key[0] ? -1 : a.key[0] > b.key[0] ? 1 : a.key[1] - b.key[1]));
  return docs.map((d) => [d.action, d.source]);
}

/** The baseline: batches of FLUSH_COUNT `create` actions, CONCURRENCY requests in flight. Returns items created. */
async function plainBulk(client: Client, docs: string[][]): Promise<{ created: number; failed: string[] }> {
  let next = 0;
  let created = 0;
  const failed: string[] = [];
  const worker = async () => {
    while (next < docs.length) {
      const batch = docs.slice(next, (next += FLUSH_COUNT));
      const r = await client.bulk({ operations: batch.flat() });
      for (const item of r.items) {
        const result = item.create;
        if (result && result.status === 201) created++;
        else failed.push(`${result?.status ?? '?'} ${result?.error?.type ?? ''}: ${result?.error?.reason ?? ''}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { created, failed };
}

const cluster = await benchCluster(values.elasticsearch ?? process.env.ELASTICSEARCH_URL, values['engine-port']);
const url = cluster.url;
const compression = compressionPays({ hosts: [url] });
const dir = mkdtempSync(join(tmpdir(), 'hemfwd-bench-backfill-'));
const namespace = `bench_backfill_${Date.now()}`;
/** Every data stream of this run: the measured, the warm-up and the plain namespaces. */
const streams = `logs-encedo_hem.*-${namespace}*`;
const client = createElasticsearchClient({ hosts: [url], compression, requestTimeoutMs: 120_000 });
const ok = (good: boolean) => (good ? 'met' : 'NOT met');
const pct = (x: number) => `${Math.round(100 * x)}%`;

interface Round {
  readonly ratio: number;
  readonly peak: number;
}

/** The index of the first `run --once` (a warm-up's, else round 1's): the plain bulk's documents come from it. */
let source: string | null = null;

/**
 * One pair: `run --once` into a namespace of its own, and the same documents (those of the first run, read
 * back before anything is timed) by the plain client into another. The order alternates from round to round:
 * the engine's JIT and caches still warm up over the first rounds, and whichever writer always went first
 * would always meet the colder engine.
 */
async function round(sim: Simulator, name: string, label: string, plainFirst: boolean): Promise<Round> {
  const index = `logs-encedo_hem.audit-${name}`;
  const plainNamespace = `${name}plain`;
  const plainIndex = `logs-encedo_hem.audit-${plainNamespace}`;
  const simCpu = () => (sim.child.pid ? cpuSeconds(sim.child.pid) : 0);
  const forwarder = async () => {
    await settle();
    const [machine, simBefore] = [machineCpu(), simCpu()];
    const run = await runOnce(writeConfig(dir, sim, url, name));
    const use = machineUse(machine);
    const simSpent = simCpu() - simBefore;
    await client.indices.refresh({ index: `logs-encedo_hem.*-${name}` });
    source ??= index;
    return { run, use, simSpent, documents: (await client.count({ index })).count };
  };
  const plainly = async () => {
    await client.indices.refresh({ index: source! });
    const docs = await readBack(client, source!, plainNamespace);
    await settle();
    const machine = machineCpu();
    const started = process.hrtime.bigint();
    const plain = await plainBulk(client, docs);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const use = machineUse(machine);
    await client.indices.refresh({ index: plainIndex });
    return { plain, seconds, use, docs: docs.length, documents: (await client.count({ index: plainIndex })).count };
  };
  let f: Awaited<ReturnType<typeof forwarder>>;
  let p: Awaited<ReturnType<typeof plainly>>;
  if (plainFirst && source !== null) {
    p = await plainly();
    f = await forwarder();
  } else {
    f = await forwarder();
    p = await plainly();
  }
  const { run, documents } = f;
  const runRate = documents / run.seconds;
  const plainRate = p.plain.created / p.seconds;
  const ratio = runRate / plainRate;
  const order = plainFirst ? 'plain bulk first' : 'run --once first';
  console.log(
    `${label} (${order}): run --once ${run.seconds.toFixed(2)} s, ${n(runRate)} docs/s, peak RSS ${mb(run.peak)}, ` +
      `CPU ${run.cpu.toFixed(1)} s (${Math.round((100 * run.cpu) / run.seconds)}% of one core), ` +
      `${n(run.written)} documents written in all; plain bulk ${p.seconds.toFixed(2)} s, ${n(plainRate)} docs/s; ` +
      `ratio ${ratio.toFixed(2)}`,
  );
  if (f.use.busy > 0) {
    // Where the CPU went: on a small machine the forwarder and the simulator take theirs from the engine.
    console.log(
      `    machine (${availableParallelism()} cores): run --once ${pct(f.use.share)} busy, ` +
        `${f.use.busy.toFixed(1)} CPU s (forwarder ${run.cpu.toFixed(1)}, simulator ${f.simSpent.toFixed(1)}, ` +
        `the rest, the engine and the bench, ${(f.use.busy - run.cpu - f.simSpent).toFixed(1)}); ` +
        `plain bulk ${pct(p.use.share)} busy, ${p.use.busy.toFixed(1)} CPU s`,
    );
  }

  if (run.filesIngested !== files) {
    console.error(`run --once ingested ${n(run.filesIngested)} files, not ${n(files)}`);
    process.exitCode = 1;
  }
  if (p.plain.failed.length > 0) {
    console.error(`plain bulk: ${n(p.plain.failed.length)} items not created, e.g. ${p.plain.failed[0]}`);
    process.exitCode = 1;
  }
  if (documents !== run.records || p.docs !== documents || p.documents !== documents) {
    console.error(
      `document counts differ: ${n(run.records)} records collected, ${n(documents)} audit documents written, ` +
        `${n(p.docs)} read back, ${n(p.documents)} in ${plainIndex}`,
    );
    process.exitCode = 1;
  }
  return { ratio, peak: run.peak };
}

let sim: Simulator | null = null;
try {
  console.log(`starting the simulator (${n(files)} closed files x ${n(perFile)} records)...`);
  // The files stay rendered after their first read (the warm-up's): a device serves them from flash, and the
  // simulator should not spend rebuilding them the CPU that the engine and the forwarder share here.
  sim = await startSimulator(files, perFile, SIM_CACHE_MB);
  for (let i = 0; i < warmups; i++) {
    const warm = await runOnce(writeConfig(dir, sim, url, `${namespace}warm${i}`));
    source ??= `logs-encedo_hem.audit-${namespace}warm${i}`;
    console.log(`  warm-up run --once ${i + 1}/${warmups}: ${warm.seconds.toFixed(1)} s (untimed)`);
  }
  console.log(
    `backfill of ${n(files)} files x ${n(perFile)} records into ${url} (namespaces ${namespace}r*), ` +
      `${rounds} rounds; run --once is hem-forwarder with node ${nodeFlags.join(' ')}; plain bulk is create, ` +
      `${n(FLUSH_COUNT)} per request, ${CONCURRENCY} in flight, compression ${compression ? 'on' : 'off'}:`,
  );
  const done: Round[] = [];
  for (let i = 0; i < rounds; i++)
    done.push(await round(sim, `${namespace}r${i}`, `  round ${i + 1}/${rounds}`, i % 2 === 1));
  const ratios = done.map((r) => r.ratio).sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)]!;
  const peak = Math.max(...done.map((r) => r.peak));
  const rssOk = peak > 0 && peak < TARGET_RSS_MB * 2 ** 20;
  console.log(
    `  ratio forwarder/plain, median of ${rounds}: ${median.toFixed(2)} (target >= ${TARGET_RATIO}: ` +
      `${ok(median >= TARGET_RATIO)}; each: ${done.map((r) => r.ratio.toFixed(2)).join(', ')})`,
  );
  console.log(`  forwarder peak RSS: ${mb(peak)} (target < ${TARGET_RSS_MB} MB: ${ok(rssOk)})`);
} finally {
  if (sim) await stopSimulator(sim);
  // A shared cluster keeps nothing of the bench; the engine started here goes away with its data.
  if (cluster.shared) {
    await client.indices
      .deleteDataStream({ name: streams })
      .catch((err: Error) => console.error(`could not delete the bench data streams: ${err.message}`));
  }
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  await cluster.stop();
}
