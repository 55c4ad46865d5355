/**
 * What importing an NDJSON file into Kibana and into OpenSearch Dashboards share: the connection (URL, credentials,
 * TLS), the multipart upload of the file as the field `file`, and the reading of the answer (unreachable, 401, 403,
 * another status, a body that is not JSON), each turned into one line a user can act on.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Agent, type Dispatcher, FormData, fetch } from 'undici';

export interface DashboardsConnection {
  readonly url: string;
  /** Kibana only: OpenSearch Dashboards has no API keys. */
  readonly apiKey?: string;
  readonly username?: string;
  readonly password?: string;
  /** PEM text of the CA that signed the server's certificate. */
  readonly ca?: string;
  readonly insecure?: boolean;
}

/** The connection's TLS settings as a dispatcher for fetch; the caller closes it. */
export function dashboardsDispatcher(conn: DashboardsConnection): Agent {
  return new Agent({
    connect: { ...(conn.ca ? { ca: conn.ca } : {}), ...(conn.insecure ? { rejectUnauthorized: false } : {}) },
  });
}

/** `ApiKey …` when the connection has an API key, else `Basic …` when it has a username, else nothing. */
export function authorizationHeader(conn: DashboardsConnection): Record<string, string> {
  if (conn.apiKey) return { authorization: `ApiKey ${conn.apiKey}` };
  if (conn.username)
    return { authorization: `Basic ${Buffer.from(`${conn.username}:${conn.password ?? ''}`).toString('base64')}` };
  return {};
}

/** The JSON answer of an import API (saved objects, exception lists and rules answer in this shape). */
export interface ImportAnswer {
  success?: boolean;
  successCount?: number;
  success_count?: number;
  errors?: unknown[];
}

export interface ImportRequest {
  readonly conn: DashboardsConnection;
  /** Path and query after the connection's URL (which may end in a base path). */
  readonly endpoint: string;
  readonly file: string;
  readonly headers: Record<string, string>;
  readonly dispatcher: Dispatcher;
  /** For messages: the product ("Kibana"), what is imported, and what a 403 means the user lacks. */
  readonly product: string;
  readonly what: string;
  readonly forbidden: string;
  /** Appended to the message of a 404 (a URL without the base path lands there). */
  readonly notFoundHint?: string;
  /** The error class of the caller, so the CLI can tell it apart. */
  readonly fail: (message: string) => Error;
}

/** POSTs the file as multipart field `file` and returns the JSON of a 200, or throws `fail(one line)`. */
export async function importNdjson(req: ImportRequest): Promise<ImportAnswer> {
  const form = new FormData();
  form.set('file', new Blob([readFileSync(req.file)], { type: 'application/ndjson' }), basename(req.file));
  let res: Awaited<ReturnType<typeof fetch>>;
  try {
    res = await fetch(`${req.conn.url.replace(/\/+$/, '')}${req.endpoint}`, {
      method: 'POST',
      headers: req.headers,
      body: form,
      dispatcher: req.dispatcher,
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw req.fail(
      `cannot reach ${req.product} at ${req.conn.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  const text = await res.text();
  if (res.status === 401) throw req.fail(`${req.product} rejected the credentials (401) importing ${req.what}`);
  if (res.status === 403) throw req.fail(`${req.product} denied the ${req.what} import (403): ${req.forbidden}`);
  if (res.status !== 200) {
    const hint = res.status === 404 && req.notFoundHint ? ` (${req.notFoundHint})` : '';
    throw req.fail(`${req.product} answered HTTP ${res.status} importing ${req.what}: ${text.slice(0, 300)}${hint}`);
  }
  try {
    return JSON.parse(text) as ImportAnswer;
  } catch {
    throw req.fail(`${req.product} answered 200 importing ${req.what}, but not with JSON: ${text.slice(0, 200)}`);
  }
}
