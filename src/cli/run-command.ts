import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { type CycleResult, emptyCycleResult } from '../collector/device-collector.js';
import { type DeviceHandle, createDevices, createOutput, createStore, digestDirOf } from '../app/wiring.js';
import type { CustodyOptions } from '../collector/custody-digest.js';
import { PACKAGE_VERSION } from '../shared/package-info.js';
import { pollDevice } from '../collector/poll.js';
import { type Config, effectiveOutput } from '../config/schema.js';
import { ConfigError, type LoadedConfig, loadConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { Metrics, serveMetrics } from '../observability/metrics.js';
import { Progress } from '../observability/progress.js';
import { SetupError } from '../sinks/elasticsearch/setup.js';
import { ForwarderError, exitCodeFor } from '../shared/errors.js';
import { loadOrCreateCustodyKey } from '../state/custody-key.js';
import { lockStateDir } from '../state/lock.js';
import type { StateStore } from '../state/store.js';
import { EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import type { Output } from './output.js';

export const RUN_USAGE = 'hem-forwarder run --config FILE [--once]';
/** Stop within 10 s of SIGINT/SIGTERM: in-flight work gets this long, then the output gets the rest. */
const SHUTDOWN_GRACE_MS = 6000;

/** The collector: polls every device until SIGINT/SIGTERM, or one cycle with --once. */
export async function runCommand(argv: string[], out: Output): Promise<number> {
  try {
    return await run(argv, out);
  } catch (err) {
    // Conditions the operator fixes, not bugs (state locked or unreadable, metrics.listen refused: exit 2):
    // one line each, no stack. UsageError goes on to main(), which prefixes the command name.
    if (err instanceof ForwarderError && !(err instanceof UsageError)) {
      out.error(err.message);
      return exitCodeFor(err);
    }
    throw err;
  }
}

async function run(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, once: { type: 'boolean', default: false } },
  });
  if (!values.config) throw new UsageError(`--config FILE is required; usage: ${RUN_USAGE}`);
  let loaded: LoadedConfig;
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

  // One collector per state: a second one would collect everything again and race on the checkpoints.
  const lock = await lockStateDir(config.state_dir);
  try {
    // A state file that cannot be read (permissions, a directory in its place) is the operator's to fix:
    // say so before anything starts, rather than failing that device's every cycle.
    const store = createStore(config);
    for (const d of config.devices) {
      const found = await store.inspect(d.name);
      if (found.verdict === 'unreadable') throw found.error;
    }
    // The custody signing key exists from the first run on, so an auditor can pin it (custody key).
    const custody = await loadOrCreateCustodyKey(config.state_dir, config.custody?.signing_key);
    if (custody.created)
      log.info({ fingerprint: custody.key.fingerprint, path: custody.path }, 'created the custody signing key');
    const options = { key: custody.key, digestDir: digestDirOf(config), version: PACKAGE_VERSION };
    const code = await collect(config, store, values.once === true, log, out, options);
    if (values.once === true) await out.line(custodyHint(config, values.config!, options));
    return code;
  } finally {
    await lock.release();
  }
}

async function collect(
  config: Config,
  store: StateStore,
  once: boolean,
  log: Logger,
  out: Output,
  custody: CustodyOptions,
): Promise<number> {
  let output: Awaited<ReturnType<typeof createOutput>>;
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
  const onFile = (d: string, done: number, total: number) => progress.update(d, done, total);
  const devices = await createDevices(config, { sink, outputId: output.id, store, log, metrics, onFile, custody });
  const results = new Map<string, CycleResult>();
  const controller = new AbortController();
  let server = null;
  try {
    server = config.metrics ? await serveMetrics(config.metrics.listen, metrics, () => health(devices, results)) : null;
  } catch (err) {
    await Promise.all(devices.map(async (d) => Promise.all([d.client.close(), d.simulator?.close()])));
    await output.client?.close();
    throw err;
  }

  let stoppedBy: string | null = null;
  const stop = (signal: string) => {
    if (controller.signal.aborted) return;
    stoppedBy = signal;
    log.info({ signal }, 'stopping: no new files; flushing what is in flight');
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // --once is bounded as a whole: an output that never comes back must not hold a cron job forever.
  const onceTimer = once
    ? setTimeout(() => stop(`once_timeout (${config.once_timeout} ms)`), config.once_timeout)
    : null;

  // After a stop signal, work in progress gets a bounded time; a hung device does not hold the exit.
  const deadline = new Promise<void>((resolve) =>
    controller.signal.addEventListener('abort', () => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref(), { once: true }),
  );
  try {
    if (once) {
      await Promise.race([
        Promise.all(devices.map(async (d) => results.set(d.config.name, await d.collector.cycle(controller.signal)))),
        deadline,
      ]);
    } else {
      log.info({ devices: devices.map((d) => d.config.name), output: output.description }, 'collecting');
      await Promise.race([
        Promise.all(devices.map((d) => pollDevice(d, log, controller.signal, (r) => results.set(d.config.name, r)))),
        deadline,
      ]);
    }
    progress.done();
    // Everything acknowledged is checkpointed already; give what is in flight a bounded time.
    const flushed = await Promise.race([
      sink.close().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), controller.signal.aborted ? 2500 : 30_000).unref()),
    ]);
    if (!flushed) {
      sink.abort('shutdown deadline');
      log.warn({}, 'output did not drain in time; unacknowledged files will be collected again next start');
    }
  } finally {
    if (onceTimer) clearTimeout(onceTimer);
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
  if (!once) return EXIT_OK; // a service stopped by its manager ends cleanly
  // A device whose cycle never returned (stopped at the deadline) is reported as interrupted, not left out.
  for (const d of devices)
    if (!results.has(d.config.name))
      results.set(d.config.name, { ...emptyCycleResult(d.config.name), interrupted: true });
  const summary = summarize([...results.values()], output.description, stoppedBy);
  await out.line(summary.text);
  if (stoppedBy !== null) return EXIT_INTERRUPTED;
  return summary.ok ? EXIT_OK : EXIT_INVALID;
}

/** Where the digests went and how to check them: the first thing an auditor asks after a run. */
function custodyHint(config: Config, configPath: string, custody: CustodyOptions): string {
  const key = `${custody.key.fingerprint.slice(0, 16)}…`;
  const line = `  custody: every ingested file has a digest signed by ${key} (local copies in ${custody.digestDir})`;
  if (effectiveOutput(config) !== 'elasticsearch') return `${line}; audit reads them from an Elasticsearch output`;
  // `npm start` users run the CLI through npm: give them the npm form.
  const command =
    process.env.npm_lifecycle_event === 'start' ? 'npm run audit' : `hem-forwarder audit --config ${configPath}`;
  return `${line}\n  check what was written: ${command}`;
}

type DeviceHealth = 'starting' | 'ok' | 'failing' | 'halted' | 'stuck';

/**
 * `/healthz`: unhealthy when a device is halted, failing, or stuck (a cycle that has not moved forward for
 * longer than its request deadline plus a minute: no single request can take that long).
 */
export function health(
  devices: DeviceHandle[],
  results: Map<string, CycleResult>,
  now = Date.now(),
): { healthy: boolean; details: unknown } {
  const states: Record<string, DeviceHealth> = {};
  for (const d of devices) {
    const last = results.get(d.config.name);
    const { cycleStartedAt, progressAt } = d.collector.activity;
    if (cycleStartedAt !== null && now - progressAt > d.config.request_deadline + 60_000)
      states[d.config.name] = 'stuck';
    else if (last === undefined) states[d.config.name] = 'starting';
    else states[d.config.name] = last.halted ? 'halted' : last.ok ? 'ok' : 'failing';
  }
  const healthy = Object.values(states).every((s) => s === 'ok' || s === 'starting');
  return { healthy, details: { devices: states } };
}

export function summarize(
  results: CycleResult[],
  where: string,
  stoppedBy: string | null = null,
): { ok: boolean; text: string } {
  const n = (x: number) => x.toLocaleString('en-US');
  const sum = (f: (r: CycleResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const problems: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.problems)) problems[k] = (problems[k] ?? 0) + (v ?? 0);
  const lines = results.map((r) => {
    const state = r.halted ? 'HALTED' : r.error ? 'FAILED' : r.interrupted ? 'INTERRUPTED' : 'ok';
    const detail = r.error
      ? `: ${r.error.message}`
      : r.locked
        ? ` (current file ${r.locked} locked until the next reboot)`
        : '';
    const skipped = r.filesSkipped > 0 ? `, ${n(r.filesSkipped)} SKIPPED (see alerts)` : '';
    const dead = r.deadLettered > 0 ? `, ${n(r.deadLettered)} documents DEAD-LETTERED` : '';
    return (
      `  ${r.device}: ${state}; ${n(r.filesIngested)} files (${n(r.filesInvalid)} ` +
      `invalid${skipped}), ${n(r.records)} records, ${n(r.verified)} verified, ` +
      `${n(r.alerts)} alerts${dead}; ${n(r.earlier)} files ingested by earlier ` +
      `runs${detail}`
    );
  });
  const problemText =
    Object.keys(problems).length > 0
      ? Object.entries(problems)
          .map(([k, v]) => `${k} ${n(v)}`)
          .join(', ')
      : 'none';
  const text = [
    `Summary: ${n(results.length)} device(s); ${n(sum((r) => r.filesIngested))} files ` +
      `ingested (${n(sum((r) => r.filesInvalid))} INVALID); ${n(sum((r) => r.records))} ` +
      `records, ${n(sum((r) => r.verified))} verified`,
    `  problems found: ${problemText}; integrity alerts: ${n(sum((r) => r.alerts))}`,
    `  documents: ${n(sum((r) => r.written))} written, ${n(sum((r) => r.duplicates))} ` +
      `already there, ${n(sum((r) => r.deadLettered))} dead-lettered; output: ${where}`,
    ...lines,
    ...(stoppedBy !== null
      ? [`  INTERRUPTED by ${stoppedBy}: unfinished files were not checkpointed and are collected next run`]
      : []),
  ].join('\n');
  // Dead letters are kept, not lost, but a cycle that needed them did not deliver everything: not a clean run.
  return { ok: results.every((r) => r.ok && !r.halted && r.deadLettered === 0), text };
}
