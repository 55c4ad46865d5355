import { createHash } from 'node:crypto';
import { DEFAULTS as D } from '../../config/defaults.js';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ForwarderError } from '../../shared/errors.js';
import { type RestAnswer, type RestClient, RestUnreachableError } from './rest.js';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../shared/package-info.js';

export type EngineKind = 'elasticsearch' | 'opensearch';

export interface EngineInfo {
  readonly kind: EngineKind;
  readonly version: string;
  /** Names the cluster: checkpoints record which cluster acknowledged a file. */
  readonly clusterUuid: string;
}

export type AssetKind = 'component_template' | 'index_template' | 'ilm_policy' | 'ism_policy' | 'ingest_pipeline';

export interface SetupAction {
  readonly kind: AssetKind | 'index';
  readonly name: string;
  /** unsupported: the engine lacks what the asset needs (OpenSearch without the ISM plugin). */
  readonly action: 'create' | 'update' | 'unchanged' | 'skip_newer' | 'skip_user_owned' | 'unsupported';
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

export async function detectEngine(rest: RestClient): Promise<EngineInfo> {
  const info = (await call(rest, 'GET', '/', undefined, 'read the cluster info', 'monitor')) as {
    version: { number: string; distribution?: string };
    cluster_uuid?: string;
    cluster_name?: string;
  };
  const kind = info.version.distribution === 'opensearch' ? 'opensearch' : 'elasticsearch';
  return { kind, version: info.version.number, clusterUuid: String(info.cluster_uuid ?? info.cluster_name) };
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
  // The lifecycle: ILM on Elasticsearch, ISM (a plugin every OpenSearch distribution ships) on OpenSearch.
  const retention = options.retention ?? DEFAULT_RETENTION;
  const lifecycle = engine.kind === 'elasticsearch' ? 'ilm' : 'ism';
  for (const { name, body } of read(lifecycle)) {
    const text = JSON.stringify(body)
      .replaceAll(`"min_age":"${RETENTION_PLACEHOLDER}"`, `"min_age":"${retention}"`)
      .replaceAll(`"min_index_age":"${RETENTION_PLACEHOLDER}"`, `"min_index_age":"${retention}"`);
    assets.push({ kind: `${lifecycle}_policy`, name, body: JSON.parse(text) as Record<string, unknown> });
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
    // OpenSearch refuses _meta on a pipeline ("doesn't support one or more provided configuration parameters"),
    // and an ISM policy has no _meta at all: the version and hash go to the end of the description.
    if (a.kind === 'ingest_pipeline' && engine.kind === 'opensearch') return { ...a, body: metaInDescription(body) };
    if (a.kind === 'ism_policy')
      return { ...a, body: { policy: metaInDescription(body.policy as Record<string, unknown>) } };
    return { ...a, body };
  });
}

export interface SetupOptions {
  readonly dryRun?: boolean;
  readonly retention?: string;
  /** Also create (or update the mapping of) the fleet's state index. */
  readonly stateIndex?: string;
}

/**
 * Installs or upgrades the templates and the lifecycle policy. Idempotent: an asset whose installed
 * content hash matches is left alone; an installed asset of a newer package version is never downgraded;
 * `@custom` templates are created when missing and otherwise never touched.
 */
export async function setupEngine(
  rest: RestClient,
  options: SetupOptions = {},
): Promise<{ engine: EngineInfo; actions: SetupAction[] }> {
  const engine = await detectEngine(rest);
  const actions: SetupAction[] = [];
  const assets = plannedAssets(engine, options);
  // Read at once, installed in order (component templates before the index templates that compose them): a
  // start against a remote cluster pays one round trip for the reads, not one per asset.
  const installedNow = await Promise.all(assets.map((asset) => fetchInstalled(rest, asset)));
  for (const [i, asset] of assets.entries()) {
    const found = installedNow[i]!;
    if (found === 'unsupported') {
      actions.push({
        kind: asset.kind,
        name: asset.name,
        action: 'unsupported',
        installedVersion: null,
        version: PACKAGE_VERSION,
      });
      continue;
    }
    const installed = found?.body ?? null;
    const installedMeta = installed ? metaOf(installed) : null;
    const installedVersion = installed ? (installedMeta?.version ?? '0.0.0') : null;
    const ourMeta = metaOf('policy' in asset.body ? (asset.body.policy as Record<string, unknown>) : asset.body);
    let action: SetupAction['action'];
    if (asset.userOwned) action = installed ? 'skip_user_owned' : 'create';
    else if (!installed) action = 'create';
    else if (installedMeta?.content_hash === ourMeta.content_hash) action = 'unchanged';
    else if (compareVersions(installedVersion!, PACKAGE_VERSION) > 0) action = 'skip_newer';
    else action = 'update';
    // Only when it is about to be installed: an unchanged pipeline has been rendering all along.
    const installing = action === 'create' || action === 'update';
    if (asset.kind === 'ingest_pipeline' && installing) await checkPipelineRenders(rest, asset);
    actions.push({ kind: asset.kind, name: asset.name, action, installedVersion, version: PACKAGE_VERSION });
    if (!options.dryRun && installing) await install(rest, asset, found);
  }
  if (options.stateIndex) {
    const template = readState().find((t) => t.name === options.stateIndex)?.body.template as
      | { mappings: Record<string, unknown> }
      | undefined;
    if (!template) throw new SetupError(`no template for the state index ${options.stateIndex} in mappings/state`);
    actions.push(await ensureStateIndex(rest, options.stateIndex, template.mappings, options.dryRun === true));
  }
  return { engine, actions };
}

/** The state index of `state.store: elasticsearch`, created from its template when missing. */
async function ensureStateIndex(
  rest: RestClient,
  index: string,
  mappings: Record<string, unknown>,
  dryRun: boolean,
): Promise<SetupAction> {
  const what = `create the state index ${index}`;
  const path = `/${encodeURIComponent(index)}`;
  const exists = (await reach(rest, 'HEAD', path, undefined, what)).status === 200;
  const action = { kind: 'index' as const, name: index, installedVersion: null, version: PACKAGE_VERSION };
  if (exists) {
    // An index made by an older version gains the fields this one writes (its mapping is strict).
    if (!dryRun) await call(rest, 'PUT', `${path}/_mapping`, mappings, `update ${index}`, 'manage');
    return { ...action, action: 'unchanged' };
  }
  if (!dryRun) {
    const r = await reach(rest, 'PUT', path, {}, what);
    // Another instance created it a moment ago: what setup wanted.
    if (!(r.status === 400 && JSON.stringify(r.body).includes('already_exists'))) check(r, what, 'create_index');
  }
  return { ...action, action: 'create' };
}

/** Where each kind of asset lives in the REST API, and how its installed body is read from the answer. */
const ASSET_API: Record<
  AssetKind,
  { path: string; read: (body: unknown, name: string) => unknown; privilege: string }
> = {
  component_template: {
    path: '/_component_template/',
    read: (b) =>
      (b as { component_templates?: { component_template: unknown }[] }).component_templates?.[0]?.component_template,
    privilege: 'manage_index_templates',
  },
  index_template: {
    path: '/_index_template/',
    read: (b) => (b as { index_templates?: { index_template: unknown }[] }).index_templates?.[0]?.index_template,
    privilege: 'manage_index_templates',
  },
  ingest_pipeline: {
    path: '/_ingest/pipeline/',
    read: (b, name) => (b as Record<string, unknown>)[name],
    privilege: 'manage_ingest_pipelines',
  },
  ilm_policy: {
    path: '/_ilm/policy/',
    read: (b, name) => (b as Record<string, { policy?: unknown }>)[name]?.policy,
    privilege: 'manage_ilm',
  },
  ism_policy: { path: '/_plugins/_ism/policies/', read: (b) => (b as { policy?: unknown }).policy, privilege: 'ISM' },
};

interface Installed {
  readonly body: Record<string, unknown>;
  /** ISM updates are conditional on the policy's sequence number. */
  readonly seqNo?: number;
  readonly primaryTerm?: number;
}

async function fetchInstalled(rest: RestClient, asset: Asset): Promise<Installed | null | 'unsupported'> {
  if (asset.kind === 'index') return null;
  const api = ASSET_API[asset.kind];
  const what = `read ${asset.kind.replace('_', ' ')} ${asset.name}`;
  const r = await reach(rest, 'GET', `${api.path}${encodeURIComponent(asset.name)}`, undefined, what);
  if (r.status === 404) return null;
  // An engine without the plugin (ISM) has no handler for the path.
  if ((r.status === 400 || r.status === 405) && /no handler found/i.test(JSON.stringify(r.body))) return 'unsupported';
  const body = check(r, what, api.privilege) as { _seq_no?: number; _primary_term?: number };
  const installed = api.read(body, asset.name) as Record<string, unknown> | undefined;
  if (!installed) return null;
  return {
    body: installed,
    ...(body._seq_no !== undefined ? { seqNo: body._seq_no, primaryTerm: body._primary_term! } : {}),
  };
}

async function install(rest: RestClient, asset: Asset, installed: Installed | null): Promise<void> {
  if (asset.kind === 'index') return;
  const api = ASSET_API[asset.kind];
  const ism =
    installed?.seqNo !== undefined ? `?if_seq_no=${installed.seqNo}&if_primary_term=${installed.primaryTerm}` : '';
  const what = `install ${asset.kind.replace('_', ' ')} ${asset.name}`;
  await call(rest, 'PUT', `${api.path}${encodeURIComponent(asset.name)}${ism}`, asset.body, what, api.privilege);
}

/**
 * Runs the pipeline on a document that brings its own event.ingested (simulate: read-only, also on a dry run).
 * A cluster without the lang-mustache module leaves `{{{_ingest.timestamp}}}` literal and would then reject every
 * document (event.ingested is a date), so setup stops here with the reason instead.
 */
async function checkPipelineRenders(rest: RestClient, asset: Asset): Promise<void> {
  const brought = '1970-01-01T00:00:00.000Z';
  const r = (await call(
    rest,
    'POST',
    '/_ingest/pipeline/_simulate',
    { pipeline: asset.body, docs: [{ _source: { event: { ingested: brought } } }] },
    `test ingest pipeline ${asset.name}`,
    'manage_ingest_pipelines',
  )) as { docs: unknown[] };
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

/** The engine's answer, or SetupError when there is none. */
async function reach(
  rest: RestClient,
  method: 'GET' | 'HEAD' | 'PUT' | 'POST',
  path: string,
  body: unknown,
  what: string,
): Promise<RestAnswer> {
  try {
    return await rest.request(method, path, body);
  } catch (err) {
    if (err instanceof RestUnreachableError)
      throw new SetupError(`cannot ${what}: the cluster is unreachable (${err.message})`);
    throw err;
  }
}

/** The body of a 2xx answer; anything else as one line a user can act on. */
function check(r: RestAnswer, what: string, privilege: string): unknown {
  if (r.status >= 200 && r.status < 300) return r.body;
  if (r.status === 401)
    throw new SetupError(
      `cannot ${what}: the cluster rejected the credentials (401); check the API key or user name and password`,
    );
  if (r.status === 403)
    throw new SetupError(
      `cannot ${what}: permission denied (403); the user or API key needs the cluster privilege ${privilege}`,
    );
  if (r.status === 404) throw new SetupError(`cannot ${what}: not found (404)`);
  const error = (r.body as { error?: { type?: string; reason?: string } | string } | undefined)?.error;
  const reason = typeof error === 'string' ? error : `${error?.type ?? ''}: ${error?.reason ?? ''}`;
  throw new SetupError(`cannot ${what}: HTTP ${r.status}: ${reason.slice(0, 500)}`);
}

async function call(
  rest: RestClient,
  method: 'GET' | 'HEAD' | 'PUT' | 'POST',
  path: string,
  body: unknown,
  what: string,
  privilege: string,
): Promise<unknown> {
  return check(await reach(rest, method, path, body, what), what, privilege);
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
