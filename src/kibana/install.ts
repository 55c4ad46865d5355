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

/** URL, API key or username and password, and the CA of Kibana's certificate (PEM text). */
export type KibanaConnection = DashboardsConnection;

export class KibanaError extends ForwarderError {
  override readonly name = 'KibanaError';
  readonly code = 'kibana';
  readonly transient = false;
}

export const SAVED_OBJECTS_FILE = join(PACKAGE_ROOT, 'mappings', 'kibana', 'encedo_hem-saved-objects.ndjson');
export const RULES_FILE = join(PACKAGE_ROOT, 'mappings', 'rules', 'encedo_hem-detection-rules.ndjson');
/** The planned-maintenance exception list the rules reference: imported before them. */
export const EXCEPTIONS_FILE = join(PACKAGE_ROOT, 'mappings', 'rules', 'encedo_hem-exceptions.ndjson');

export interface KibanaAsset {
  readonly api: 'saved_objects' | 'exceptions' | 'rules';
  readonly file: string;
  /** One line per object: `type id title`. */
  readonly objects: readonly string[];
}

export function kibanaAssets(): KibanaAsset[] {
  const lines = (file: string) =>
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return [
    {
      api: 'saved_objects',
      file: SAVED_OBJECTS_FILE,
      // Tags have a name where the other types have a title.
      objects: lines(SAVED_OBJECTS_FILE).map((o) => {
        const a = o.attributes as { title?: string; name?: string };
        return `${o.type} ${o.id} ${JSON.stringify(a.title ?? a.name)}`;
      }),
    },
    {
      api: 'exceptions',
      file: EXCEPTIONS_FILE,
      objects: lines(EXCEPTIONS_FILE).map((o) =>
        o.item_id
          ? `exception-item ${o.item_id} ${JSON.stringify(o.name)}`
          : `exception-list ${o.list_id} ${JSON.stringify(o.name)}`,
      ),
    },
    {
      api: 'rules',
      file: RULES_FILE,
      objects: lines(RULES_FILE).map((r) => `rule ${r.rule_id} ${JSON.stringify(r.name)}`),
    },
  ];
}

const ENDPOINT = {
  saved_objects: '/api/saved_objects/_import?overwrite=true',
  // Never overwritten: the list holds the SOC's own maintenance windows once installed.
  exceptions: '/api/exception_lists/_import?overwrite=false',
  rules: '/api/detection_engine/rules/_import?overwrite=true',
} as const;
const PRIVILEGE = {
  saved_objects: 'Kibana feature privileges: Saved Objects Management (all), Dashboard and Discover (all)',
  exceptions: 'Kibana feature privilege Security (all)',
  rules: 'Kibana feature privilege Security (all), and read on logs-encedo_hem.*',
} as const;

/**
 * Imports the dashboards (saved objects) and the detection rules. Both imports overwrite objects with
 * the same ids, so running it again changes nothing but the versions. Before the rules, the planned-maintenance
 * exception list they reference: created when missing, never overwritten (the result lists dashboards and rules).
 */
export async function installKibanaAssets(
  conn: KibanaConnection,
): Promise<{ api: KibanaAsset['api']; imported: number }[]> {
  const dispatcher = dashboardsDispatcher(conn);
  const headers: Record<string, string> = { 'kbn-xsrf': 'encedo-hem-forwarder', ...authorizationHeader(conn) };
  const results: { api: KibanaAsset['api']; imported: number }[] = [];
  try {
    for (const asset of kibanaAssets()) {
      const body = await importNdjson({
        conn,
        endpoint: ENDPOINT[asset.api],
        file: asset.file,
        headers,
        dispatcher,
        product: 'Kibana',
        what: asset.api,
        forbidden: `the user or API key needs ${PRIVILEGE[asset.api]}`,
        fail: (message) => new KibanaError(message),
      });
      // An exception list or item that already exists (409) is kept as it is, with the items added to it.
      const existing = (e: unknown) => (e as { error?: { status_code?: number } }).error?.status_code === 409;
      if (asset.api === 'exceptions' && (body.errors ?? []).every(existing)) continue;
      if (body.success === false || (body.errors && body.errors.length > 0))
        throw new KibanaError(
          `Kibana refused part of the ${asset.api} import: ${JSON.stringify(body.errors).slice(0, 500)}`,
        );
      if (asset.api !== 'exceptions')
        results.push({ api: asset.api, imported: body.successCount ?? body.success_count ?? asset.objects.length });
    }
  } finally {
    await dispatcher.close();
  }
  return results;
}
