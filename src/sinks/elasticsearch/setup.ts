import { createHash } from 'node:crypto';
import { DEFAULTS as D } from '../../config/defaults.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Client, errors } from '@elastic/elasticsearch';
import { ForwarderError } from '../../shared/errors.js';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../shared/package-info.js';

export type EngineKind = 'elasticsearch' | 'opensearch';

export interface EngineInfo {
  readonly kind: EngineKind;
  readonly version: string;
  /** Names the cluster: checkpoints record which cluster acknowledged a file. */
  readonly clusterUuid: string;
}

export type AssetKind = 'component_template' | 'index_template' | 'ilm_policy' | 'ingest_pipeline';

export interface SetupAction {
  readonly kind: AssetKind | 'index';
  readonly name: string;
  readonly action: 'create' | 'update' | 'unchanged' | 'skip_newer' | 'skip_user_owned';
  readonly installedVersion: string | null;
  readonly version: string;
}

export class SetupError extends ForwarderError {
  override readonly name = 'SetupError';
  readonly code = 'setup';
  readonly transient = false;
}

export const POLICY_NAME = 'logs-encedo_hem';
/** Sets event.ingested from the cluster's clock; every index template names it as index.final_pipeline. */
export const FINAL_PIPELINE = 'logs-encedo_hem@final';
export const DEFAULT_RETENTION = D.elasticsearch.retention;
/** What the shipped ILM policy says for the delete phase; setup puts the configured retention there. */
export const RETENTION_PLACEHOLDER = '365d';

interface Asset {
  readonly kind: AssetKind | 'index';
  readonly name: string;
  readonly body: Record<string, unknown>;
  /** `@custom` templates: created empty when missing, never changed. */
  readonly userOwned?: boolean;
}

export async function detectEngine(client: Client): Promise<EngineInfo> {
  const info = await call(() => client.info(), 'read the cluster info', 'monitor');
  const version = info.version as { number: string; distribution?: string };
  const kind = version.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch';
  return { kind, version: version.number, clusterUuid: String(info.cluster_uuid ?? info.cluster_name) };
}

function readMappings(sub: string): { name: string; body: Record<string, unknown> }[] {
  const dir = join(PACKAGE_ROOT, 'mappings', sub);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      name: f.slice(0, -5),
      body: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>,
    }));
}

const readState = () => readMappings('state');

/** The assets from mappings/, adapted to what the engine accepts, each stamped with a content hash. */
export function plannedAssets(engine: EngineInfo, options: { retention?: string } = {}): Asset[] {
  const read = readMappings;
  const assets: Asset[] = [];
  if (engine.kind === 'elasticsearch') {
    for (const { name, body } of read('ilm')) {
      const text = JSON.stringify(body).replaceAll(
        `"min_age":"${RETENTION_PLACEHOLDER}"`,
        `"min_age":"${options.retention ?? DEFAULT_RETENTION}"`,
      );
      assets.push({ kind: 'ilm_policy', name, body: JSON.parse(text) as Record<string, unknown> });
    }
  }
  // Before the index templates that name it as index.final_pipeline.
  for (const { name, body } of read('ingest_pipeline')) assets.push({ kind: 'ingest_pipeline', name, body });
  for (const { name, body } of read('component_template')) {
    assets.push({
      kind: 'component_template',
      name,
      body: engine.kind === 'opensearch' ? withoutValuelessConstants(body) : body,
    });
  }
  for (const { name } of read('index_template')) {
    const custom = `${name}@custom`;
    assets.push({
      kind: 'component_template',
      name: custom,
      body: {
        template: {},
        _meta: {
          managed_by: 'you',
          description: `Your additions to ${name}-* (settings, mappings). encedo-hem-forwarder never changes it.`,
        },
      },
      userOwned: true,
    });
  }
  for (const { name, body } of read('index_template')) {
    if (engine.kind !== 'elasticsearch') {
      assets.push({ kind: 'index_template', name, body });
      continue;
    }
    const template = (body.template ?? {}) as { settings?: { index?: Record<string, unknown> } };
    const settings = { ...template.settings, index: { ...template.settings?.index, lifecycle: { name: POLICY_NAME } } };
    assets.push({ kind: 'index_template', name, body: { ...body, template: { ...template, settings } } });
  }
  // The fleet's state index: no data stream, no lifecycle (a checkpoint must never age out), no @custom.
  for (const { name, body } of read('state')) assets.push({ kind: 'index_template', name, body });
  return assets.map((a) => {
    if (a.userOwned) return a;
    const body = stamp(a.body);
    // OpenSearch refuses _meta on a pipeline ("doesn't support one or more provided configuration parameters").
    return a.kind === 'ingest_pipeline' && engine.kind === 'opensearch'
      ? { ...a, body: metaInDescription(body) }
      : { ...a, body };
  });
}

/**
 * Installs or upgrades the templates and the lifecycle policy. Idempotent: an asset whose installed
 * content hash matches is left alone; an installed asset of a newer package version is never downgraded;
 * `@custom` templates are created when missing and otherwise never touched.
 */
export async function setupCluster(
  client: Client,
  options: { dryRun?: boolean; retention?: string; stateIndex?: string } = {},
): Promise<{ engine: EngineInfo; actions: SetupAction[] }> {
  const engine = await detectEngine(client);
  const actions: SetupAction[] = [];
  for (const asset of plannedAssets(engine, options)) {
    const installed = await fetchInstalled(client, asset);
    const installedMeta = installed ? metaOf(installed) : null;
    const installedVersion = installed ? (installedMeta?.version ?? '0.0.0') : null;
    const ourMeta = metaOf(asset.kind === 'ilm_policy' ? (asset.body.policy as Record<string, unknown>) : asset.body);
    let action: SetupAction['action'];
    if (asset.userOwned) action = installed ? 'skip_user_owned' : 'create';
    else if (!installed) action = 'create';
    else if (installedMeta?.content_hash === ourMeta.content_hash) action = 'unchanged';
    else if (compareVersions(installedVersion!, PACKAGE_VERSION) > 0) action = 'skip_newer';
    else action = 'update';
    // Only when it is about to be installed: an unchanged pipeline has been rendering all along.
    const installing = action === 'create' || action === 'update';
    if (asset.kind === 'ingest_pipeline' && installing) await checkPipelineRenders(client, asset);
    actions.push({ kind: asset.kind, name: asset.name, action, installedVersion, version: PACKAGE_VERSION });
    if (!options.dryRun && installing) await install(client, asset);
  }
  if (options.stateIndex) {
    const template = readState().find((t) => t.name === options.stateIndex)?.body.template as
      | { mappings: Record<string, unknown> }
      | undefined;
    if (!template) throw new SetupError(`no template for the state index ${options.stateIndex} in mappings/state`);
    actions.push(await ensureStateIndex(client, options.stateIndex, template.mappings, options.dryRun === true));
  }
  return { engine, actions };
}

/** The state index of `state.store: elasticsearch`, created from its template when missing. */
async function ensureStateIndex(
  client: Client,
  index: string,
  mappings: Record<string, unknown>,
  dryRun: boolean,
): Promise<SetupAction> {
  const what = `create the state index ${index}`;
  const exists = await call(() => client.indices.exists({ index }), what, 'create_index');
  const action = { kind: 'index' as const, name: index, installedVersion: null, version: PACKAGE_VERSION };
  if (exists) {
    // An index made by an older version gains the fields this one writes (its mapping is strict).
    if (!dryRun)
      await call(() => client.indices.putMapping({ index, ...mappings } as never), `update ${index}`, 'manage');
    return { ...action, action: 'unchanged' };
  }
  if (!dryRun)
    await call(
      () =>
        client.indices.create({ index }).catch((err: { meta?: { statusCode?: number } }) => {
          // Another instance created it a moment ago: what setup wanted.
          if (err.meta?.statusCode !== 400 || !/already_exists/.test(String(err))) throw err;
        }),
      what,
      'create_index',
    );
  return { ...action, action: 'create' };
}

async function fetchInstalled(client: Client, asset: Asset): Promise<Record<string, unknown> | null> {
  const what = `read ${asset.kind.replace('_', ' ')} ${asset.name}`;
  try {
    if (asset.kind === 'component_template') {
      const r = await call(
        () => client.cluster.getComponentTemplate({ name: asset.name }),
        what,
        'manage_index_templates',
      );
      return (r.component_templates[0]?.component_template as unknown as Record<string, unknown>) ?? null;
    }
    if (asset.kind === 'index_template') {
      const r = await call(() => client.indices.getIndexTemplate({ name: asset.name }), what, 'manage_index_templates');
      return (r.index_templates[0]?.index_template as unknown as Record<string, unknown>) ?? null;
    }
    if (asset.kind === 'ingest_pipeline') {
      const r = await call(() => client.ingest.getPipeline({ id: asset.name }), what, 'manage_ingest_pipelines');
      return (r[asset.name] as unknown as Record<string, unknown>) ?? null;
    }
    const r = await call(() => client.ilm.getLifecycle({ name: asset.name }), what, 'manage_ilm');
    return (r[asset.name]?.policy as unknown as Record<string, unknown>) ?? null;
  } catch (err) {
    if (err instanceof SetupError && /\(404\)/.test(err.message)) return null;
    throw err;
  }
}

async function install(client: Client, asset: Asset): Promise<void> {
  const what = `install ${asset.kind.replace('_', ' ')} ${asset.name}`;
  const body = asset.body as never;
  if (asset.kind === 'component_template')
    await call(
      () => client.cluster.putComponentTemplate({ name: asset.name, ...(body as object) } as never),
      what,
      'manage_index_templates',
    );
  else if (asset.kind === 'index_template')
    await call(
      () => client.indices.putIndexTemplate({ name: asset.name, ...(body as object) } as never),
      what,
      'manage_index_templates',
    );
  else if (asset.kind === 'ingest_pipeline')
    await call(
      () => client.ingest.putPipeline({ id: asset.name, ...(body as object) } as never),
      what,
      'manage_ingest_pipelines',
    );
  else
    await call(() => client.ilm.putLifecycle({ name: asset.name, ...(body as object) } as never), what, 'manage_ilm');
}

/**
 * Runs the pipeline on a document that brings its own event.ingested (simulate: read-only, also on a dry run).
 * A cluster without the lang-mustache module leaves `{{{_ingest.timestamp}}}` literal and would then reject every
 * document (event.ingested is a date), so setup stops here with the reason instead.
 */
async function checkPipelineRenders(client: Client, asset: Asset): Promise<void> {
  const brought = '1970-01-01T00:00:00.000Z';
  const r = await call(
    () =>
      client.ingest.simulate({
        pipeline: asset.body as never,
        docs: [{ _source: { event: { ingested: brought } } }],
      }),
    `test ingest pipeline ${asset.name}`,
    'manage_ingest_pipelines',
  );
  const result = r.docs[0] as { doc?: { _source?: { event?: { ingested?: unknown } } }; error?: { reason?: string } };
  const value = result?.doc?._source?.event?.ingested;
  if (typeof value === 'string' && value !== brought && !Number.isNaN(Date.parse(value))) return;
  throw new SetupError(
    `ingest pipeline ${asset.name} does not work on this cluster: it did not set event.ingested to its time ` +
      `(${result?.error?.reason ?? `got ${JSON.stringify(value)}`}); it needs the lang-mustache module, which ` +
      'every Elasticsearch and OpenSearch distribution ships',
  );
}

const META_IN_DESCRIPTION = / _meta=(\{.*\})$/;

/** The asset's `_meta`, or the one {@link metaInDescription} put into its description. */
function metaOf(body: Record<string, unknown>): { version?: string; content_hash?: string } {
  if (body._meta && typeof body._meta === 'object') return body._meta as { version?: string; content_hash?: string };
  const folded = typeof body.description === 'string' ? META_IN_DESCRIPTION.exec(body.description) : null;
  if (!folded) return {};
  try {
    return JSON.parse(folded[1]!) as { version?: string; content_hash?: string };
  } catch {
    return {};
  }
}

/** Moves `_meta` (version, content_hash) to the end of the description, for engines that refuse `_meta`. */
function metaInDescription(body: Record<string, unknown>): Record<string, unknown> {
  const { _meta: meta, ...rest } = body;
  return { ...rest, description: `${String(body.description ?? '')} _meta=${JSON.stringify(meta)}` };
}

/** Turns client errors into one-line, actionable messages. */
async function call<T>(fn: () => Promise<T>, what: string, privilege: string): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof errors.ResponseError) {
      if (err.statusCode === 401)
        throw new SetupError(
          `cannot ${what}: the cluster rejected the credentials (401); check the API key or user name and password`,
        );
      if (err.statusCode === 403)
        throw new SetupError(
          `cannot ${what}: permission denied (403); the user or API key needs the cluster privilege ${privilege}`,
        );
      if (err.statusCode === 404) throw new SetupError(`cannot ${what}: not found (404)`);
      throw new SetupError(`cannot ${what}: HTTP ${err.statusCode}: ${err.message.slice(0, 500)}`);
    }
    if (
      err instanceof errors.ConnectionError ||
      err instanceof errors.NoLivingConnectionsError ||
      err instanceof errors.TimeoutError
    ) {
      throw new SetupError(`cannot ${what}: the cluster is unreachable (${err.message})`);
    }
    throw err;
  }
}

/** OpenSearch wants a value on every constant_keyword; a per-stream one (the namespace) becomes keyword. */
function withoutValuelessConstants(body: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(body), (_key, value: unknown) => {
    const v = value as { type?: string; value?: string };
    return v && typeof v === 'object' && v.type === 'constant_keyword' && v.value === undefined
      ? { type: 'keyword', ignore_above: 1024 }
      : value;
  }) as Record<string, unknown>;
}

function stamp(body: Record<string, unknown>): Record<string, unknown> {
  const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 16);
  const target = 'policy' in body ? (body.policy as Record<string, unknown>) : body;
  const meta = { ...(target._meta as object), content_hash: hash };
  return 'policy' in body ? { ...body, policy: { ...target, _meta: meta } } : { ...body, _meta: meta };
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
