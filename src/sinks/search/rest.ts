// The little of a search engine's REST API that setup needs, behind one call: the Elasticsearch and the
// OpenSearch client each adapt their own transport to it (src/sinks/*/rest.ts); setup, the custody audit and the
// fleet's state store speak only this.

/** An engine's answer: any HTTP status is an answer. */
export interface RestAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface RestOptions {
  /** This request's timeout, in place of the client's. */
  readonly timeoutMs?: number;
}

export interface RestClient {
  /** Rejects only when there is no answer (unreachable, timeout), with RestUnreachableError. */
  request(
    method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    options?: RestOptions,
  ): Promise<RestAnswer>;
}

export class RestUnreachableError extends Error {
  override readonly name = 'RestUnreachableError';
}

/** Why the engine refused, in a few words: `HTTP 403 (permission denied)`, `HTTP 400 (type: reason)`. */
export function refusal({ status, body }: RestAnswer): string {
  if (status === 401) return 'HTTP 401 (the credentials were rejected)';
  if (status === 403) return 'HTTP 403 (permission denied)';
  const error = (body as { error?: { type?: string; reason?: string } | string } | null | undefined)?.error;
  const reason = typeof error === 'string' ? error : [error?.type, error?.reason].filter(Boolean).join(': ');
  return `HTTP ${status}${reason ? ` (${reason.slice(0, 300)})` : ''}`;
}
