/**
 * Imports the OpenSearch Dashboards saved objects (mappings/opensearch-dashboards/) through OSD's saved objects
 * import API, the way its Saved objects page does: overwriting objects with the same ids, so a rerun only replaces
 * them with the current version.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type DashboardsConnection,
  authorizationHeader,
  dashboardsDispatcher,
  importNdjson,
} from '../shared/dashboards-import.js';
import { ForwarderError } from '../shared/errors.js';
import { PACKAGE_ROOT } from '../shared/package-info.js';

/** URL (with its base path, if any), username and password, CA or insecure. OSD has no API keys. */
export type OpenSearchDashboardsConnection = Omit<DashboardsConnection, 'apiKey'>;

export class OpenSearchDashboardsError extends ForwarderError {
  override readonly name = 'OpenSearchDashboardsError';
  readonly code = 'opensearch_dashboards';
  readonly transient = false;
}

export const OSD_SAVED_OBJECTS_FILE = join(
  PACKAGE_ROOT,
  'mappings',
  'opensearch-dashboards',
  'encedo_hem-saved-objects.ndjson',
);

const PRODUCT = 'OpenSearch Dashboards';
/** With the Security plugin: the role that may use OSD, and write access to the tenant the objects go to. */
const FORBIDDEN =
  'the user needs the security role kibana_user (not kibana_read_only) and write access ' +
  '(kibana_all_write) to the tenant the objects go to';

export interface OpenSearchDashboardsAsset {
  readonly api: 'saved_objects';
  readonly file: string;
  /** One line per object: `type id "title"`. */
  readonly objects: readonly string[];
}

/** What an import would send, for `--dry-run` (the shape of kibanaAssets()). */
export function openSearchDashboardsAssets(): OpenSearchDashboardsAsset[] {
  const objects = readFileSync(OSD_SAVED_OBJECTS_FILE, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; id: string; attributes: { title: string } });
  return [
    {
      api: 'saved_objects',
      file: OSD_SAVED_OBJECTS_FILE,
      objects: objects.map((o) => `${o.type} ${o.id} ${JSON.stringify(o.attributes.title)}`),
    },
  ];
}

interface OsdImportError {
  id?: string;
  type?: string;
  title?: string;
  error?: { type?: string; message?: string; references?: { type?: string; id?: string }[] };
}

/** `type id: why` per refused object, e.g. `dashboard x: missing_references (index-pattern y)`. */
function describe(errors: readonly OsdImportError[]): string {
  const lines = errors.map((e) => {
    const refs = e.error?.references?.map((r) => `${r.type} ${r.id}`).join(', ');
    const message = e.error?.message ? `: ${e.error.message}` : '';
    return `${e.type} ${e.id}: ${e.error?.type ?? 'error'}${refs ? ` (${refs})` : ''}${message}`;
  });
  const text = lines.join('; ');
  return text.length > 800 ? `${text.slice(0, 800)}…` : text;
}

/** Imports the index pattern, visualizations, saved searches and dashboards; resolves to how many OSD took. */
export async function installOpenSearchDashboardsAssets(
  conn: OpenSearchDashboardsConnection,
): Promise<{ api: 'saved_objects'; imported: number }> {
  if ((conn as DashboardsConnection).apiKey)
    throw new OpenSearchDashboardsError(`${PRODUCT} has no API keys: give a username and password`);
  const [asset] = openSearchDashboardsAssets();
  const dispatcher = dashboardsDispatcher(conn);
  try {
    const body = await importNdjson({
      conn,
      endpoint: '/api/saved_objects/_import?overwrite=true',
      file: asset!.file,
      // OSD refuses a write without its own xsrf header (Kibana's kbn-xsrf is not it).
      headers: { 'osd-xsrf': 'true', ...authorizationHeader(conn) },
      dispatcher,
      product: PRODUCT,
      what: 'saved objects',
      forbidden: FORBIDDEN,
      notFoundHint: 'is this the OpenSearch Dashboards URL, with its base path such as /_dashboards?',
      fail: (message) => new OpenSearchDashboardsError(message),
    });
    const errors = (body.errors ?? []) as OsdImportError[];
    if (body.success === false || errors.length > 0)
      throw new OpenSearchDashboardsError(
        `${PRODUCT} refused ${errors.length} of ${asset!.objects.length} saved objects: ${describe(errors)}`,
      );
    return { api: 'saved_objects', imported: body.successCount ?? asset!.objects.length };
  } finally {
    await dispatcher.close();
  }
}
