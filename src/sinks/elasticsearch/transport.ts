import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import { type BulkItemResult, BulkRequestError, type BulkTransport } from '../search/transport.js';

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
      // Strings go into the body as they are: the sources are serialized once, by the mapper. The answer is cut
      // to what is read (status and error per item): a 5,000-item answer otherwise repeats index, id, version,
      // shards and sequence numbers for every document, and parsing that is on the critical path.
      response = await this.#client.bulk(
        {
          operations: lines as string[],
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

/** The per-item results in request order, or why they cannot be matched to the documents sent. */
export function itemResults(
  response: { items?: unknown },
  sent: number,
  engine = 'Elasticsearch',
): BulkItemResult[] | string {
  const items: unknown[] = Array.isArray(response?.items) ? response.items : [];
  if (items.length !== sent) {
    return `${engine} answered a bulk request of ${sent} documents with ${items.length} item results`;
  }
  const results: BulkItemResult[] = [];
  for (const entry of items) {
    const result = (entry && typeof entry === 'object' ? Object.values(entry)[0] : undefined) as
      | { status?: unknown; error?: { type?: string; reason?: string } }
      | undefined;
    const status = result?.status;
    if (typeof status !== 'number') return `${engine} answered a bulk item without a status`;
    results.push({ status, type: result?.error?.type ?? 'unknown', reason: result?.error?.reason ?? `HTTP ${status}` });
  }
  return results;
}

/** The reason of a whole-request cluster block (e.g. 403/429 `cluster_block_exception`), or null. */
export function blockReason(err: unknown): string | null {
  if (!(err instanceof errors.ResponseError)) return null;
  type Cause = { type?: string; reason?: string };
  const error = (err.body as { error?: Cause & { root_cause?: Cause[] } } | undefined)?.error;
  const cause = [error, ...(error?.root_cause ?? [])].find((e) => e?.type === 'cluster_block_exception');
  return cause ? (cause.reason ?? 'cluster_block_exception') : null;
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
  if (err instanceof errors.ResponseError) {
    const message = `HTTP ${err.statusCode}: ${err.message.slice(0, 300)}`;
    const block = blockReason(err);
    const status = err.statusCode;
    const failure =
      block !== null
        ? { status, type: 'cluster_block_exception', reason: block }
        : { status, type: (err.body as { error?: { type?: string } } | undefined)?.error?.type };
    return new BulkRequestError(message, failure, { cause: err });
  }
  return new BulkRequestError(err instanceof Error ? err.message : String(err), {}, { cause: err });
}
