import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import {
  type BulkItemResult,
  BulkRequestError,
  type BulkTransport,
  answerFailure,
  clusterBlock,
  itemResults,
  ndjsonBody,
} from '../search/transport.js';

/** The bulk API of Elasticsearch (and engines that answer like it) through the official client. */
export class ElasticsearchTransport implements BulkTransport {
  readonly name = 'Elasticsearch';
  readonly #client: Client;

  constructor(client: Client) {
    this.#client = client;
  }

  async bulk(lines: readonly string[], signal: AbortSignal): Promise<BulkItemResult[]> {
    let response: Awaited<ReturnType<Client['bulk']>>;
    try {
      // The sources, serialized once by the mapper, go into one Buffer (the client sends a Buffer as it is). The
      // answer is cut to what is read (status and error per item): a 5,000-item answer otherwise repeats index,
      // id, version, shards and sequence numbers for every document, and parsing that is on the critical path.
      response = await this.#client.bulk(
        {
          operations: ndjsonBody(lines) as unknown as string[],
          filter_path: ['items.*.status', 'items.*.error.type', 'items.*.error.reason'],
        },
        { signal },
      );
    } catch (err) {
      throw requestFailure(err);
    }
    const results = itemResults(response, lines.length / 2, this.name);
    if (typeof results === 'string') throw new BulkRequestError(results, { malformed: true });
    return results;
  }
}

/** The reason of a whole-request cluster block (e.g. 403/429 `cluster_block_exception`), or null. */
export function blockReason(err: unknown): string | null {
  return err instanceof errors.ResponseError ? clusterBlock(err.body) : null;
}

/** The client's error as a BulkRequestError: the only place that knows the client's error classes. */
export function requestFailure(err: unknown): BulkRequestError {
  if (
    err instanceof errors.ConnectionError ||
    err instanceof errors.TimeoutError ||
    err instanceof errors.NoLivingConnectionsError
  ) {
    return new BulkRequestError(err.message, { unreachable: true }, { cause: err });
  }
  if (err instanceof errors.ResponseError) return answerFailure(err.statusCode ?? 0, err.body, err.message, err);
  return new BulkRequestError(err instanceof Error ? err.message : String(err), {}, { cause: err });
}
