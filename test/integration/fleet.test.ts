// Several forwarder instances sharing devices through the cluster (state.store: elasticsearch), run as a user
// runs them: separate processes of the built CLI, one config file, each its own --instance-id and --state-dir,
// against simulated devices that count overlapping sessions.
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type SimulatorFleet, startSimulatorFleet } from '../../src/simulator/fleet.js';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { elasticsearchRest } from '../../src/sinks/elasticsearch/rest.js';
import { openSearchRest } from '../../src/sinks/opensearch/rest.js';
import { Client as OpenSearchClient } from '@opensearch-project/opensearch';
import { ClusterStateStore, LeaseLostError } from '../../src/state/cluster-store.js';
import { CLI, runCliAsync } from '../helpers/cli.js';
import { clusterUrl, opensearchUrl, testClient } from '../helpers/cluster.js';

const INDEX = 'encedo-hem-forwarder-state';
const PASSPHRASE = 'fleet-test-passphrase';
const client = testClient();
const rest = elasticsearchRest(client);
const osClient = new OpenSearchClient({ node: opensearchUrl() });
const children: ChildProcess[] = [];
const fleets: SimulatorFleet[] = [];
afterAll(async () => {
  for (const c of children) {
    if (c.signalCode === 'SIGSTOP') c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  for (const f of fleets) await f.close();
  await client.close();
  await osClient.close();
});

let counter = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${counter++}`;

interface Rig {
  /** The output (and state store): the shimmed engine as Elasticsearch, the unmodified one as OpenSearch. */
  readonly engine: 'elasticsearch' | 'opensearch';
  readonly url: string;
  readonly dir: string;
  readonly config: string;
  readonly fleet: string;
  readonly namespace: string;
  readonly devices: string[];
  readonly sims: SimulatorFleet;
}

/** N simulated devices and one config for every instance: leases short, a custody key shared by all. */
async function rig(options: {
  devices: number;
  boots: number;
  events: number;
  ttl: string;
  renew: string;
  pacing?: string;
  engine?: 'elasticsearch' | 'opensearch';
}): Promise<Rig> {
  const engine = options.engine ?? 'elasticsearch';
  const url = engine === 'elasticsearch' ? clusterUrl() : opensearchUrl();
  const dir = mkdtempSync(join(tmpdir(), 'hemfwd-fleet-'));
  const fleet = unique('f');
  const namespace = unique('fleet');
  const sims = await startSimulatorFleet({
    devices: options.devices,
    seed: 11,
    boots: options.boots,
    eventsPerBoot: options.events,
    passphrase: PASSPHRASE,
    authDelayMs: 5,
  });
  fleets.push(sims);
  const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(join(dir, 'custody-key.pem'), key, { mode: 0o600 });
  const devices = sims.simulators.map((_, i) => `${fleet}-d${i}`);
  const lines = [
    'state:',
    `  store: ${engine}`,
    `  fleet: ${fleet}`,
    `  lease_ttl: ${options.ttl}`,
    `  lease_renew: ${options.renew}`,
    'log: { level: info, format: ecs }',
    `custody: { signing_key: "\${file:${join(dir, 'custody-key.pem')}}" }`,
    'devices:',
    ...sims.simulators.flatMap((s, i) => [
      `  - name: ${devices[i]}`,
      `    url: ${s.url}`,
      '    passphrase: ${env:FLEET_PW}',
      `    tls: { fingerprint: ${s.certSha256} }`,
      `    logger_key: "${s.device.loggerPublicKey.toString('base64')}"`,
      `    namespace: ${namespace}`,
      '    poll_interval: 1s',
      ...(options.pacing ? [`    pacing: ${options.pacing}`] : []),
    ]),
    'output:',
    `  type: ${engine}`,
    `  ${engine}: { hosts: ["${url}"], setup: true, flush_interval: 200 }`,
    '',
  ];
  const config = join(dir, 'config.yaml');
  writeFileSync(config, lines.join('\n'));
  return { engine, url, dir, config, fleet, namespace, devices, sims };
}

interface Instance {
  readonly id: string;
  readonly child: ChildProcess;
  /** The ECS log lines so far. */
  readonly logs: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
}

function startInstance(r: Rig, id: string, config = r.config): Instance {
  const child = spawn(
    process.execPath,
    [CLI, 'run', '--config', config, '--instance-id', id, '--state-dir', join(r.dir, `state-${id}`)],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLEET_PW: PASSPHRASE } },
  );
  children.push(child);
  const logs: Record<string, unknown>[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.on('data', (c: Buffer) => {
      const lines = (rest + c.toString()).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        // The forwarder's own fields (device, file) are under encedo_hem in its ECS log lines.
        const record = JSON.parse(line) as Record<string, unknown> & { encedo_hem?: Record<string, unknown> };
        logs.push({ ...record, ...record.encedo_hem });
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { id, child, logs, exited };
}

async function stop(instances: Instance[]): Promise<void> {
  for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) i.child.kill('SIGTERM');
  const codes = await Promise.all(instances.map((i) => i.exited));
  for (const [n, code] of codes.entries()) if (instances[n]!.child.signalCode === null) expect(code).toBe(0);
}

interface DeviceDoc {
  lease: { owner: string | null; expires: string } | null;
  state: { revision: number; files: Record<string, { id: string; status: string; records: number }> } | null;
}

/** Plain JSON over HTTP: both test engines answer it (the unmodified one refuses the Elasticsearch client). */
async function http<T>(r: Rig, method: string, path: string, body?: unknown): Promise<T> {
  const init =
    body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
  const res = await fetch(`${r.url}${path}`, { method, ...init });
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

type Hits<T> = { hits: { hits: { _source: T }[] }; aggregations?: Record<string, { buckets: Bucket[] }> };
type Bucket = { key: string; doc_count: number };

async function deviceDocs(r: Rig): Promise<Map<string, DeviceDoc | null>> {
  const ids = r.devices.map((d) => `device:${r.fleet}:${d}`);
  const got = await http<{ docs: { _source?: DeviceDoc }[] }>(r, 'POST', `/${INDEX}/_mget`, { ids });
  return new Map(r.devices.map((d, i) => [d, got.docs[i]?._source ?? null]));
}

const ingested = (doc: DeviceDoc | null | undefined) =>
  Object.values(doc?.state?.files ?? {}).filter((f) => f.status === 'ingested');

async function until(what: string, condition: () => Promise<boolean> | boolean, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const allIngested = (r: Rig, files: number) => async () =>
  [...(await deviceDocs(r)).values()].every((d) => ingested(d).length === files);

/** Audit documents per device in the cluster, and what the checkpoints say was ingested. */
/**
 * Audit documents per device, the chains of digests, and the audit against the local digests of the first of
 * `instances` that wrote any (which instance collects what is a race).
 */
async function exactlyOnce(r: Rig, instances = ['i1', 'i2', 'i3']): Promise<void> {
  await http(r, 'POST', `/logs-encedo_hem.*-${r.namespace}/_refresh`);
  const counts = await http<Hits<unknown>>(r, 'POST', `/logs-encedo_hem.audit-${r.namespace}/_search`, {
    size: 0,
    aggs: { devices: { terms: { field: 'observer.name', size: 1000 } } },
  });
  const buckets = counts.aggregations!.devices!.buckets;
  const inCluster = new Map(buckets.map((b) => [b.key, b.doc_count]));
  for (const [device, doc] of await deviceDocs(r)) {
    const checkpointed = ingested(doc).reduce((a, f) => a + f.records, 0);
    expect(checkpointed, device).toBeGreaterThan(0);
    expect(inCluster.get(device), device).toBe(checkpointed);
  }
  // One digest per file, one linear chain per device across every instance that collected it.
  type Digest = { encedo_hem: { custody: { body: { chain: { position: number } } } }; observer: { name: string } };
  const digests = await http<Hits<Digest>>(r, 'POST', `/logs-encedo_hem.custody-${r.namespace}/_search`, {
    size: 10_000,
  });
  const positions = new Map<string, number[]>();
  for (const hit of digests.hits.hits) {
    const device = hit._source.observer.name;
    positions.set(device, [...(positions.get(device) ?? []), hit._source.encedo_hem.custody.body.chain.position]);
  }
  for (const [device, doc] of await deviceDocs(r)) {
    const p = (positions.get(device) ?? []).sort((a, b) => a - b);
    expect(p, device).toEqual(ingested(doc).map((_, i) => i));
  }
  // Each instance keeps local copies of the digests it wrote: one instance's are a part of every chain.
  const digestDir = (i: string) => join(r.dir, `state-${i}`, 'digests');
  const from = instances.find((i) => existsSync(digestDir(i)));
  expect(from, 'an instance with local digests').toBeDefined();
  const audit = await runCliAsync(
    ['audit', '--config', r.config, '--namespace', r.namespace, '--digest-dir', digestDir(from!)],
    { env: { FLEET_PW: PASSPHRASE } },
  );
  expect(audit.stdout + audit.stderr).toMatch(/INTACT/);
  expect(audit.status).toBe(0);
}

function noOverlap(r: Rig, instances: Instance[]): void {
  r.sims.simulators.forEach((sim, i) => {
    const stats = sim.stats();
    const leases = instances.flatMap((n) =>
      n.logs
        .filter((l) => l.device === r.devices[i] && String(l.message).startsWith('fleet:'))
        .map((l) => `${n.id} ${l['@timestamp']} ${l.message}`),
    );
    expect(stats.sessions).toBeGreaterThan(0);
    expect(
      stats.maxConcurrentSessions,
      `${r.devices[i]}:\n${leases.sort().join('\n')}\n${JSON.stringify(stats)} now ${Math.round(performance.now())}`,
    ).toBe(1);
  });
}

describe('state in the cluster: conditional writes and leases', () => {
  const store = (instance: string | null, fleet: string, ttl = 60_000) =>
    new ClusterStateStore({ rest, index: INDEX, fleet, instance, leaseTtlMs: ttl });

  it('one holder at a time; a lapsed lease is taken over and the old holder can no longer write', async () => {
    // The index and its template, as `setup` makes them.
    await setupCluster(client, { stateIndex: INDEX });
    const fleet = unique('s');
    let now = Date.now();
    const a = new ClusterStateStore({ rest, index: INDEX, fleet, instance: 'a', leaseTtlMs: 5000, now: () => now });
    const b = new ClusterStateStore({ rest, index: INDEX, fleet, instance: 'b', leaseTtlMs: 5000, now: () => now });
    expect(await a.claim('dev')).toBe(true);
    expect(await b.claim('dev')).toBe(false);
    const { state } = await a.load('dev');
    state.serial = 'one';
    expect(await a.save(state, { ifRevision: 0 })).toBe(1);
    now += 6000; // a paused past its lease
    expect(await b.claim('dev')).toBe(true);
    const theirs = (await b.load('dev')).state;
    expect(theirs.serial).toBe('one');
    await b.save({ ...theirs, serial: 'two' }, { ifRevision: 1 });
    // a wakes up: its saves, renewals and fences all fail; what b wrote stays.
    await expect(a.save({ ...state, revision: 1, serial: 'stale' }, { ifRevision: 1 })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect(await a.renew('dev')).toBe(false);
    await expect(a.confirm('dev')).rejects.toBeInstanceOf(LeaseLostError);
    expect((await store(null, fleet).load('dev')).state.serial).toBe('two');
    // Without a lease (the `state` commands) a write is still conditional: a stale read is refused.
    const cli = store(null, fleet);
    const read = (await cli.load('dev')).state;
    await b.save({ ...read, serial: 'three' }, { ifRevision: 2 });
    await expect(cli.save({ ...read, serial: 'four' }, { ifRevision: 2 })).rejects.toThrow(/changed underneath/);
  });

  it.each(['elasticsearch', 'opensearch'] as const)(
    'state migrate --to %s copies the state files once and never over a newer state',
    async (engine) => {
      const r = await rig({ devices: 2, boots: 2, events: 20, ttl: '3s', renew: '1s', engine });
      // Collect with the file store first, as a user did before the fleet.
      const fileConfig = join(r.dir, 'file.yaml');
      const text = readFileSync(r.config, 'utf8');
      writeFileSync(fileConfig, text.replace(/^state:\n( {2}.*\n)+/m, `state_dir: ${join(r.dir, 'file-state')}\n`));
      const once = await runCliAsync(['run', '--once', '--config', fileConfig], { env: { FLEET_PW: PASSPHRASE } });
      expect(once.status, once.stdout + once.stderr).toBe(0);
      const migrate = (config: string) =>
        runCliAsync(['state', 'migrate', '--to', engine, '--config', config], { env: { FLEET_PW: PASSPHRASE } });
      // The fleet's config, with the state files the file store wrote: what the user edits before migrating.
      const fleetConfig = join(r.dir, 'migrate.yaml');
      writeFileSync(fleetConfig, text.replace(/^state:\n/m, `state_dir: ${join(r.dir, 'file-state')}\nstate:\n`));
      const copied = await migrate(fleetConfig);
      expect(copied.status, copied.stdout + copied.stderr).toBe(0);
      expect(copied.stdout).toMatch(
        new RegExp(`${r.devices[0]}: 2 file\\(s\\) of .* copied to ${INDEX}/device:${r.fleet}:`),
      );
      const docs = await deviceDocs(r);
      expect(ingested(docs.get(r.devices[0])).length).toBe(2);
      // Again: the same state is there already; a state the fleet changed since is never overwritten.
      const again = await migrate(fleetConfig);
      expect(again.status).toBe(0);
      expect(again.stdout).toMatch(/already in/);
      const cli = new ClusterStateStore({
        rest: engine === 'elasticsearch' ? rest : openSearchRest(osClient),
        index: INDEX,
        fleet: r.fleet,
        instance: null,
        leaseTtlMs: 60_000,
      });
      const { state } = await cli.load(r.devices[1]!);
      await cli.save({ ...state, serial: 'changed by an instance' }, { ifRevision: state.revision });
      const refused = await migrate(fleetConfig);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(`${r.devices[1]}: .* has a state already \\(revision \\d+\\); not overwritten`),
      );
      // `state show` reads the cluster store.
      const show = await runCliAsync(['state', 'show', '--config', r.config], { env: { FLEET_PW: PASSPHRASE } });
      expect(show.status).toBe(0);
      expect(show.stdout).toMatch(new RegExp(`${r.devices[0]}: serial [0-9a-f]+; .*2 files \\(2 ingested`));
    },
  );
});

describe('three instances share thirty devices', () => {
  it('every device collected, each file exactly once, never two collectors on one device', async () => {
    // Leases long enough that a test machine under load never starves a holder past them (no takeover is tested).
    const r = await rig({ devices: 30, boots: 3, events: 40, ttl: '12s', renew: '3s' });
    // i1 serves /metrics: the same config plus metrics.listen.
    const port = 20_000 + Math.floor(Math.random() * 10_000); // below the ephemeral range (32768 and up)
    const withMetrics = join(r.dir, 'metrics.yaml');
    writeFileSync(withMetrics, `metrics: { listen: "127.0.0.1:${port}" }\n${readFileSync(r.config, 'utf8')}`);
    const instances = ['i1', 'i2', 'i3'].map((id) => startInstance(r, id, id === 'i1' ? withMetrics : r.config));
    await until('every file of every device ingested', allIngested(r, 3), 120_000);
    // Fair shares: after balancing, nobody holds more than ceil(30 / 3).
    await until('the shares balance', async () => {
      const owners = [...(await deviceDocs(r)).values()].map((d) => d?.lease?.owner);
      return ['i1', 'i2', 'i3'].every((i) => owners.filter((o) => o === i).length === 10);
    });
    // /metrics names this instance and who holds every device, as of its last round.
    await until('i1 reports the balanced shares', async () => {
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const holders = ['i1', 'i2', 'i3'].map(
        (i) =>
          metrics
            .split('\n')
            .filter(
              (l) => l.startsWith('hemfwd_device_lease_holder{') && l.includes(`instance="${i}"`) && l.endsWith(' 1'),
            ).length,
      );
      return metrics.includes('hemfwd_instance_info{instance="i1"') && holders.every((n) => n === 10);
    });
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
    const devices = ((await healthz.json()) as { devices: Record<string, string> }).devices;
    expect(healthz.status).toBe(200);
    expect(Object.values(devices).filter((s) => s === 'standby')).toHaveLength(20);
    // The status documents name the instance that collected each device. An instance writes them at the end of
    // a round, so a lease taken just before the shares balanced may not have reported yet: wait, then stop.
    await until(
      'every instance wrote device status documents',
      async () => (await statusInstances(r)).join() === 'i1,i2,i3',
    );
    await stop(instances);
    noOverlap(r, instances);
    await exactlyOnce(r);
    const took = instances.map((i) => i.logs.filter((l) => l.message === 'fleet: lease taken').length);
    for (const n of took) expect(n).toBeGreaterThan(0);
  });
});

/** The instances the status documents name: who collected the devices. */
async function statusInstances(r: Rig): Promise<string[]> {
  await http(r, 'POST', `/logs-encedo_hem.integrity-${r.namespace}/_refresh`);
  const statuses = await http<Hits<unknown>>(r, 'POST', `/logs-encedo_hem.integrity-${r.namespace}/_search`, {
    size: 0,
    query: { term: { 'event.action': 'device-status' } },
    aggs: { by: { terms: { field: 'encedo_hem.status.instance' } } },
  });
  return statuses.aggregations!.by!.buckets.map((b) => b.key).sort();
}

describe('on OpenSearch (state.store: opensearch, the unmodified engine)', () => {
  it('two instances share eight devices: each file once, one collector per device, the audit intact', async () => {
    const r = await rig({ devices: 8, boots: 3, events: 40, ttl: '12s', renew: '3s', engine: 'opensearch' });
    const instances = ['i1', 'i2'].map((id) => startInstance(r, id));
    await until('every file of every device ingested', allIngested(r, 3), 120_000);
    await until('the shares balance', async () => {
      const owners = [...(await deviceDocs(r)).values()].map((d) => d?.lease?.owner);
      return ['i1', 'i2'].every((i) => owners.filter((o) => o === i).length === 4);
    });
    await until(
      'both instances wrote device status documents',
      async () => (await statusInstances(r)).join() === 'i1,i2',
    );
    await stop(instances);
    noOverlap(r, instances);
    await exactlyOnce(r);
  });
});

const stateOf = (doc: DeviceDoc | null | undefined) => ({
  revision: doc?.state?.revision ?? 0,
  files: ingested(doc).map((f) => f.id),
});

const owners = async (r: Rig) =>
  [...(await deviceDocs(r)).entries()].map(([d, doc]) => [d, doc?.lease?.owner] as const);
const logTime = (l: Record<string, unknown>) => Date.parse(String(l['@timestamp']));

describe('an instance that dies or stalls', () => {
  it('kill -9 mid-backfill: its devices are taken over within the lease time, every record once', async () => {
    const r = await rig({ devices: 12, boots: 6, events: 300, ttl: '6s', renew: '2s', pacing: '100ms' });
    const instances = ['i1', 'i2', 'i3'].map((id) => startInstance(r, id));
    await until('i1 holds devices with files still to collect', async () => {
      const docs = await deviceDocs(r);
      const mine = [...docs.values()].filter((d) => d?.lease?.owner === 'i1');
      return mine.some((d) => ingested(d).length >= 1) && mine.some((d) => ingested(d).length < 6);
    });
    const held = (await owners(r)).filter(([, o]) => o === 'i1').map(([d]) => d);
    instances[0]!.child.kill('SIGKILL');
    const killed = Date.now();
    await until('every device of i1 held by another instance', async () =>
      (await owners(r)).every(([d, o]) => !held.includes(d) || (o !== 'i1' && o !== null && o !== undefined)),
    );
    // The lease lapses at most lease_ttl after its last renewal; the next round of a survivor claims it.
    expect(Date.now() - killed).toBeLessThan(6000 + 2 * 2000 + 2000);
    await until('every file of every device ingested', allIngested(r, 6), 150_000);
    await stop(instances.slice(1));
    noOverlap(r, instances);
    await exactlyOnce(r, ['i2', 'i3']);
  });

  it('a paused instance (SIGSTOP past its lease, then SIGCONT) cannot write its stale state', async () => {
    const r = await rig({ devices: 4, boots: 5, events: 300, ttl: '3s', renew: '1s', pacing: '300ms' });
    const a = startInstance(r, 'a');
    await until('a mid-backfill on every device', async () => {
      const docs = [...(await deviceDocs(r)).values()];
      return docs.every((d) => d?.lease?.owner === 'a') && docs.some((d) => ingested(d).length >= 1);
    });
    a.child.kill('SIGSTOP');
    const b = startInstance(r, 'b');
    await until('b took every device over', async () => (await owners(r)).every(([, o]) => o === 'b'));
    await new Promise((resolve) => setTimeout(resolve, 1500)); // b moves the state on
    // What b has written by now: a, woken up with its old view, must never take any of it back.
    const before = new Map([...(await deviceDocs(r))].map(([d, doc]) => [d, stateOf(doc)]));
    const resumed = Date.now();
    a.child.kill('SIGCONT');
    await until('a noticed', () =>
      a.logs.some(
        (l) => logTime(l) >= resumed - 1000 && /lease lost|no longer holds the lease/.test(String(l.message)),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const [device, doc] of await deviceDocs(r)) {
      const now = stateOf(doc);
      const then = before.get(device)!;
      expect(now.revision, device).toBeGreaterThanOrEqual(then.revision);
      for (const file of then.files) expect(now.files, `${device}: ${file} is still checkpointed`).toContain(file);
    }
    await until('every file of every device ingested', allIngested(r, 5), 150_000);
    await stop([a, b]);
    // No fork in any chain: a's file in flight at the pause got no second digest at a position b had used.
    await exactlyOnce(r, ['a']);
  });
});
