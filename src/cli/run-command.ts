import { parseArgs } from 'node:util';
import { type CycleResult } from '../collector/device-collector.js';
import { createDevices, createOutput, createStore, pollDevice } from '../collector/runtime.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { Metrics, serveMetrics } from '../observability/metrics.js';
import { Progress } from '../observability/progress.js';
import { SetupError } from '../sinks/elasticsearch/setup.js';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import type { Output } from './output.js';

export const RUN_USAGE = 'hem-forwarder run --config FILE [--once]';
/** Stop within 10 s of SIGINT/SIGTERM: in-flight work gets this long, then the output gets the rest. */
const SHUTDOWN_GRACE_MS = 6000;

/** The collector: polls every device until SIGINT/SIGTERM, or one cycle with --once. */
export async function runCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, once: { type: 'boolean', default: false } } });
  if (!values.config) throw new UsageError(`--config FILE is required; usage: ${RUN_USAGE}`);
  let loaded;
  try {
    loaded = loadConfig(values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      out.error(err.message);
      return EXIT_USAGE;
    }
    throw err;
  }
  const { config, warnings } = loaded;
  const log = createLogger({ level: config.log.level, format: config.log.format });
  for (const w of warnings) log.warn({ config: values.config }, w);

  let output;
  try {
    output = await createOutput(config, log);
  } catch (err) {
    if (err instanceof SetupError) {
      out.error(`output: ${err.message}`);
      return EXIT_INVALID;
    }
    throw err;
  }
  const { sink } = output;
  const metrics = new Metrics(() => sink.stats);
  const progress = new Progress(process.stderr);
  const devices = await createDevices(config, { sink, store: createStore(config), log, metrics, onFile: (d, done, total) => progress.update(d, done, total) });
  const results = new Map<string, CycleResult>();
  const controller = new AbortController();
  const server = config.metrics
    ? await serveMetrics(config.metrics.listen, metrics, () => {
        const details = Object.fromEntries(devices.map((d) => [d.config.name, results.get(d.config.name)?.ok ?? null]));
        return { healthy: Object.values(details).every((ok) => ok !== false), details: { devices: details } };
      })
    : null;

  const stop = (signal: string) => {
    if (controller.signal.aborted) return;
    log.info({ signal }, 'stopping: no new files; flushing what is in flight');
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  // After a stop signal, work in progress gets a bounded time; a hung device does not hold the exit.
  const deadline = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref(), { once: true }));
  try {
    if (values.once) {
      await Promise.race([Promise.all(devices.map(async (d) => results.set(d.config.name, await d.collector.cycle(controller.signal)))), deadline]);
    } else {
      log.info({ devices: devices.map((d) => d.config.name), output: output.description }, 'collecting');
      await Promise.race([Promise.all(devices.map((d) => pollDevice(d, log, controller.signal, (r) => results.set(d.config.name, r)))), deadline]);
    }
    progress.done();
    // Everything acknowledged is checkpointed already; give what is in flight a bounded time.
    const flushed = await Promise.race([sink.close().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), controller.signal.aborted ? 2500 : 30_000).unref())]);
    if (!flushed) {
      sink.abort('shutdown deadline');
      log.warn({}, 'output did not drain in time; unacknowledged files will be collected again next start');
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await Promise.all(
      devices.map(async (d) => {
        await (controller.signal.aborted ? d.client.destroy() : d.client.close());
        await d.simulator?.close();
      }),
    );
    await output.client?.close();
    server?.close();
  }
  if (!values.once) return EXIT_OK;
  const summary = summarize([...results.values()], output.description);
  await out.line(summary.text);
  return summary.ok ? EXIT_OK : EXIT_INVALID;
}

export function summarize(results: CycleResult[], where: string): { ok: boolean; text: string } {
  const n = (x: number) => x.toLocaleString('en-US');
  const sum = (f: (r: CycleResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const problems: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.problems)) problems[k] = (problems[k] ?? 0) + (v ?? 0);
  const lines = results.map((r) => {
    const state = r.halted ? 'HALTED' : r.error ? 'FAILED' : 'ok';
    const detail = r.error ? `: ${r.error.message}` : r.locked ? ` (current file ${r.locked} locked until the next reboot)` : '';
    return `  ${r.device}: ${state}; ${n(r.filesIngested)} files (${n(r.filesInvalid)} invalid), ${n(r.records)} records, ${n(r.verified)} verified, ${n(r.alerts)} alerts; ${n(r.earlier)} files ingested by earlier runs${detail}`;
  });
  const problemText = Object.keys(problems).length > 0 ? Object.entries(problems).map(([k, v]) => `${k} ${n(v)}`).join(', ') : 'none';
  const text = [
    `Summary: ${n(results.length)} device(s); ${n(sum((r) => r.filesIngested))} files ingested (${n(sum((r) => r.filesInvalid))} INVALID); ${n(sum((r) => r.records))} records, ${n(sum((r) => r.verified))} verified`,
    `  problems found: ${problemText}; integrity alerts: ${n(sum((r) => r.alerts))}`,
    `  documents: ${n(sum((r) => r.written))} written, ${n(sum((r) => r.duplicates))} already there, ${n(sum((r) => r.deadLettered))} dead-lettered; output: ${where}`,
    ...lines,
  ].join('\n');
  return { ok: results.every((r) => r.ok && !r.halted), text };
}
