import { type Client, errors } from '@opensearch-project/opensearch';
import {
  type BulkItemResult,
  BulkRequestError,
  type BulkTransport,
  answerFailure,
  itemResults,
  ndjsonBody,
} from '../search/transport.js';

/** The bulk API of OpenSearch through the official OpenSearch client. */
export class OpenSearchTransport implements BulkTransport {
  readonly name = 'OpenSearch';
  readonly #client: Client;

  constructor(client: Client) {
    this.#client = client;
  }

  async bulk(lines: readonly string[], signal: AbortSignal): Promise<BulkItemResult[]> {
    let body: unknown;
    try {
      // The NDJSON in one Buffer (the sources are serialized once, by the mapper); the answer cut to status and
      // error.
      const request = this.#client.bulk({
        body: ndjsonBody(lines),
        filter_path: 'items.*.status,items.*.error.type,items.*.error.reason',
      } as never);
      const abort = () => request.abort();
      signal.addEventListener('abort', abort, { once: true });
      try {
        body = (await request).body;
      } finally {
        signal.removeEventListener('abort', abort);
      }
    } catch (err) {
      throw requestFailure(err);
    }
    const results = itemResults(body as { items?: unknown }, lines.length / 2, this.name);
    if (typeof results === 'string') throw new BulkRequestError(results, { malformed: true });
    return results;
  }
}

/** The client's error as a BulkRequestError: the only place that knows the OpenSearch client's error classes. */
export function requestFailure(err: unknown): BulkRequestError {
  if (
    err instanceof errors.ConnectionError ||
    err instanceof errors.TimeoutError ||
    err instanceof errors.NoLivingConnectionsError
  )
    return new BulkRequestError(err.message, { unreachable: true }, { cause: err });
  if (err instanceof errors.ResponseError) return answerFailure(err.statusCode, err.body, err.message, err);
  return new BulkRequestError(err instanceof Error ? err.message : String(err), {}, { cause: err });
}
