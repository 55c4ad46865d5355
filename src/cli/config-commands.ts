import { parseArgs } from 'node:util';
import { createStore } from '../collector/runtime.js';
import { type LoadedConfig, ConfigError, loadConfig } from '../config/load.js';
import { effectiveOutput } from '../config/schema.js';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import type { Output } from './output.js';

export const CHECK_CONFIG_USAGE = 'hem-forwarder check-config --config FILE';
export const STATE_USAGE = 'hem-forwarder state (show [DEVICE] | reset DEVICE | accept-key DEVICE) --config FILE';

/** Loads the config or prints why not; null means the caller should exit 2. */
export function loadOrReport(file: string | undefined, out: Output, usage: string): LoadedConfig | null {
  if (!file) throw new UsageError(`--config FILE is required; usage: ${usage}`);
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      out.error(err.message);
      return null;
    }
    throw err;
  }
}

export async function checkConfigCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } });
  const loaded = loadOrReport(values.config, out, CHECK_CONFIG_USAGE);
  if (!loaded) return EXIT_USAGE;
  for (const w of loaded.warnings) await out.line(`warning: ${w}`);
  const c = loaded.config;
  await out.line(`${values.config}: valid; ${c.devices.length} device(s) (${c.devices.map((d) => d.name).join(', ')}); output ${effectiveOutput(c)}; state in ${c.state_dir}`);
  return EXIT_OK;
}

export async function stateCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string' } } });
  const [action, device] = positionals;
  if (action !== 'show' && action !== 'reset' && action !== 'accept-key') throw new UsageError(`usage: ${STATE_USAGE}`);
  const loaded = loadOrReport(values.config, out, STATE_USAGE);
  if (!loaded) return EXIT_USAGE;
  const store = createStore(loaded.config);
  if (action === 'show') {
    const names = device ? [device] : await store.devices();
    for (const name of names) {
      const { state } = await store.load(name);
      const files = Object.values(state.files);
      const by = (s: string) => files.filter((f) => f.status === s).length;
      await out.line(
        `${name}: serial ${state.serial ?? '?'}; logger key ${state.loggerKey.trusted ?? 'none'} (${state.loggerKey.source ?? '-'})${state.halted ? `; HALTED: ${state.halted.reason}` : ''}; ${files.length} files (${by('ingested')} ingested, ${by('changed')} changed, ${by('vanished')} vanished, ${files.filter((f) => !f.valid).length} invalid); ${files.reduce((a, f) => a + f.records, 0)} records`,
      );
    }
    return EXIT_OK;
  }
  if (!device) throw new UsageError(`${action} needs a DEVICE name`);
  if (!loaded.config.devices.some((d) => d.name === device)) {
    out.error(`state ${action}: no device named ${JSON.stringify(device)} in ${values.config}`);
    return EXIT_USAGE;
  }
  if (action === 'reset') {
    const removed = await store.reset(device);
    await out.line(removed ? `${device}: state removed; the next run collects every file again (document ids prevent duplicates)` : `${device}: no state to remove`);
    return EXIT_OK;
  }
  const { state } = await store.load(device);
  if (!state.halted) {
    await out.line(`${device}: not halted; nothing to accept`);
    return EXIT_INVALID;
  }
  const key = state.halted.newKey;
  state.loggerKey = { trusted: key, source: 'accepted', since: new Date().toISOString() };
  if (!state.knownKeys.includes(key)) state.knownKeys.push(key);
  state.halted = null;
  await store.save(state);
  await out.line(`${device}: accepted logger key ${key}; collection resumes on the next run`);
  return EXIT_OK;
}
