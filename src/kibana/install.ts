import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, FormData, fetch } from 'undici';
import { ForwarderError } from '../shared/errors.js';
import { PACKAGE_ROOT } from '../shared/package-info.js';

export interface KibanaConnection {
  readonly url: string;
  readonly apiKey?: string;
  readonly username?: string;
  readonly password?: string;
  /** PEM text of the CA that signed Kibana's certificate. */
  readonly ca?: string;
  readonly insecure?: boolean;
}

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
  const dispatcher = new Agent({
    connect: { ...(conn.ca ? { ca: conn.ca } : {}), ...(conn.insecure ? { rejectUnauthorized: false } : {}) },
  });
  const headers: Record<string, string> = { 'kbn-xsrf': 'encedo-hem-forwarder' };
  if (conn.apiKey) headers.authorization = `ApiKey ${conn.apiKey}`;
  else if (conn.username)
    headers.authorization = `Basic ${Buffer.from(`${conn.username}:${conn.password ?? ''}`).toString('base64')}`;
  const results: { api: KibanaAsset['api']; imported: number }[] = [];
  try {
    for (const asset of kibanaAssets()) {
      const form = new FormData();
      form.set(
        'file',
        new Blob([readFileSync(asset.file)], { type: 'application/ndjson' }),
        asset.file.slice(asset.file.lastIndexOf('/') + 1),
      );
      let res: Awaited<ReturnType<typeof fetch>>;
      try {
        res = await fetch(`${conn.url.replace(/\/+$/, '')}${ENDPOINT[asset.api]}`, {
          method: 'POST',
          headers,
          body: form,
          dispatcher,
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new KibanaError(
          `cannot reach Kibana at ${conn.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        );
      }
      const text = await res.text();
      if (res.status === 401) throw new KibanaError(`Kibana rejected the credentials (401) importing ${asset.api}`);
      if (res.status === 403)
        throw new KibanaError(
          `Kibana denied the ${asset.api} import (403): the user or API key needs ${PRIVILEGE[asset.api]}`,
        );
      if (res.status !== 200)
        throw new KibanaError(`Kibana answered HTTP ${res.status} importing ${asset.api}: ${text.slice(0, 300)}`);
      let body: { success?: boolean; successCount?: number; success_count?: number; errors?: unknown[] };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new KibanaError(`Kibana answered 200 importing ${asset.api}, but not with JSON: ${text.slice(0, 200)}`);
      }
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
