import type { IndexDocument } from '../../src/ecs/map.js';
import {
  type BulkItemResult,
  BulkRequestError,
  type BulkRequestFailure,
  type BulkTransport,
} from '../../src/sinks/search/transport.js';

/** One document of a bulk request as the fake saw it. */
export interface FakeDoc {
  readonly index: string;
  readonly id: string;
  readonly source: Record<string, unknown>;
}

export interface FakeRequest {
  /** 1-based count of bulk requests. */
  readonly n: number;
  readonly lines: readonly string[];
  readonly docs: readonly FakeDoc[];
  /** Requests to the dead-letter data stream. */
  readonly deadLetter: boolean;
}

/** What a handler answers: per-item results, or a whole-request failure (throw it, or return it). */
export type FakeAnswer = BulkItemResult[] | BulkRequestError;
export type FakeHandler = (request: FakeRequest) => FakeAnswer | Promise<FakeAnswer>;

export const ok = (): BulkItemResult => ({ status: 201, type: 'unknown', reason: 'HTTP 201' });
export const item = (status: number, type = 'unknown', reason = `HTTP ${status}`): BulkItemResult => ({
  status,
  type,
  reason,
});
export const requestError = (message: string, failure: BulkRequestFailure) => new BulkRequestError(message, failure);

/** Every document stored (201) unless a handler says otherwise. */
export const acceptAll: FakeHandler = (r) => r.docs.map(ok);

/**
 * A scriptable BulkTransport for unit tests: records every request and answers through `handler` (replaceable
 * between requests). It honours the abort signal like a real one: a pending answer rejects when aborted.
 */
export class FakeTransport implements BulkTransport {
  readonly name = 'Elasticsearch';
  readonly requests: FakeRequest[] = [];
  handler: FakeHandler;

  constructor(handler: FakeHandler = acceptAll) {
    this.handler = handler;
  }

  /** Requests to the data streams of the documents, not the dead-letter stream. */
  get documentRequests(): FakeRequest[] {
    return this.requests.filter((r) => !r.deadLetter);
  }

  async bulk(lines: readonly string[], signal: AbortSignal): Promise<BulkItemResult[]> {
    const docs: FakeDoc[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const { create } = JSON.parse(lines[i]!) as { create: { _index: string; _id: string } };
      docs.push({ index: create._index, id: create._id, source: JSON.parse(lines[i + 1]!) as Record<string, unknown> });
    }
    const deadLetter = docs.length > 0 && docs.every((d) => d.index.startsWith('logs-encedo_hem.deadletter-'));
    const request = { n: this.requests.length + 1, lines: [...lines], docs, deadLetter };
    this.requests.push(request);
    const aborted = new Promise<never>((_, reject) => {
      const fail = () => reject(new BulkRequestError('Request aborted', {}));
      if (signal.aborted) fail();
      else signal.addEventListener('abort', fail, { once: true });
    });
    aborted.catch(() => undefined);
    const answer = await Promise.race([Promise.resolve(this.handler(request)), aborted]);
    if (answer instanceof BulkRequestError) throw answer;
    return answer;
  }
}

/** A small audit-like document for data stream `logs-encedo_hem.audit-<ns>`. */
export function doc(n: number, ns = 'test', message = `event ${n}`): IndexDocument {
  return {
    _id: `id-${n}`,
    _index: `logs-encedo_hem.audit-${ns}`,
    _source: { '@timestamp': '2025-01-01T00:00:00Z', message },
  };
}
