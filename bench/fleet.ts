/**
 * A fleet of devices collected by one forwarder instance, then by three sharing them through the cluster
 * (state.store: elasticsearch): 100 simulated devices (`hem-forwarder simulate --devices 100`, a process of its
 * own, so its CPU is not the bench's) with 10 closed log files of 2,000 activity records each, collected into a
 * search engine by `hem-forwarder run` processes (the built CLI with the node flags of its `#!` line), all
 * started at once with one config, each its own --instance-id and --state-dir, as a user runs them.
 *
 *   npm run bench:fleet -- [--devices 100] [--files 10] [--records 2000] [--instances 1,3] [--lease-ttl 60]
 *                          [--cold] [--elasticsearch URL]
 *
 * A quick try: --devices 10 --files 3 --records 200.
 *
 * Per run (one per --instances entry): the wall time from the start of the instances until every file of
 * every device is checkpointed (the device documents `device:<fleet>:<name>` of the state index, polled), the
 * records per second, each instance's peak RSS (VmHWM) and CPU seconds sampled from /proc, which devices and
 * files each instance collected (the local copies of its custody digests), and from the simulator's stats at
 * its stop: sessions and requests per device and the most sessions one device saw at once. Asserted: every
 * device has exactly --files files ingested; every record is in the cluster exactly once (audit documents per
 * device and file against the records its checkpoint reports; nothing dead-lettered); one session at a time
 * per device; every instance stops cleanly at SIGTERM; and the target, peak RSS < 300 MB for every instance
 * (one instance holds all the devices). Exits 1 when a check fails or the target is not met.
 *
 * Each run has a fresh simulator (its stats then count that run alone, and both runs meet the same devices),
 * its own fleet and namespace (the second collects everything again), and a custody key shared by its
 * instances. Devices are polled once (poll_interval 1h); leases last --lease-ttl seconds (the forwarder's
 * default, 60), renewed every third of it (instances rebalance at each renewal). Logs at warn, ECS JSON: per
 * instance, the lines by level and the most frequent messages are printed.
 *
 * Before the instances start, each simulated device gets a login challenge, so that it derives its passphrase
 * key (PBKDF2, 600,000 rounds) then rather than at the instances' first logins: a fleet of real devices does
 * that on its own hardware, whereas here one process would do it for all of them on the cores the forwarder
 * needs, holding login answers back past the forwarder's request timeout (a retried login; the simulator then
 * counts the abandoned one as a session that never ends). That challenge is not counted in the requests
 * printed. --cold leaves the derivation to the first logins.
 *
 * The engine is --elasticsearch, else ELASTICSEARCH_URL, else the test engine started on port 9274 (and
 * stopped at the end). On an engine the bench did not start, its data streams and state documents are deleted
 * at the end.
 */
import { generateKeyPairSync } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@elastic/elasticsearch';
import { compressionPays } from '../src/app/cluster.js';
import { createElasticsearchClient } from '../src/sinks/elasticsearch/client.js';
import {
  CLI,
  type Finished,
  SIM_PASSPHRASE,
  type Timed,
  benchCluster,
  cpuSeconds,
  nodeFlags,
  spawnTimed,
} from './child.js';

const TARGET_RSS_MB = 300;
const STATE_INDEX = 'encedo-hem-forwarder-state';
/** How often the device documents are read while the instances collect. */
const POLL_MS = 500;
/** No file checkpointed for this long: the run is stuck, the bench gives up. */
const STALL_MS = 5 * 60_000;
/** Lines of an instance's stderr that are not log lines, kept from its start. */
const LOG_KEEP = 20;
/** Distinct log messages counted per instance. */
const MESSAGES_KEPT = 100;

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    files: { type: 'string', default: '10' },
    records: { type: 'string', default: '2000' },
    instances: { type: 'string', default: '1,3' },
    'lease-ttl': { type: 'string', default: '60' },
    cold: { type: 'boolean', default: false },
    elasticsearch: { type: 'string' },
    'engine-port': { type: 'string', default: '9274' },
  },
});
const whole = (name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  const x = Number(value);
  if (!Number.isSafeInteger(x) || x < min || x > max)
    throw new Error(`--${name} ${value}: a whole number from ${min} to ${max}`);
  return x;
};
const deviceCount = whole('devices', values.devices, 1, 1000);
const files = whole('files', values.files, 1);
const perFile = whole('records', values.records, 1);
const runs = values.instances.split(',').map((s) => whole('instances', s.trim(), 1, 16));
const leaseTtl = whole('lease-ttl', values['lease-ttl'], 3);
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const mb = (b: number) => (b > 0 ? `${(b / 1024 / 1024).toFixed(0)} MB` : 'n/a (no /proc)');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const spread = (xs: number[]) =>
  xs.length === 0
    ? 'none'
    : `${n(Math.min(...xs))} / ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(1)} / ${n(Math.max(...xs))}`;

interface SimDevice {
  readonly url: string;
  readonly certSha256: string;
  readonly loggerKey: string;
  readonly serial: string;
}

interface SimStats {
  readonly url: string;
  readonly sessions: number;
  readonly requests: number;
  readonly maxConcurrentSessions: number;
}

interface Simulators {
  readonly devices: SimDevice[];
  /**
   * Has every device derive its passphrase key now (a login challenge each: 600,000 rounds of PBKDF2, ~0.15 s
   * of CPU per device), and waits until the simulator is idle again.
   */
  warm(): Promise<void>;
  /** SIGTERM; its stats lines (one per device) and its own peak RSS and CPU. */
  stop(): Promise<{ stats: SimStats[]; usage: Finished }>;
  kill(): void;
}

/** `hem-forwarder simulate --devices N` in a process of its own (no heap cap, as a user runs it). */
async function startSimulators(): Promise<Simulators> {
  const args = ['simulate', '--devices', String(deviceCount), '--json', '--port', '0', '--boots', String(files)];
  args.push('--events-per-boot', String(perFile), '--auth-delay-ms', '5');
  const sim = spawnTimed([CLI, ...args], {
    stdout: 'pipe',
    stderr: 'pipe',
    env: { HEM_SIM_PASSPHRASE: SIM_PASSPHRASE },
    flags: [],
  });
  let stderr = '';
  sim.child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const devices = await new Promise<SimDevice[]>((resolve, reject) => {
    let text = '';
    sim.child.stdout!.on('data', (c: Buffer) => {
      text += c.toString();
      const lines = text.split('\n').filter((l) => l.startsWith('{'));
      if (lines.length >= deviceCount && text.endsWith('\n')) resolve(lines.map((l) => JSON.parse(l) as SimDevice));
    });
    sim.child.once('exit', (code) => reject(new Error(`the simulator exited with ${code}:\n${stderr}`)));
  });
  return {
    devices,
    async warm() {
      await Promise.all(devices.map((d) => challenge(d.url)));
      const cpu = () => {
        try {
          return cpuSeconds(sim.child.pid!);
        } catch {
          return null; // no /proc: a pause long enough for 100 devices on 2 cores instead
        }
      };
      for (let before = cpu(); ; ) {
        await sleep(before === null ? 10_000 : 500);
        const now = cpu();
        if (now === null || before === null || now - before < 0.05) return;
        before = now;
      }
    },
    async stop() {
      sim.child.kill('SIGTERM');
      const usage = await sim.finished;
      const stats = stderr
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as SimStats);
      return { stats, usage };
    },
    kill() {
      if (sim.child.exitCode === null && sim.child.signalCode === null) sim.child.kill('SIGKILL');
    },
  };
}

/** GET /api/auth/token: a login challenge, which has the simulated device derive its passphrase key. */
function challenge(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(`${url}/api/auth/token`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      res.once('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`${url}: challenge answered ${res.statusCode}`)),
      );
    });
    req.once('error', reject);
  });
}

/** One config for every instance of a run: the fleet's devices, state in the cluster, a shared custody key. */
function writeConfig(dir: string, devices: SimDevice[], url: string, fleet: string, namespace: string): string {
  const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const keyFile = join(dir, 'custody-key.pem');
  writeFileSync(keyFile, key, { mode: 0o600 });
  const lines = [
    `state_dir: ${JSON.stringify(join(dir, 'state'))}`,
    'state:',
    '  store: elasticsearch',
    `  fleet: ${fleet}`,
    `  lease_ttl: ${leaseTtl}`,
    `  lease_renew: ${leaseTtl / 3}`,
    'log: { level: warn, format: ecs }',
    `custody: { signing_key: "\${file:${keyFile}}" }`,
    'devices:',
    ...devices.flatMap((d, i) => [
      `  - name: ${deviceName(i)}`,
      `    url: ${JSON.stringify(d.url)}`,
      '    passphrase: ${env:BENCH_PW}',
      `    tls: { fingerprint: ${JSON.stringify(d.certSha256)} }`,
      `    logger_key: ${JSON.stringify(d.loggerKey)}`,
      `    namespace: ${namespace}`,
      '    poll_interval: 1h',
    ]),
    'output:',
    '  type: elasticsearch',
    `  elasticsearch: { hosts: [${JSON.stringify(url)}], setup: true }`,
    '',
  ];
  const path = join(dir, 'config.yaml');
  writeFileSync(path, lines.join('\n'));
  return path;
}

const deviceName = (i: number) => `d${String(i).padStart(3, '0')}`;

interface Instance {
  readonly id: string;
  readonly stateDir: string;
  readonly timed: Timed;
  /** Its stderr: lines by log level ('other': not a log line), and log lines by level and message. */
  readonly levels: Map<string, number>;
  readonly messages: Map<string, number>;
  /** The first LOG_KEEP lines that are not log lines (a warning of node's, a crash's report). */
  readonly other: string[];
}

/** An ECS log line, or null for anything else. */
function logLine(line: string): { 'log.level'?: string; message?: string; err?: unknown } | null {
  try {
    const log = JSON.parse(line) as unknown;
    return typeof log === 'object' && log !== null ? log : null;
  } catch {
    return null;
  }
}

function startInstance(config: string, dir: string, id: string): Instance {
  const stateDir = join(dir, `state-${id}`);
  const timed = spawnTimed([CLI, 'run', '--config', config, '--instance-id', id, '--state-dir', stateDir], {
    stdout: 'pipe',
    stderr: 'pipe',
    env: { BENCH_PW: SIM_PASSPHRASE },
  });
  const levels = new Map<string, number>();
  const messages = new Map<string, number>();
  const other: string[] = [];
  let rest = '';
  timed.child.stderr!.on('data', (c: Buffer) => {
    const lines = (rest + c.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const log = logLine(line);
      const level = log?.['log.level'] ?? 'other';
      levels.set(level, (levels.get(level) ?? 0) + 1);
      if (log === null) {
        if (line.trim() !== '' && other.length < LOG_KEEP) other.push(line);
        continue;
      }
      const key = `${level}: ${log.message}${log.err ? ` (${String(log.err).slice(0, 120)})` : ''}`;
      if (messages.has(key) || messages.size < MESSAGES_KEPT) messages.set(key, (messages.get(key) ?? 0) + 1);
    }
  });
  return { id, stateDir, timed, levels, messages, other };
}

interface FileState {
  readonly status: string;
  readonly records?: number;
}

/** Per device, its files by id as its document in the state index says (none before its first checkpoint). */
type Checkpoints = Map<string, Record<string, FileState>>;

async function checkpoints(client: Client, fleet: string, withRecords = false): Promise<Checkpoints> {
  const names = Array.from({ length: deviceCount }, (_, i) => deviceName(i));
  const fields = withRecords ? ['state.files.*.status', 'state.files.*.records'] : ['state.files.*.status'];
  type Doc = { state?: { files?: Record<string, FileState> } | null };
  const r = await client.mget<Doc>({
    index: STATE_INDEX,
    ids: names.map((d) => `device:${fleet}:${d}`),
    _source_includes: fields,
  });
  return new Map(names.map((d, i) => [d, (r.docs[i] as { _source?: Doc })._source?.state?.files ?? {}]));
}

/** The ids of the files a device's checkpoint says are ingested. */
const ingested = (files: Record<string, FileState>) =>
  Object.entries(files)
    .filter(([, f]) => f.status === 'ingested')
    .map(([id]) => id);

/** What an instance collected, from the local copies of its custody digests: one per file (counted once). */
function collectedBy(instance: Instance): { devices: Set<string>; files: number; records: number } {
  const dir = join(instance.stateDir, 'digests');
  const seen = new Map<string, number>();
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.ndjson'));
  } catch {
    // collected nothing
  }
  type Digest = { body: { kind: string; device: { name: string }; file?: { id: string; records: number } } };
  for (const name of names)
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (!line) continue;
      const { body } = JSON.parse(line) as Digest;
      if (body.kind === 'file' && body.file) seen.set(`${body.device.name}/${body.file.id}`, body.file.records);
    }
  const devices = new Set([...seen.keys()].map((k) => k.split('/')[0]!));
  return { devices, files: seen.size, records: [...seen.values()].reduce((a, b) => a + b, 0) };
}

/** Audit documents per device and file in the namespace. */
async function auditCounts(client: Client, namespace: string): Promise<Map<string, number>> {
  const index = `logs-encedo_hem.audit-${namespace}`;
  await client.indices.refresh({ index, ignore_unavailable: true, allow_no_indices: true });
  const r = await client.search({
    index,
    ignore_unavailable: true,
    allow_no_indices: true,
    size: 0,
    aggs: {
      devices: {
        terms: { field: 'observer.name', size: deviceCount + 10 },
        aggs: { files: { terms: { field: 'encedo_hem.log.file_id', size: files + 10 } } },
      },
    },
  });
  type Bucket = { key: string; doc_count: number; files: { buckets: { key: string; doc_count: number }[] } };
  const counts = new Map<string, number>();
  for (const d of (r.aggregations?.devices as { buckets: Bucket[] } | undefined)?.buckets ?? [])
    for (const f of d.files.buckets) counts.set(`${d.key}/${f.key}`, f.doc_count);
  return counts;
}

const stamp = Date.now().toString(36);
/** What the finally block cleans up: the processes still running, the fleets written to the state index. */
const live: { instances: Instance[]; sims: Simulators | null } = { instances: [], sims: null };
const fleets: string[] = [];

/** One run: `count` instances over a fresh simulator; prints what it measured; returns the failed checks. */
async function runFleet(client: Client, url: string, dir: string, count: number): Promise<string[]> {
  const failed: string[] = [];
  const fleet = `benchfleet-${stamp}-${count}`;
  const namespace = `bench_fleet_${stamp}_${count}`;
  fleets.push(fleet);
  const runDir = join(dir, `run-${count}`);
  console.log(
    `\n${count} instance(s): starting the simulator (${n(deviceCount)} devices x ${n(files)} closed files x ` +
      `${n(perFile)} records)...`,
  );
  const sims = await startSimulators();
  live.sims = sims;
  if (!values.cold) await sims.warm();
  mkdirSync(runDir);
  const config = writeConfig(runDir, sims.devices, url, fleet, namespace);
  const total = deviceCount * files;

  console.log(`  collecting into ${url} (fleet ${fleet}, namespace ${namespace})...`);
  const started = Date.now();
  const instances = Array.from({ length: count }, (_, i) => startInstance(config, runDir, `i${i + 1}`));
  live.instances = instances;
  let done = 0;
  let progressAt = Date.now();
  let reportedAt = Date.now();
  /** Why the run ended before every file was checkpointed, if it did. */
  let unfinished: string | null = null;
  for (;;) {
    let now = 0;
    try {
      const cps = await checkpoints(client, fleet);
      if ([...cps.values()].every((fs) => ingested(fs).length >= files)) break;
      now = [...cps.values()].reduce((a, fs) => a + Math.min(files, ingested(fs).length), 0);
    } catch (err) {
      // the state index is not there yet (the instances' setup makes it)
      if ((err as { meta?: { statusCode?: number } }).meta?.statusCode !== 404) throw err;
    }
    if (now > done) [done, progressAt] = [now, Date.now()];
    const gone = instances.find((i) => i.timed.child.exitCode !== null || i.timed.child.signalCode !== null);
    if (gone) {
      const how = gone.timed.child.signalCode ?? `exit ${gone.timed.child.exitCode}`;
      unfinished = `instance ${gone.id} stopped by itself (${how})`;
    } else if (Date.now() - progressAt > STALL_MS) unfinished = `no file checkpointed for ${STALL_MS / 1000} s`;
    if (unfinished !== null) break;
    if (Date.now() - reportedAt >= 15_000) {
      reportedAt = Date.now();
      console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${n(done)} of ${n(total)} files checkpointed`);
    }
    await sleep(POLL_MS);
  }
  const seconds = (Date.now() - started) / 1000;

  for (const i of instances)
    if (i.timed.child.exitCode === null && i.timed.child.signalCode === null) i.timed.child.kill('SIGTERM');
  const finished = await Promise.all(instances.map((i) => i.timed.finished));
  live.instances = [];
  const sim = await sims.stop();
  live.sims = null;

  // What the checkpoints report, against what the cluster holds.
  const cps = await checkpoints(client, fleet, true);
  const counts = await auditCounts(client, namespace);
  let records = 0;
  let filesIngested = 0;
  const wrongFiles: string[] = [];
  const mismatched: string[] = [];
  let documents = 0;
  for (const c of counts.values()) documents += c;
  for (const [device, fs] of cps) {
    const ids = ingested(fs);
    filesIngested += ids.length;
    if (ids.length !== files) wrongFiles.push(`${device} (${ids.length})`);
    for (const id of ids) {
      const r = fs[id]!.records ?? 0;
      records += r;
      const inCluster = counts.get(`${device}/${id}`) ?? 0;
      if (inCluster !== r) mismatched.push(`${device}/${id}: ${n(inCluster)} documents, ${n(r)} records`);
    }
  }
  const deadIndex = `logs-encedo_hem.deadletter-${namespace}`;
  const dead = (await client.count({ index: deadIndex, ignore_unavailable: true, allow_no_indices: true })).count;

  // The simulator's view: sessions and requests per device, and overlapping sessions.
  const byUrl = new Map(sim.stats.map((s) => [s.url, s]));
  const stats = sims.devices.map((d) => byUrl.get(d.url));
  const missingStats = stats.filter((s) => s === undefined).length;
  const known = stats.filter((s): s is SimStats => s !== undefined);
  /** The warm-up's challenge is the bench's request, not the forwarder's. */
  const warmed = values.cold ? 0 : 1;
  const maxConcurrent = Math.max(0, ...known.map((s) => s.maxConcurrentSessions));
  const unvisited = known.filter((s) => s.sessions === 0).length;

  if (unfinished === null)
    console.log(
      `${count} instance(s), ${n(deviceCount)} devices: ${n(filesIngested)} files, ${n(records)} records ` +
        `(${n(perFile)} of activity per file plus each boot's own) in ${seconds.toFixed(1)} s ` +
        `(start of the instances until every file is checkpointed): ${n(records / seconds)} records/s`,
    );
  else {
    console.log(
      `${count} instance(s), ${n(deviceCount)} devices: DID NOT FINISH: ${unfinished} after ${seconds.toFixed(1)} s, ` +
        `${n(filesIngested)} of ${n(total)} files (${n(records)} records) checkpointed by then`,
    );
    failed.push(`did not finish: ${unfinished}`);
  }
  let worst = 0;
  const collectors = new Map<string, number>();
  for (const [k, i] of instances.entries()) {
    const f = finished[k]!;
    const got = collectedBy(i);
    for (const d of got.devices) collectors.set(d, (collectors.get(d) ?? 0) + 1);
    worst = Math.max(worst, f.peak);
    const logs = [...i.levels].map(([level, c]) => `${n(c)} ${level}`).join(', ') || 'none';
    const exit = f.code === null ? i.timed.child.signalCode : `exit ${f.code}`;
    console.log(
      `  ${i.id}: peak RSS ${mb(f.peak)}, CPU ${f.cpu.toFixed(1)} s (${Math.round((100 * f.cpu) / f.seconds)}% of ` +
        `one core over its ${f.seconds.toFixed(1)} s); collected ${n(got.devices.size)} devices, ${n(got.files)} ` +
        `files, ${n(got.records)} records; ${exit}; stderr lines: ${logs}`,
    );
    if (f.code !== 0) failed.push(`${i.id} ended with ${exit}`);
    // What it said, most frequent first; of the rest of its stderr, what names a warning or an error.
    for (const [message, c] of [...i.messages].sort((a, b) => b[1] - a[1]).slice(0, 5))
      console.log(`    ${n(c)} x ${message.slice(0, 200)}`);
    for (const line of i.other.filter((l) => /FATAL|Error:|Warning:/.test(l)).slice(0, 3))
      console.log(`    ${line.slice(0, 200)}`);
  }
  // An instance that died (out of heap, say) is no measure of what it would have needed.
  const died = instances.filter((_, k) => finished[k]!.code !== 0);
  const rssOk = worst > 0 && worst < TARGET_RSS_MB * 2 ** 20 && died.length === 0;
  const why = died.length > 0 ? ` (${died.map((i) => i.id).join(', ')} did not end cleanly)` : '';
  console.log(
    `  peak RSS, most of one instance: ${mb(worst)} (target < ${TARGET_RSS_MB} MB per instance: ` +
      `${rssOk ? 'met' : `NOT met${why}`}); node ${nodeFlags.join(' ')}`,
  );
  if (!rssOk)
    failed.push(
      died.length > 0
        ? `peak RSS target not judged: ${died.map((i) => i.id).join(', ')} did not end cleanly`
        : `peak RSS ${mb(worst)}, target < ${TARGET_RSS_MB} MB`,
    );
  if (count > 1) {
    const moved = [...collectors.values()].filter((c) => c > 1).length;
    console.log(`  shares: ${n(moved)} device(s) collected by more than one instance (handed over mid-backfill)`);
  }
  console.log(
    `  simulator: sessions per device (min / mean / max) ${spread(known.map((s) => s.sessions))}, requests per ` +
      `device ${spread(known.map((s) => s.requests - warmed))}; most concurrent sessions on one device: ` +
      `${maxConcurrent} (must be 1); its CPU ${sim.usage.cpu.toFixed(1)} s, peak RSS ${mb(sim.usage.peak)}`,
  );
  if (missingStats > 0) failed.push(`no simulator stats for ${missingStats} device(s)`);
  if (maxConcurrent !== 1) failed.push(`a device saw ${maxConcurrent} sessions at once`);
  if (unvisited > 0) failed.push(`${unvisited} device(s) never logged into`);
  console.log(
    `  files: ${n(filesIngested)} ingested, ${n(total)} expected (${n(files)} per device): ` +
      `${wrongFiles.length === 0 ? 'ok' : `WRONG for ${wrongFiles.length} device(s), e.g. ${wrongFiles[0]}`}`,
  );
  if (wrongFiles.length > 0) failed.push(`${wrongFiles.length} device(s) without exactly ${files} files ingested`);
  // Unfinished, the documents of files sent but not checkpointed are in the cluster too: only files compare.
  const once = mismatched.length === 0 && dead === 0 && (unfinished !== null || documents === records);
  console.log(
    `  exactly once: ${n(documents)} audit documents in the cluster, ${n(records)} records checkpointed; ` +
      `${n(mismatched.length)} file(s) whose count differs; ${n(dead)} dead-lettered: ${once ? 'ok' : 'WRONG'}`,
  );
  if (!once)
    failed.push(
      `documents ${n(documents)} vs records ${n(records)}, ${mismatched.length} files differ` +
        `${mismatched.length > 0 ? ` (e.g. ${mismatched[0]})` : ''}, ${n(dead)} dead-lettered`,
    );
  return failed;
}

/** The device and instance documents of the bench's fleets, by id (not every engine has delete-by-query). */
async function deleteStateDocuments(client: Client): Promise<void> {
  if (fleets.length === 0) return;
  const r = await client.search({
    index: STATE_INDEX,
    size: 10_000,
    _source: false,
    query: { terms: { fleet: fleets } },
  });
  const ids = r.hits.hits.map((h) => h._id!);
  if (ids.length > 0)
    await client.bulk({ operations: ids.map((id) => ({ delete: { _index: STATE_INDEX, _id: id } })) });
}

const cluster = await benchCluster(values.elasticsearch ?? process.env.ELASTICSEARCH_URL, values['engine-port']);
const url = cluster.url;
const dir = mkdtempSync(join(tmpdir(), 'hemfwd-bench-fleet-'));
const client = createElasticsearchClient({
  hosts: [url],
  compression: compressionPays({ hosts: [url] }),
  requestTimeoutMs: 120_000,
});
const failures: string[] = [];
try {
  for (const count of runs) for (const f of await runFleet(client, url, dir, count)) failures.push(`${count}: ${f}`);
  console.log(failures.length === 0 ? '\nevery check passed' : `\nFAILED:\n  ${failures.join('\n  ')}`);
  if (failures.length > 0) process.exitCode = 1;
} finally {
  for (const i of live.instances)
    if (i.timed.child.exitCode === null && i.timed.child.signalCode === null) i.timed.child.kill('SIGKILL');
  live.sims?.kill();
  // A shared cluster keeps nothing of the bench; the engine started here goes away with its data.
  if (cluster.shared) {
    await client.indices
      .deleteDataStream({ name: `logs-encedo_hem.*-bench_fleet_${stamp}_*` })
      .catch((err: Error) => console.error(`could not delete the bench data streams: ${err.message}`));
    await deleteStateDocuments(client).catch((err: Error) =>
      console.error(`could not delete the bench state documents: ${err.message}`),
    );
  }
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  await cluster.stop();
}
