import type { CustodyOptions } from '../collector/custody-digest.js';
// The wiring of the program: from a validated Config to running parts (output, device clients and
// collectors, in-process simulators, the state store). Commands call it; no pipeline stage imports it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { type Config, type DeviceConfig, effectiveOutput } from '../config/schema.js';
import { DEFAULTS as D } from '../config/defaults.js';
import { DeviceClient } from '../device/client.js';
import type { Metrics } from '../observability/metrics.js';
import { Limiter } from '../shared/limiter.js';
import { SearchBulkSink } from '../sinks/search/bulk-sink.js';
import type { RestClient } from '../sinks/search/rest.js';
import { type EngineInfo, detectEngine, setupEngine } from '../sinks/search/setup.js';
import { NdjsonSink } from '../sinks/ndjson-sink.js';
import type { Sink } from '../sinks/sink.js';
import type { HemSimulator } from '../simulator/server.js';
import { FileStateStore, type StateStore } from '../state/store.js';
import { ClusterStateStore } from '../state/cluster-store.js';
import { defaultInstanceId } from '../fleet/fleet.js';
import { DeviceCollector } from '../collector/device-collector.js';
import { openConfiguredCluster } from './cluster.js';

/** Where the local copies of the custody digests go. */
export function digestDirOf(config: Config): string {
  return config.custody?.digest_dir ?? join(config.state_dir, D.digestDirName);
}

/** The dead-letter file of a search output: configured, or under state_dir. */
export function deadLetterFileOf(config: Config): string {
  const configured = (config.output.type === 'opensearch' ? config.output.opensearch : config.output.elasticsearch)
    ?.dead_letter_file;
  return configured ?? join(config.state_dir, D.elasticsearch.deadLetterFileName);
}

export interface Output {
  readonly sink: Sink;
  /** Closes the output's clients. */
  readonly close?: () => Promise<void>;
  /** Where the documents go, for the summary. */
  readonly description: string;
  /**
   * Which output this is, for checkpoints: `elasticsearch:<cluster uuid>`, `opensearch:<cluster uuid>`,
   * `file:<absolute dir>` or `stdout`.
   */
  readonly id: string;
  /** The cluster's REST seam (the fleet's state store uses it); null for the file and stdout outputs. */
  readonly rest: RestClient | null;
}

/** The configured output; for Elasticsearch, templates are installed first unless `setup: false`. */
export async function createOutput(config: Config, log: Logger): Promise<Output> {
  const kind = effectiveOutput(config);
  if (kind === 'stdout')
    return { sink: NdjsonSink.toStream(process.stdout), description: 'stdout (NDJSON)', id: 'stdout', rest: null };
  if (kind === 'file') {
    const file = config.output.file ?? { dir: D.file.dir, max_bytes: D.file.maxBytes };
    const sink = NdjsonSink.toFiles({ dir: file.dir, maxBytes: file.max_bytes });
    return { sink, description: `NDJSON files in ${file.dir}`, id: `file:${resolve(file.dir)}`, rest: null };
  }
  // Both search outputs: one sink core and one setup, each over its engine's own official client.
  const out = kind === 'opensearch' ? config.output.opensearch! : config.output.elasticsearch!;
  const cluster = await openConfiguredCluster(kind, config.output);
  let engine: EngineInfo;
  try {
    engine = out.setup
      ? await installAssets(cluster.rest, config, out.retention, log)
      : await detectEngine(cluster.rest);
  } catch (err) {
    await cluster.close();
    throw err;
  }
  const sink = new SearchBulkSink({
    transport: cluster.transport,
    flushBytes: out.flush_bytes,
    flushCount: out.flush_count,
    flushIntervalMs: out.flush_interval,
    concurrency: out.concurrency,
    deadLetterFile: deadLetterFileOf(config),
    log: log.child({ component: 'output' }),
  });
  return {
    sink,
    id: `${kind}:${engine.clusterUuid}`,
    description: `${cluster.where} (data streams logs-encedo_hem.*)`,
    rest: cluster.rest,
    close: () => cluster.close(),
  };
}

/** `setup: true` of a search output: templates, pipeline and lifecycle policy installed or upgraded, logged. */
async function installAssets(rest: RestClient, config: Config, retention: string, log: Logger): Promise<EngineInfo> {
  const stateIndex = stateIndexOf(config);
  const setup = await setupEngine(rest, { retention, ...(stateIndex ? { stateIndex } : {}) });
  const changed = setup.actions.filter((a) => a.action === 'create' || a.action === 'update');
  for (const a of setup.actions.filter((x) => x.action === 'unsupported'))
    log.warn(
      { asset: `${a.kind} ${a.name}` },
      'the cluster lacks the Index State Management plugin: retention is not enforced',
    );
  log.info(
    { engine: `${setup.engine.kind} ${setup.engine.version}`, changed: changed.map((a) => `${a.action} ${a.name}`) },
    changed.length > 0 ? 'index templates installed' : 'index templates up to date',
  );
  return setup.engine;
}

/** Files streaming from devices into the output at once, across all devices (see DeviceCollectorOptions.streams). */
const FILES_STREAMING = 4;

/** A device as configured, reachable: its client, and the in-process simulator behind a `simulator:` device. */
export interface DeviceEndpoint {
  readonly client: DeviceClient;
  /** With a simulator's url, certificate pin and logger key filled in. */
  readonly config: DeviceConfig;
  readonly simulator: HemSimulator | null;
}

export interface DeviceHandle extends DeviceEndpoint {
  readonly collector: DeviceCollector;
}

/** A client per device; a `simulator:` device runs in-process on loopback with a pinned certificate. */
export async function openDevices(config: Config, log: Logger): Promise<DeviceEndpoint[]> {
  return Promise.all(
    config.devices.map(async (dc) => {
      let simulator: HemSimulator | null = null;
      let device = dc;
      let passphrase = () => dc.passphrase!.reveal();
      if (dc.simulator) {
        const simPassphrase = randomBytes(12).toString('base64url');
        // Loaded only for a simulated device: the simulator and its certificate generator cost ~0.1 s to load.
        const { HemSimulator } = await import('../simulator/server.js');
        simulator = await HemSimulator.start({
          seed: dc.simulator.seed,
          boots: dc.simulator.boots,
          eventsPerBoot: dc.simulator.events_per_boot,
          segmentEvery: dc.simulator.segment_every,
          passphrase: simPassphrase,
        });
        const ids = simulator.device.fileIds();
        for (const t of dc.simulator.tamper)
          if (ids[t.file] && ids[t.file] !== simulator.device.currentFileId)
            simulator.device.tamper(ids[t.file]!, t.kind);
        passphrase = () => simPassphrase;
        device = {
          ...dc,
          url: simulator.url,
          tls: { fingerprint: simulator.certSha256! },
          logger_key: dc.logger_key ?? simulator.device.loggerPublicKey.toString('base64'),
        };
        log.info(
          { device: dc.name, url: simulator.url, boots: dc.simulator.boots, tampered: dc.simulator.tamper.length },
          'started the in-process simulated device',
        );
      }
      const client = new DeviceClient({
        url: device.url!,
        name: dc.name,
        passphrase,
        log,
        ...(device.tls
          ? { tls: { ...device.tls, ...(device.tls.ca ? { ca: readFileSync(device.tls.ca, 'utf8') } : {}) } }
          : {}),
        responseTimeoutMs: dc.request_timeout,
        requestDeadlineMs: dc.request_deadline,
        maxFileBytes: dc.max_file_bytes,
        maxFiles: dc.max_files,
        pacingMs: dc.pacing,
      });
      return { client, config: device, simulator };
    }),
  );
}

/** Closes the devices' clients (at once with `destroy`, failing what is in flight) and their simulators. */
export async function closeDevices(devices: readonly DeviceEndpoint[], destroy = false): Promise<void> {
  await Promise.all(
    devices.map(async (d) => {
      await (destroy ? d.client.destroy() : d.client.close());
      await d.simulator?.close();
    }),
  );
}

/** A collector per device, all writing to one sink. */
export function createDevices(
  endpoints: readonly DeviceEndpoint[],
  deps: {
    sink: Sink;
    outputId: string;
    store: StateStore;
    log: Logger;
    metrics: Metrics;
    onFile?: (d: string, done: number, total: number) => void;
    custody?: CustodyOptions;
    /** This instance's id (status documents). */
    instance?: string;
    /** With leases: throws once this instance no longer holds the device's lease. */
    fence?: (device: string) => Promise<void>;
  },
): DeviceHandle[] {
  const streams = new Limiter(FILES_STREAMING);
  const { sink, outputId, store, metrics, onFile, custody, instance, fence } = deps;
  return endpoints.map((endpoint) => {
    const name = endpoint.config.name;
    const collector = new DeviceCollector({
      streams,
      ...(custody ? { custody } : {}),
      ...(instance ? { instance } : {}),
      ...(fence ? { fence: () => fence(name) } : {}),
      config: endpoint.config,
      client: endpoint.client,
      sink,
      outputId,
      store,
      log: deps.log.child({ device: name }),
      metrics,
      ...(onFile ? { onFile } : {}),
    });
    return { ...endpoint, collector };
  });
}

/** This instance's id: config state.instance_id, else host and pid. */
export function instanceIdOf(config: Config): string {
  return config.state.instance_id ?? defaultInstanceId();
}

/** The index of the shared state (state.store: elasticsearch or opensearch), or null with the file store. */
export function stateIndexOf(config: Config): string | null {
  return config.state.store === 'file' ? null : D.fleet.index;
}

/**
 * The configured state store. In the cluster it uses `rest` (else a client of its own, closed by `close`) and
 * writes as the lease holder `instance`, or holds no lease (the `state` commands) when it is null.
 */
export async function createStore(
  config: Config,
  options: { rest?: RestClient | null; instance?: string | null } = {},
): Promise<StateStore & { close?: () => Promise<void> }> {
  if (config.state.store === 'file') return new FileStateStore(config.state_dir);
  const own = options.rest ? null : await openConfiguredCluster(config.state.store, config.output);
  const store = new ClusterStateStore({
    rest: options.rest ?? own!.rest,
    index: D.fleet.index,
    fleet: config.state.fleet,
    instance: options.instance ?? null,
    leaseTtlMs: config.state.lease_ttl,
  });
  return Object.assign(store, { close: async () => own?.close() });
}
