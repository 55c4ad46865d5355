// The little of a search engine's REST API that setup needs, behind one call: the Elasticsearch and the
// OpenSearch client each adapt their own transport to it (src/sinks/*/rest.ts), and setup speaks only this.

/** An engine's answer: any HTTP status is an answer. */
export interface RestAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface RestClient {
  /** Rejects only when there is no answer (unreachable, timeout), with RestUnreachableError. */
  request(method: 'GET' | 'HEAD' | 'PUT' | 'POST', path: string, body?: unknown): Promise<RestAnswer>;
}

export class RestUnreachableError extends Error {
  override readonly name = 'RestUnreachableError';
}
