import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { type CycleResult, emptyCycleResult } from '../collector/device-collector.js';
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import {
  type DeviceHandle,
  type Output as ForwarderOutput,
  closeDevices,
  createDevices,
  createOutput,
  createStore,
  digestDirOf,
  instanceIdOf,
  openDevices,
} from '../app/wiring.js';
import { Fleet } from '../fleet/fleet.js';
import { ClusterStateStore } from '../state/cluster-store.js';
import type { CustodyOptions } from '../collector/custody-digest.js';
import { PACKAGE_VERSION } from '../shared/package-info.js';
import { pollDevice } from '../collector/poll.js';
import { type Config, effectiveOutput } from '../config/schema.js';
import { ConfigError, type LoadedConfig, loadConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';
import { type DeviceView, health } from '../observability/health.js';
import { Metrics, serveMetrics } from '../observability/metrics.js';
import { Progress } from '../observability/progress.js';
import { SetupError } from '../sinks/search/setup.js';
import { ForwarderError, exitCodeFor } from '../shared/errors.js';
import { loadOrCreateCustodyKey } from '../state/custody-key.js';
import { lockStateDir } from '../state/lock.js';
import { EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';

export const RUN_USAGE = COMMANDS.run.usage;
const INSTANCE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
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
    options: COMMANDS.run.options,
  });
  if (!values.config) throw new UsageError(`--config FILE is required; usage: ${RUN_USAGE}`);
  const instanceId = values['instance-id'];
  if (instanceId !== undefined && !INSTANCE_ID.test(instanceId))
    throw new UsageError(`--instance-id ${JSON.stringify(instanceId)}: 1-128 letters, digits, _, ., : and -`);
  if (values['state-dir'] === '') throw new UsageError('--state-dir: a directory, not an empty string');
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
  const { warnings } = loaded;
  const config: Config = {
    ...loaded.config,
    ...(values['state-dir'] ? { state_dir: values['state-dir'] } : {}),
    state: { ...loaded.config.state, ...(instanceId ? { instance_id: instanceId } : {}) },
  };
  const log = await createLogger({ level: config.log.level, format: config.log.format });
  for (const w of warnings) log.warn({ config: values.config }, w);

  // One collector per state: a second one would collect everything again and race on the checkpoints.
  const lock = await lockStateDir(config.state_dir);
  try {
    // A state file that cannot be read (permissions, a directory in its place) is the operator's to fix:
    // say so before anything starts, rather than failing that device's every cycle.
    if (config.state.store === 'file') {
      const store = await createStore(config);
      for (const d of config.devices) {
        const found = await store.inspect(d.name);
        if (found.verdict === 'unreadable') throw found.error;
      }
    }
    // The custody signing key exists from the first run on, so an auditor can pin it (custody key).
    const custody = await loadOrCreateCustodyKey(config.state_dir, config.custody?.signing_key);
    if (custody.created)
      log.info({ fingerprint: custody.key.fingerprint, path: custody.path }, 'created the custody signing key');
    const options = { key: custody.key, digestDir: digestDirOf(config), version: PACKAGE_VERSION };
    const code = await collect(config, values.once === true, log, out, options);
    if (values.once === true) await out.line(custodyHint(config, values.config!, options));
    return code;
  } finally {
    await lock.release();
  }
}

async function collect(
  config: Config,
  once: boolean,
  log: Logger,
  out: Output,
  custody: CustodyOptions,
): Promise<number> {
  const endpoints = await openDevices(config, log);
  // Without a fleet this instance collects every device: each login's first half (challenge and PBKDF2, which
  // the device does not audit) runs beside the output's setup instead of after it.
  if (config.state.store === 'file') for (const d of endpoints) void d.client.prepareLogin();
  let output: Awaited<ReturnType<typeof createOutput>>;
  try {
    output = await createOutput(config, log);
  } catch (err) {
    await closeDevices(endpoints, true);
    if (err instanceof SetupError) {
      out.error(`output: ${err.message}`);
      return EXIT_INVALID;
    }
    throw err;
  }
  const { sink } = output;
  const metrics = new Metrics(() => sink.stats);
  const instance = instanceIdOf(config);
  metrics.instance.set({ instance, version: PACKAGE_VERSION }, 1);
  let store: Awaited<ReturnType<typeof createStore>>;
  try {
    store = await createStore(config, { rest: output.rest, instance });
  } catch (err) {
    await closeDevices(endpoints, true);
    await output.close?.();
    throw err;
  }
  const shared = store instanceof ClusterStateStore ? store : null;
  const fleet = shared ? createFleet(config, shared, output, instance, log, metrics) : null;
  const progress = new Progress(process.stderr);
  const onFile = (d: string, done: number, total: number) => progress.update(d, done, total);
  const fence = shared ? (device: string) => shared.confirm(device) : undefined;
  const devices = createDevices(endpoints, {
    sink,
    outputId: output.id,
    store,
    log,
    metrics,
    onFile,
    custody,
    instance,
    ...(fence ? { fence } : {}),
  });
  const results = new Map<string, CycleResult>();
  const controller = new AbortController();
  // Every device's poll loop (and, in a fleet, its wait for a lease) listens for the stop.
  setMaxListeners(devices.length + 16, controller.signal);
  let server = null;
  try {
    await fleet?.start();
    const report = () =>
      health(
        devices.map((d) => viewOf(d, results, fleet)),
        sink.stats,
        Date.now(),
      );
    server = config.metrics ? await serveMetrics(config.metrics.listen, metrics, report) : null;
  } catch (err) {
    await closeDevices(devices);
    await fleet?.stop().catch(() => undefined);
    await output.close?.();
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
  // With a fleet, only the devices this instance holds: --once collects those it holds after its first round.
  const held = (d: DeviceHandle) => (fleet ? fleet.holding(d.config.name) : controller.signal);
  const elsewhere = fleet ? devices.filter((d) => held(d) === null).map((d) => d.config.name) : [];
  try {
    if (once) {
      const cycle = async (d: DeviceHandle, lease: AbortSignal) =>
        results.set(d.config.name, await d.collector.cycle(AbortSignal.any([controller.signal, lease])));
      const mine = devices.flatMap((d) => {
        const lease = held(d);
        return lease ? [cycle(d, lease)] : [];
      });
      await Promise.race([Promise.all(mine), deadline]);
    } else {
      log.info({ devices: devices.map((d) => d.config.name), output: output.description, instance }, 'collecting');
      const poll = (d: DeviceHandle, signal: AbortSignal) =>
        pollDevice(d, log, signal, (r) => results.set(d.config.name, r));
      const loops = devices.map((d) =>
        fleet ? leasedLoop(fleet, d, controller.signal, poll) : poll(d, controller.signal),
      );
      await Promise.race([Promise.all(loops), deadline]);
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
    // Leases go back at once, so the other instances take the devices over without waiting for them to lapse.
    await fleet?.stop().catch((err: Error) => log.warn({ err: err.message }, 'could not release the leases'));
    if (onceTimer) clearTimeout(onceTimer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await closeDevices(devices, controller.signal.aborted);
    await output.close?.();
    server?.close();
  }
  if (!once) return EXIT_OK; // a service stopped by its manager ends cleanly
  // A device whose cycle never returned (stopped at the deadline) is reported as interrupted, not left out.
  for (const d of devices)
    if (!results.has(d.config.name) && !elsewhere.includes(d.config.name))
      results.set(d.config.name, { ...emptyCycleResult(d.config.name), interrupted: true });
  const summary = summarize([...results.values()], output.description, stoppedBy);
  await out.line(summary.text);
  if (elsewhere.length > 0)
    await out.line(`  held by other instances, not collected by ${instance}: ${elsewhere.join(', ')}`);
  if (stoppedBy !== null) return EXIT_INTERRUPTED;
  return summary.ok ? EXIT_OK : EXIT_INVALID;
}

function createFleet(
  config: Config,
  store: ClusterStateStore,
  output: ForwarderOutput,
  instance: string,
  log: Logger,
  metrics: Metrics,
): Fleet {
  return new Fleet({
    rest: output.rest!,
    store,
    instance: { id: instance, host: hostname(), pid: process.pid, version: PACKAGE_VERSION },
    devices: config.devices.map((d) => d.name),
    leaseTtlMs: config.state.lease_ttl,
    renewMs: config.state.lease_renew,
    log: log.child({ component: 'fleet' }),
    onHolders: (holders) => {
      metrics.holder.reset();
      for (const [device, holder] of holders) metrics.holder.set({ device, instance: holder ?? 'none' }, 1);
    },
  });
}

/** A device's poll loop while this instance holds its lease; when it loses or gives it up, waits to hold it again. */
async function leasedLoop(
  fleet: Fleet,
  d: DeviceHandle,
  signal: AbortSignal,
  poll: (d: DeviceHandle, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  while (!signal.aborted) {
    const lease = await fleet.acquire(d.config.name, signal);
    if (lease === null) return;
    await poll(d, AbortSignal.any([signal, lease]));
    d.client.endSession();
    await fleet.stopped(d.config.name);
  }
}

/** A device as /healthz sees it. */
function viewOf(d: DeviceHandle, results: Map<string, CycleResult>, fleet: Fleet | null): DeviceView {
  return {
    name: d.config.name,
    requestDeadlineMs: d.config.request_deadline,
    ...d.collector.activity,
    last: results.get(d.config.name),
    held: fleet === null || fleet.holding(d.config.name) !== null,
  };
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
