import { parseArgs } from 'node:util';
import { redactUrl } from '../shared/redact.js';
import { DEFAULTS as D } from '../config/defaults.js';
import { createStore, instanceIdOf } from '../app/wiring.js';
import { describeElasticsearch, openConfiguredCluster } from '../app/cluster.js';
import { ClusterStateError, ClusterStateStore } from '../state/cluster-store.js';
import { SetupError, setupEngine } from '../sinks/search/setup.js';
import { type LoadedConfig, ConfigError, loadConfig } from '../config/load.js';
import { type Config, effectiveOutput } from '../config/schema.js';
import { type DeviceState, FileStateStore, StateConflictError, type StateStore, encodeState } from '../state/store.js';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';

export const CHECK_CONFIG_USAGE = COMMANDS['check-config'].usage;
export const STATE_USAGE = COMMANDS.state.usage;

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
  const { values } = parseArgs({ args: argv, options: COMMANDS['check-config'].options });
  const loaded = loadOrReport(values.config, out, CHECK_CONFIG_USAGE);
  if (!loaded) return EXIT_USAGE;
  for (const w of loaded.warnings) await out.line(`warning: ${w}`);
  const c = loaded.config;
  const devices = `${c.devices.length} device(s) (${c.devices.map((d) => d.name).join(', ')})`;
  const state =
    c.state.store === 'elasticsearch'
      ? `state in the cluster (index ${D.fleet.index}, fleet ${c.state.fleet}, instance ${instanceIdOf(c)}, ` +
        `lease ${c.state.lease_ttl} ms), ` +
        `local files in ${c.state_dir}`
      : `state in ${c.state_dir}`;
  await out.line(`${values.config}: valid; ${devices}; output ${describeOutput(c)}; ${state}`);
  await out.line(`output: ${OUTPUT_NOTES[effectiveOutput(c)]}`);
  return EXIT_OK;
}

/** The output and where it writes; URL passwords redacted. */
function describeOutput(c: Config): string {
  const kind = effectiveOutput(c);
  const es = c.output.elasticsearch;
  if (kind === 'elasticsearch' && es) {
    return `elasticsearch (${describeElasticsearch(es)})`;
  }
  if (kind === 'opensearch') return `opensearch (${c.output.opensearch!.hosts.map(redactUrl).join(', ')})`;
  if (kind === 'file') return `file (${c.output.file?.dir ?? D.file.dir})`;
  return kind;
}

/** What the chosen output brings, and when the other search output is the better choice. */
const OUTPUT_NOTES: Record<ReturnType<typeof effectiveOutput>, string> = {
  elasticsearch:
    'for Elasticsearch and Elastic Cloud: ILM retention, Kibana dashboards and detection rules; ' +
    'for an OpenSearch cluster use type: opensearch',
  opensearch:
    'for OpenSearch, the Wazuh indexer and Amazon OpenSearch Service (aws_sigv4): the same data streams through ' +
    "OpenSearch's own client, ISM retention, OpenSearch Dashboards (setup --opensearch-dashboards URL); " +
    'for Elasticsearch or Elastic Cloud use type: elasticsearch',
  file: 'NDJSON files to ship with your own tooling; set output.elasticsearch.hosts or output.opensearch.hosts to index',
  stdout: 'NDJSON on stdout',
};

export async function stateCommand(argv: string[], out: Output): Promise<number> {
  const { options } = COMMANDS.state;
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options });
  const [action, device, ...extra] = positionals;
  const known = action === 'show' || action === 'reset' || action === 'accept-key' || action === 'migrate';
  if (!known || extra.length > 0) throw new UsageError(`usage: ${STATE_USAGE}`);
  if (action === 'migrate') {
    if ((values.to !== 'elasticsearch' && values.to !== 'opensearch') || device !== undefined)
      throw new UsageError(
        'migrate copies the state files into the cluster: state migrate --to elasticsearch (or opensearch)',
      );
    const loaded = loadOrReport(values.config, out, STATE_USAGE);
    return loaded ? migrateState(loaded.config, values.to, out) : EXIT_USAGE;
  }
  if (values.to !== undefined) throw new UsageError(`--to is for state migrate; usage: ${STATE_USAGE}`);
  if (action !== 'show' && !device) throw new UsageError(`${action} needs a DEVICE name; usage: ${STATE_USAGE}`);
  const loaded = loadOrReport(values.config, out, STATE_USAGE);
  if (!loaded) return EXIT_USAGE;
  // Only configured names: a name is a file name under state_dir, and an unknown one is a typo.
  const configured = loaded.config.devices.map((d) => d.name);
  if (device !== undefined && !configured.includes(device)) {
    const named = `no device named ${JSON.stringify(device)} in ${values.config}`;
    out.error(`state ${action}: ${named} (devices: ${configured.join(', ')})`);
    return EXIT_USAGE;
  }
  const store = await createStore(loaded.config);
  try {
    return await changeState(store, action, device, configured, loaded.config, out);
  } catch (err) {
    if (err instanceof ClusterStateError) {
      out.error(`state ${action}: ${err.message}`);
      return EXIT_USAGE;
    }
    throw err;
  } finally {
    await store.close?.();
  }
}

async function changeState(
  store: StateStore,
  action: 'show' | 'reset' | 'accept-key',
  device: string | undefined,
  configured: string[],
  config: Config,
  out: Output,
): Promise<number> {
  if (action === 'show') return showState(store, device ? [device] : configured, out);
  const name = device!;
  if (action === 'reset') {
    if (await store.reset(name)) {
      const next = 'the next run collects every file again (document ids prevent duplicates)';
      await out.line(`${name}: state removed; ${next}`);
      return EXIT_OK;
    }
    const found = await store.inspect(name);
    if (found.verdict === 'none') {
      await out.line(`${name}: no state to remove`);
      return EXIT_OK;
    }
    out.error(`state reset: cannot remove the state file ${found.path}`);
    return EXIT_USAGE;
  }
  const found = await store.inspect(name);
  if (found.verdict === 'unreadable') {
    out.error(`state accept-key: ${found.error.message}`);
    return EXIT_USAGE;
  }
  if (found.verdict === 'corrupt') {
    out.error(`state accept-key: the state file ${found.path} is corrupt (${found.reason}); no halt to accept`);
    return EXIT_INVALID;
  }
  const state = found.verdict === 'ok' ? found.state : null;
  if (!state?.halted) {
    await out.line(`${name}: not halted; nothing to accept`);
    return EXIT_INVALID;
  }
  const key = state.halted.newKey;
  state.loggerKey = { trusted: key, source: 'accepted', since: new Date().toISOString() };
  if (!state.knownKeys.includes(key)) state.knownKeys.push(key);
  state.halted = null;
  try {
    await store.save(state, { ifRevision: state.revision }); // never over a state a run saved meanwhile
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    out.error(`state accept-key: cannot write the state of ${name} in ${config.state_dir}: ${code}`);
    return EXIT_USAGE;
  }
  await out.line(`${name}: accepted logger key ${key}; collection resumes on the next run`);
  return EXIT_OK;
}

/**
 * Copies every configured device's state file into the cluster's state index, once: a device that already has
 * a state there is left alone (the cluster's may be newer: instances write it), unless it is the same state.
 */
async function migrateState(config: Config, kind: 'elasticsearch' | 'opensearch', out: Output): Promise<number> {
  const section = config.output[kind];
  if (effectiveOutput(config) !== kind || !section) {
    const engine = kind === 'elasticsearch' ? 'Elasticsearch' : 'OpenSearch';
    out.error(`state migrate: the config has no ${engine} output (output.${kind}.hosts) to migrate into`);
    return EXIT_USAGE;
  }
  const cluster = await openConfiguredCluster(kind, config.output);
  const from = new FileStateStore(config.state_dir);
  const to = new ClusterStateStore({
    rest: cluster.rest,
    index: D.fleet.index,
    fleet: config.state.fleet,
    instance: null,
    leaseTtlMs: config.state.lease_ttl,
  });
  let exit = EXIT_OK;
  try {
    // The state index's template first: a state written without it would be mapped field by field.
    await setupEngine(cluster.rest, { retention: section.retention, stateIndex: D.fleet.index });
    for (const { name } of config.devices) {
      const source = await from.inspect(name);
      if (source.verdict === 'none') {
        await out.line(`${name}: no state file; nothing to migrate`);
        continue;
      }
      if (source.verdict !== 'ok') {
        const why = source.verdict === 'corrupt' ? source.reason : source.error.message;
        out.error(`state migrate: ${name}: ${source.path} cannot be migrated (${why})`);
        exit = EXIT_INVALID;
        continue;
      }
      const target = await to.inspect(name);
      if (target.verdict !== 'none') {
        const same = target.verdict === 'ok' && sameState(target.state, source.state);
        if (same) await out.line(`${name}: already in ${target.path}`);
        else {
          const theirs = target.verdict === 'ok' ? `revision ${target.state.revision}` : target.verdict;
          out.error(`state migrate: ${name}: ${target.path} has a state already (${theirs}); not overwritten`);
          exit = EXIT_INVALID;
        }
        continue;
      }
      const files = source.state.files.size;
      await to.save(source.state);
      await out.line(`${name}: ${files} file(s) of ${source.path} copied to ${target.path}`);
    }
  } catch (err) {
    if (!(err instanceof SetupError || err instanceof ClusterStateError || err instanceof StateConflictError))
      throw err;
    out.error(`state migrate: ${err.message}`);
    return EXIT_INVALID;
  } finally {
    await cluster.close();
  }
  if (exit === EXIT_OK) await out.line(`next: set state.store: ${kind} in the config of every instance`);
  return exit;
}

/** The same state, whatever revision each store counted. */
function sameState(a: DeviceState, b: DeviceState): boolean {
  return encodeState({ ...a, revision: 0 }) === encodeState({ ...b, revision: 0 });
}

/** Read-only: a corrupt or unreadable file is reported, never moved (only `run` moves a corrupt file aside). */
async function showState(store: StateStore, names: readonly string[], out: Output): Promise<number> {
  let exit = EXIT_OK;
  for (const name of names) {
    const found = await store.inspect(name);
    if (found.verdict === 'unreadable') {
      out.error(`state show: ${found.error.message}`);
      exit = EXIT_USAGE;
      continue;
    }
    if (found.verdict === 'corrupt') {
      const next = 'the next run moves it aside and starts over';
      await out.line(`${name}: CORRUPT state file ${found.path} (${found.reason}); ${next}`);
      if (exit === EXIT_OK) exit = EXIT_INVALID;
      continue;
    }
    if (found.verdict === 'none') {
      await out.line(`${name}: no state yet`);
      continue;
    }
    const { state } = found;
    const files = [...state.files.values()];
    const by = (s: string) => files.filter((f) => f.status === s).length;
    const key = `logger key ${state.loggerKey.trusted ?? 'none'} (${state.loggerKey.source ?? '-'})`;
    const invalid = files.filter((f) => !f.valid).length;
    const counts = ['ingested', 'changed', 'vanished'].map((s) => `${by(s)} ${s}`).concat(`${invalid} invalid`);
    const records = files.reduce((a, f) => a + f.records, 0);
    const halted = state.halted ? `; HALTED: ${state.halted.reason}` : '';
    const summary = `${files.length} files (${counts.join(', ')}); ${records} records`;
    await out.line(`${name}: serial ${state.serial ?? '?'}; ${key}${halted}; ${summary}`);
  }
  return exit;
}
