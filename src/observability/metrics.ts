import { type Server, createServer } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { ForwarderError } from '../shared/errors.js';
import type { SinkStats } from '../sinks/sink.js';
import type { Health } from './health.js';

/** The forwarder's Prometheus metrics (`hemfwd_*`), one registry per process. */
export class Metrics {
  readonly registry = new Registry();
  readonly lastSuccess = new Gauge({
    name: 'hemfwd_device_last_success_timestamp_seconds',
    help: 'End of the last successful collection cycle, per device',
    labelNames: ['device'],
    registers: [this.registry],
  });
  readonly files = new Counter({
    name: 'hemfwd_files_ingested_total',
    help: 'Log files indexed and checkpointed',
    labelNames: ['device'],
    registers: [this.registry],
  });
  readonly records = new Counter({
    name: 'hemfwd_records_ingested_total',
    help: 'Audit records indexed and checkpointed',
    labelNames: ['device'],
    registers: [this.registry],
  });
  readonly problems = new Counter({
    name: 'hemfwd_verification_problems_total',
    help: 'Verification problems found, by kind',
    labelNames: ['device', 'kind'],
    registers: [this.registry],
  });
  readonly alerts = new Counter({
    name: 'hemfwd_integrity_alerts_total',
    help: 'Integrity alerts raised, by kind',
    labelNames: ['device', 'kind'],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'hemfwd_device_errors_total',
    help: 'Failed collection cycles, by error code',
    labelNames: ['device', 'code'],
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'hemfwd_device_lag_seconds',
    help: 'Age of the oldest closed log file not yet ingested (0 when caught up)',
    labelNames: ['device'],
    registers: [this.registry],
  });
  readonly instance = new Gauge({
    name: 'hemfwd_instance_info',
    help: 'This forwarder instance (always 1): its id names it in leases and status documents',
    labelNames: ['instance', 'version'],
    registers: [this.registry],
  });
  readonly holder = new Gauge({
    name: 'hemfwd_device_lease_holder',
    help: 'With state.store elasticsearch: 1 for the instance holding each device (none: free), as last seen here',
    labelNames: ['device', 'instance'],
    registers: [this.registry],
  });
  readonly halted = new Gauge({
    name: 'hemfwd_device_halted',
    help: '1 while a device is halted on a logger key change',
    labelNames: ['device'],
    registers: [this.registry],
  });
  readonly unreleased = new Gauge({
    name: 'hemfwd_device_unreleased_seconds',
    help: "Age of the current boot's log file, which the device releases only at the next reboot (0 when unknown)",
    labelNames: ['device'],
    registers: [this.registry],
  });

  constructor(sinkStats?: () => Readonly<SinkStats>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'hemfwd_' });
    if (sinkStats) {
      // Read the output's own counters at scrape time instead of mirroring every increment.
      const registers = [this.registry];
      const counter = (name: string, help: string, pick: (s: Readonly<SinkStats>) => number) =>
        new Counter({
          name,
          help,
          registers,
          collect(this: Counter) {
            this.reset();
            this.inc(pick(sinkStats()));
          },
        });
      counter('hemfwd_output_written_total', 'Documents newly stored by the output', (s) => s.written);
      counter('hemfwd_output_duplicates_total', 'Documents the output already had (same id)', (s) => s.duplicates);
      counter(
        'hemfwd_output_dead_letters_total',
        'Documents rejected by the output and dead-lettered',
        (s) => s.deadLettered,
      );
      counter('hemfwd_output_retries_total', 'Output requests retried', (s) => s.retries);
      new Gauge({
        name: 'hemfwd_output_queue_depth',
        help: 'Documents accepted and not yet acknowledged',
        registers,
        collect(this: Gauge) {
          this.set(sinkStats().queued);
        },
      });
    }
  }
}

/** `metrics.listen` cannot be served (address in use, not on this host, no permission): a config problem. */
export class MetricsListenError extends ForwarderError {
  override readonly name = 'MetricsListenError';
  readonly code = 'metrics_listen';
  readonly transient = false;
  constructor(
    readonly listen: string,
    /** The system error code (EADDRINUSE, ...); `code` is the forwarder's own. */
    readonly sysCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    const why: Record<string, string> = {
      EADDRINUSE: 'address in use',
      EADDRNOTAVAIL: 'address not available on this host',
      EACCES: 'permission denied (a port below 1024?)',
      ENOTFOUND: 'host not found',
      EAI_AGAIN: 'host not found',
    };
    const reason = (sysCode && why[sysCode]) ?? `cannot listen (${sysCode ?? 'unknown error'})`;
    super(`metrics.listen ${listen}: ${reason}`, options);
  }
}

/**
 * `/metrics` (Prometheus text), `/healthz` and `/readyz` (200 or 503, JSON details) on host:port; rejects
 * with a MetricsListenError when the address cannot be listened on.
 */
export async function serveMetrics(listen: string, metrics: Metrics, health: () => Health): Promise<Server> {
  const [host, port] = [
    listen.slice(0, listen.lastIndexOf(':')) || '127.0.0.1',
    Number(listen.slice(listen.lastIndexOf(':') + 1)),
  ];
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
      });
    } else if (req.url === '/healthz' || req.url === '/readyz') {
      const h = health();
      const good = req.url === '/healthz' ? h.healthy : h.ready;
      res.writeHead(good ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.url === '/healthz' ? h.body : { ready: h.ready, devices: h.body.devices }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new MetricsListenError(listen, err.code, { cause: err }));
    });
    try {
      server.listen(port, host, resolve);
    } catch (err) {
      // A port out of range throws here rather than emitting 'error'.
      reject(new MetricsListenError(listen, (err as NodeJS.ErrnoException).code, { cause: err }));
    }
  });
  return server;
}
