/** The answer to one document of a bulk request, in request order. */
export interface BulkItemResult {
  readonly status: number;
  /** The engine's error type (`mapper_parsing_exception`, `cluster_block_exception`, ...), or 'unknown'. */
  readonly type: string;
  /** The engine's error reason, or `HTTP <status>`. */
  readonly reason: string;
}

/** What is known about a bulk request that failed as a whole; classify.ts decides what to do about it. */
export interface BulkRequestFailure {
  /** The HTTP status, when the engine answered. */
  readonly status?: number;
  /** The engine's error type, e.g. `cluster_block_exception` (also when only a root cause has it). */
  readonly type?: string;
  /** The engine's error reason, for the log. */
  readonly reason?: string;
  /** No answer: connection refused or reset, timeout, no living node. */
  readonly unreachable?: boolean;
  /** An answer that cannot be matched to the request (an item without a status, an unparsable body). */
  readonly malformed?: boolean;
}

/** A whole bulk request failed. The message is one line fit for the log (e.g. `HTTP 503: ...`). */
export class BulkRequestError extends Error {
  override readonly name = 'BulkRequestError';
  constructor(
    message: string,
    readonly failure: BulkRequestFailure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * One search engine's bulk API. `lines` are NDJSON lines, an action line then a source line per document.
 * Resolves with one result per document as the engine answered (the sink checks the count); rejects with a
 * BulkRequestError when the request failed as a whole. Never retries: the sink owns retrying.
 */
export interface BulkTransport {
  /** The engine's name as the log and errors should say it ("Elasticsearch"). */
  readonly name: string;
  bulk(lines: readonly string[], signal: AbortSignal): Promise<BulkItemResult[]>;
}

/**
 * The NDJSON body of a bulk request, encoded once into one Buffer. A string body would be flattened into one
 * more heap copy of every document (megabytes that land in V8's old generation and bring full collections
 * on), then measured and encoded all the same on its way out; a Buffer goes to the socket as it is.
 */
export function ndjsonBody(lines: readonly string[]): Buffer {
  let bytes = lines.length;
  for (const line of lines) bytes += Buffer.byteLength(line);
  const body = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const line of lines) {
    at += body.write(line, at);
    body[at++] = 0x0a;
  }
  return body;
}

/** The action line that creates `id` in the data stream `index` (data streams take `create` only). */
export function createAction(index: string, id: string): string {
  return `{"create":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(id)}}}`;
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

type Cause = { type?: string; reason?: string };

/** The reason of a cluster block (e.g. 403/429 `cluster_block_exception`) in an error answer's body, or null. */
export function clusterBlock(body: unknown): string | null {
  const error = (body as { error?: Cause & { root_cause?: Cause[] } } | undefined)?.error;
  const cause = [error, ...(error?.root_cause ?? [])].find((e) => e?.type === 'cluster_block_exception');
  return cause ? (cause.reason ?? 'cluster_block_exception') : null;
}

/** A whole bulk request the engine answered with an error status, as a BulkRequestError (either client's). */
export function answerFailure(status: number, body: unknown, message: string, cause: unknown): BulkRequestError {
  const block = clusterBlock(body);
  const type = (body as { error?: Cause } | undefined)?.error?.type;
  const failure =
    block !== null ? { status, type: 'cluster_block_exception', reason: block } : { status, ...(type ? { type } : {}) };
  return new BulkRequestError(`HTTP ${status}: ${message.slice(0, 300)}`, failure, { cause });
}
