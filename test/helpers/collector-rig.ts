import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { DeviceCollector } from '../../src/collector/device-collector.js';
import { type DeviceConfig, configSchema } from '../../src/config/schema.js';
import { DeviceClient } from '../../src/device/client.js';
import { Metrics } from '../../src/observability/metrics.js';
import { ElasticsearchBulkSink } from '../../src/sinks/elasticsearch/bulk-sink.js';
import { createElasticsearchClient } from '../../src/sinks/elasticsearch/client.js';
import { HemSimulator, type SimulatorOptions } from '../../src/simulator/server.js';
import type { Sink } from '../../src/sinks/sink.js';
import { FileStateStore } from '../../src/state/store.js';
import { clusterUrl, testClient, uniqueNamespace } from './cluster.js';

/** A simulated device, a collector for it, and the real engine behind an Elasticsearch sink. */
export const es = testClient();
const cleanup: (() => Promise<unknown>)[] = [];

export async function cleanupRigs(): Promise<void> {
  for (const c of cleanup.reverse()) await c();
  cleanup.length = 0;
  await es.close();
}

export const PASS = 'forwarder passphrase';

export interface Rig {
  sim: HemSimulator;
  collector: DeviceCollector;
  store: FileStateStore;
  ns: string;
  sink: ElasticsearchBulkSink;
  /** The metrics every collector of this rig reports to. */
  metrics: Metrics;
  /** Another collector on the same device, state and output, with config changes (a restart). */
  restart: (device?: Record<string, unknown>, outputId?: string) => DeviceCollector;
  alerts: (kind?: string) => Promise<{ kind: string; message: string }[]>;
}

export async function rig(
  options: {
    sim?: SimulatorOptions;
    device?: Record<string, unknown>;
    esUrl?: string;
    outputId?: string;
    /** Wraps the output the collectors write to (to observe or slow it). */
    wrapSink?: (sink: Sink) => Sink;
  } = {},
): Promise<Rig> {
  const sim = await HemSimulator.start({
    passphrase: PASS,
    masterPassphrase: 'm',
    authDelayMs: 5,
    boots: 4,
    eventsPerBoot: 40,
    ...options.sim,
  });
  cleanup.push(() => sim.close());
  const ns = uniqueNamespace();
  const configOf = (device?: Record<string, unknown>) =>
    configSchema.parse({
      devices: [
        {
          name: 'hem1',
          url: sim.url,
          passphrase: PASS,
          tls: { fingerprint: sim.certSha256 },
          logger_key: sim.device.loggerPublicKey.toString('base64'),
          namespace: ns,
          tags: ['test'],
          ...device,
        },
      ],
    }).devices[0] as DeviceConfig;
  const config = configOf(options.device);
  const client = new DeviceClient({
    url: sim.url,
    name: config.name,
    passphrase: () => PASS,
    tls: { fingerprint: sim.certSha256! },
    retryBaseMs: 10,
    requestDeadlineMs: config.request_deadline,
    maxFileBytes: config.max_file_bytes,
    maxFiles: config.max_files,
  });
  cleanup.push(() => client.close());
  const esClient = createElasticsearchClient({ hosts: [options.esUrl ?? clusterUrl()] });
  cleanup.push(() => esClient.close());
  const sink = new ElasticsearchBulkSink({
    client: esClient,
    deadLetterFile: '/dev/null',
    flushIntervalMs: 50,
    retryBaseMs: 100,
    retryMaxMs: 500,
  });
  const store = new FileStateStore(mkdtempSync(join(tmpdir(), 'hemfwd-state-')));
  const outputId = options.outputId ?? 'elasticsearch:test';
  const metrics = new Metrics();
  const collectorFor = (c: DeviceConfig, id: string) =>
    new DeviceCollector({
      config: c,
      client,
      sink: options.wrapSink ? options.wrapSink(sink) : sink,
      outputId: id,
      store,
      log: pino({ level: 'silent' }),
      metrics,
    });
  const collector = collectorFor(config, outputId);
  const restart = (device?: Record<string, unknown>, id = outputId) =>
    collectorFor(configOf({ ...options.device, ...device }), id);
  const alerts = async (kind?: string) => {
    const index = `logs-encedo_hem.integrity-${ns}`;
    await es.indices.refresh({ index, ignore_unavailable: true });
    const r = await es.search({
      index,
      ignore_unavailable: true,
      size: 100,
      query: {
        bool: {
          filter: [{ term: { 'event.kind': 'alert' } }, ...(kind ? [{ term: { 'encedo_hem.alert.kind': kind } }] : [])],
        },
      },
    });
    return r.hits.hits.map((h) => ({
      kind: (h._source as { encedo_hem: { alert: { kind: string } } }).encedo_hem.alert.kind,
      message: (h._source as { message: string }).message,
    }));
  };
  return { sim, collector, store, ns, sink, alerts, restart, metrics };
}
