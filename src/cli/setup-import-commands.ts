import { join } from 'node:path';
import { createReadStream, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Config, effectiveOutput } from '../config/schema.js';
import { type IngestedFile, ingestFile } from '../collector/ingest-file.js';
import { type KibanaConnection, KibanaError, installKibanaAssets, kibanaAssets } from '../kibana/install.js';
import {
  OpenSearchDashboardsError,
  installOpenSearchDashboardsAssets,
  openSearchDashboardsAssets,
} from '../opensearch-dashboards/install.js';
import type { DashboardsConnection } from '../shared/dashboards-import.js';
import { fileIdFromName, namespaceError } from '../ecs/map.js';
import { SearchBulkSink } from '../sinks/search/bulk-sink.js';
import { connectionFromEnv } from '../sinks/elasticsearch/client.js';
import { RestUnreachableError, refusal } from '../sinks/search/rest.js';
import { type EngineInfo, type SetupAction, SetupError, setupEngine } from '../sinks/search/setup.js';
import { SinkError } from '../sinks/sink.js';
import { ForwarderError } from '../shared/errors.js';
import { HashingTap } from '../shared/hashing-tap.js';
import { DEFAULTS as D } from '../config/defaults.js';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { loadLoggerKey } from './keys.js';
import { COMMANDS } from './commands.js';
import type { Output } from './output.js';
import { describeIoError } from './verify-command.js';
import { loadOrReport } from './config-commands.js';
import type { LoadedConfig } from '../config/load.js';
import { deadLetterFileOf, stateIndexOf } from '../app/wiring.js';
import {
  type SearchCluster,
  openConfiguredCluster,
  openElasticsearch,
  openOpenSearch,
  openSearchConnectionFromEnv,
} from '../app/cluster.js';
import { redactUrl, redactUrls } from '../shared/redact.js';

export const SETUP_USAGE = COMMANDS.setup.usage;
export const IMPORT_USAGE = COMMANDS.import.usage;
const ENV_NOTE =
  'credentials come from ELASTICSEARCH_API_KEY, or ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, or ' +
  'ELASTICSEARCH_BEARER, ELASTICSEARCH_CA_FILE or ELASTICSEARCH_CA_FINGERPRINT for TLS; for --opensearch ' +
  'from OPENSEARCH_USERNAME, OPENSEARCH_PASSWORD and OPENSEARCH_CA_FILE';

export interface CommandCluster {
  readonly cluster: SearchCluster;
  readonly retention?: string;
  readonly deadLetterFile?: string;
  readonly config?: Config;
}

/**
 * The cluster from `--config` (its search output: output.opensearch when that is the output, else
 * output.elasticsearch), from `--elasticsearch URL` or from `--opensearch URL`.
 */
export async function clusterFrom(
  values: { config?: string | undefined; elasticsearch?: string | undefined; opensearch?: string | undefined },
  out: Output,
  usage: string,
  /** The config of `--config` when the command has loaded it already. */
  preloaded?: LoadedConfig,
): Promise<CommandCluster | null> {
  const given = (['config', 'elasticsearch', 'opensearch'] as const).filter((k) => values[k] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of --${given.join(', --')}, not several`);
  if (values.config) {
    const loaded = preloaded ?? loadOrReport(values.config, out, usage);
    if (!loaded) return null;
    const { config } = loaded;
    const kind = effectiveOutput(config) === 'opensearch' ? 'opensearch' : 'elasticsearch';
    const section = kind === 'opensearch' ? config.output.opensearch! : config.output.elasticsearch;
    if (!section || (section.hosts.length === 0 && !('cloud_id' in section && section.cloud_id)))
      throw new UsageError(
        `${values.config}: output.${kind}.hosts${kind === 'elasticsearch' ? ' (or cloud_id)' : ''} is not set`,
      );
    const cluster = await openConfiguredCluster(kind, config.output);
    return { cluster, retention: section.retention, deadLetterFile: deadLetterFileOf(config), config };
  }
  const url = values.elasticsearch ?? values.opensearch;
  if (!url) throw new UsageError(`--config FILE, --elasticsearch URL or --opensearch URL is required (${ENV_NOTE})`);
  const flag = values.elasticsearch ? '--elasticsearch' : '--opensearch';
  try {
    new URL(url);
  } catch {
    throw new UsageError(`${flag}: ${redactUrls(JSON.stringify(url))} is not a URL`);
  }
  const cluster = values.elasticsearch
    ? await openElasticsearch(connectionFromEnv(url), redactUrl(url))
    : await openOpenSearch(openSearchConnectionFromEnv(url));
  return { cluster };
}

export async function setupCommand(argv: string[], out: Output): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: COMMANDS.setup.options,
  });
  if (values.retention !== undefined && !/^\d+[dhm]$/.test(values.retention))
    throw new UsageError('--retention must look like 365d, 48h or 90m');
  const loaded = values.config ? loadOrReport(values.config, out, SETUP_USAGE) : null;
  if (values.config && !loaded) return EXIT_USAGE;
  const kibana = dashboardsFrom(values.kibana, loaded?.config.kibana, '--kibana', 'KIBANA');
  const osd = dashboardsFrom(values['opensearch-dashboards'], loaded?.config.opensearch_dashboards);
  const output = loaded?.config.output;
  const wantsCluster =
    values.elasticsearch !== undefined ||
    values.opensearch !== undefined ||
    (loaded !== null && effectiveOutput(loaded.config) === 'opensearch') ||
    Boolean(output?.elasticsearch?.hosts.length || output?.elasticsearch?.cloud_id);
  if (!wantsCluster && !kibana && !osd) throw new UsageError(`nothing to set up; usage: ${SETUP_USAGE}`);
  try {
    if (wantsCluster) {
      const opened = await clusterFrom(values, out, SETUP_USAGE, loaded ?? undefined);
      if (!opened) return EXIT_USAGE;
      try {
        const stateIndex = opened.config && stateIndexOf(opened.config);
        const retention = values.retention ?? opened.retention;
        const options = {
          dryRun: values['dry-run'],
          ...(stateIndex ? { stateIndex } : {}),
          ...(retention ? { retention } : {}),
        };
        await report(await setupEngine(opened.cluster.rest, options), values['dry-run'], out);
      } finally {
        await opened.cluster.close();
      }
    }
    if (kibana) await setupKibana(kibana, values['dry-run'], out);
    if (osd) await setupOpenSearchDashboards(osd, values['dry-run'], out);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof SetupError || err instanceof KibanaError || err instanceof OpenSearchDashboardsError) {
      out.error(`setup: ${redactUrls(err.message)}`);
      return EXIT_INVALID;
    }
    throw err;
  }
}

async function report(
  { engine, actions }: { engine: EngineInfo; actions: SetupAction[] },
  dryRun: boolean,
  out: Output,
): Promise<void> {
  const verb = dryRun ? 'would ' : '';
  for (const a of actions) {
    const what = `${a.kind} ${a.name}`;
    if (a.action === 'create') await out.line(`${verb}create ${what} (${a.version})`);
    else if (a.action === 'update') await out.line(`${verb}update ${what} (${a.installedVersion} -> ${a.version})`);
    else if (a.action === 'skip_newer')
      await out.line(`keep ${what}: installed version ${a.installedVersion} is newer than ${a.version}`);
    else if (a.action === 'skip_user_owned') await out.line(`keep ${what}: yours, never changed`);
    else if (a.action === 'unsupported')
      await out.line(`SKIP ${what}: this cluster lacks the Index State Management plugin; retention is NOT enforced`);
    else await out.line(`unchanged ${what}`);
  }
  const count = (k: string) => actions.filter((a) => a.action === k).length;
  const [created, updated] = dryRun ? ['to create', 'to update'] : ['created', 'updated'];
  const kept = actions.length - count('create') - count('update');
  await out.line(
    `${engine.kind} ${engine.version}: ` +
      `${dryRun ? 'dry run, nothing changed; ' : ''}${count('create')} ${created}, ` +
      `${count('update')} ${updated}, ${kept} unchanged`,
  );
}

async function setupKibana(conn: KibanaConnection, dryRun: boolean, out: Output): Promise<void> {
  if (dryRun) {
    for (const asset of kibanaAssets()) for (const o of asset.objects) await out.line(`would import ${o}`);
    await out.line(`kibana ${redactUrl(conn.url)}: dry run, nothing imported`);
    return;
  }
  const results = await installKibanaAssets(conn);
  const kind = (api: string) => (api === 'rules' ? 'detection rules' : 'saved objects');
  const imported = results.map((r) => `${r.imported} ${kind(r.api)}`).join(' and ');
  await out.line(`kibana ${redactUrl(conn.url)}: ${imported} imported (overwriting earlier versions)`);
}

async function setupOpenSearchDashboards(conn: DashboardsConnection, dryRun: boolean, out: Output): Promise<void> {
  const where = `opensearch dashboards ${redactUrl(conn.url)}`;
  if (dryRun) {
    for (const asset of openSearchDashboardsAssets())
      for (const o of asset.objects) await out.line(`would import ${o}`);
    await out.line(`${where}: dry run, nothing imported`);
    return;
  }
  const { imported } = await installOpenSearchDashboardsAssets(conn);
  await out.line(`${where}: ${imported} saved objects imported (overwriting earlier versions)`);
}

/**
 * Kibana or OpenSearch Dashboards from a flag's URL (credentials from the product's variables:
 * `<PREFIX>_API_KEY`, `_USERNAME`, `_PASSWORD`, `_CA_FILE`) or from the config's section.
 */
function dashboardsFrom(
  url: string | undefined,
  section: Config['kibana'] | Config['opensearch_dashboards'],
  flag = '--opensearch-dashboards',
  prefix = 'OPENSEARCH_DASHBOARDS',
): DashboardsConnection | null {
  if (url) {
    try {
      new URL(url);
    } catch {
      throw new UsageError(`${flag}: ${redactUrls(JSON.stringify(url))} is not a URL`);
    }
    const env = (name: string) => process.env[`${prefix}_${name}`];
    return {
      url,
      ...(env('API_KEY') ? { apiKey: env('API_KEY')! } : {}),
      ...(env('USERNAME') ? { username: env('USERNAME')!, password: env('PASSWORD') ?? '' } : {}),
      ...(env('CA_FILE') ? { ca: readFileSync(env('CA_FILE')!, 'utf8') } : {}),
    };
  }
  if (!section) return null;
  return {
    url: section.url,
    ...('api_key' in section && section.api_key ? { apiKey: section.api_key.reveal() } : {}),
    ...(section.username ? { username: section.username, password: section.password?.reveal() ?? '' } : {}),
    ...(section.ca ? { ca: readFileSync(section.ca, 'utf8') } : {}),
    ...(section.insecure ? { insecure: true } : {}),
  };
}

export async function importCommand(argv: string[], out: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: COMMANDS.import.options,
  });
  if (positionals.length === 0) throw new UsageError(`no FILE given; usage: ${IMPORT_USAGE}`);
  if (!values.serial)
    throw new UsageError(
      '--serial is required: the device serial (devid) keeps document ids the same as live collection',
    );
  const nsError = namespaceError(values.namespace);
  if (nsError) throw new UsageError(`--namespace: ${nsError}`);
  const key = await loadLoggerKey(values);
  const opened = await clusterFrom(values, out, IMPORT_USAGE);
  if (!opened) return EXIT_USAGE;
  const { cluster } = opened;
  // As `run` would: the config's dead_letter_file or state_dir, else the default state_dir.
  const deadLetterFile =
    values['dead-letter-file'] ?? opened.deadLetterFile ?? join(D.stateDir, D.elasticsearch.deadLetterFileName);
  const sink = new SearchBulkSink({ transport: cluster.transport, deadLetterFile });
  let exit = EXIT_OK;
  try {
    const templates = await cluster.rest.request('GET', '/_index_template/logs-encedo_hem.audit');
    if (templates.status === 404) {
      out.error('import: the index templates are not installed; run hem-forwarder setup first');
      return EXIT_USAGE;
    }
    if (templates.status !== 200) {
      out.error(`import: ${cluster.where}: ${refusal(templates)}`);
      return EXIT_USAGE;
    }
    for (const file of positionals) {
      const fileId = fileIdFromName(file);
      const tap = new HashingTap(fileId);
      let ingested: IngestedFile;
      try {
        ingested = await ingestFile(sink, {
          unitId: file,
          source: tap.through(createReadStream(file, { highWaterMark: 64 * 1024 })),
          loggerKey: key,
          context: { device: { serial: values.serial }, fileId, namespace: values.namespace, created: new Date() },
          deviceName: values.serial,
          file: () => tap.file(),
        });
      } catch (err) {
        // An output failure (SinkError has a code too) ends the import; only a file that cannot be read is skipped.
        if (err instanceof ForwarderError || (err as NodeJS.ErrnoException).code === undefined) throw err;
        out.error(`cannot read ${file}: ${describeIoError(err)}`);
        exit = EXIT_USAGE;
        continue;
      }
      const { verdict, summary: result } = ingested;
      if ((!verdict.valid || result.deadLettered > 0) && exit === EXIT_OK) exit = EXIT_INVALID;
      await out.line(
        `${file}: ${verdict.valid ? 'valid' : 'INVALID'}; ` +
          `${verdict.lines.verified}/${verdict.lines.total} records verified; ` +
          `${result.written} written, ${result.duplicates} already indexed, ` +
          `${result.deadLettered} dead-lettered`,
      );
    }
    await sink.close();
    return exit;
  } catch (err) {
    sink.abort('import failed');
    if (err instanceof SinkError) {
      out.error(`import: ${redactUrls(err.message)}`);
      return EXIT_USAGE;
    }
    // Unreachable or timed out: an I/O error of the command, one line (exit 2 like other I/O errors).
    if (err instanceof RestUnreachableError) {
      out.error(`import: ${cluster.where}: unreachable (${redactUrls(err.message.split('\n')[0]!.slice(0, 300))})`);
      return EXIT_USAGE;
    }
    throw err;
  } finally {
    await cluster.close();
  }
}
