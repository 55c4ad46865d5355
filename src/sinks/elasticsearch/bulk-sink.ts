import { appendFile, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Client } from '@elastic/elasticsearch';
import { errors } from '@elastic/elasticsearch';
import type { IndexDocument } from '../../ecs/map.js';
import { ECS_VERSION, EVENT_MODULE, sourceJson } from '../../ecs/map.js';
import { backoffDelay, sleep } from '../../shared/backoff.js';
import { type Log, silentLog } from '../../shared/log.js';
import { type Sink, SinkError, type SinkStats, type SinkUnit, UnitTracker, type UnitSummary } from '../sink.js';

export interface BulkSinkOptions {
  readonly client: Client;
  readonly flushBytes?: number;
  readonly flushCount?: number;
  readonly flushIntervalMs?: number;
  /** Bulk requests in flight at once; write() waits when all are busy and the buffer is full. */
  readonly concurrency?: number;
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Local NDJSON file for documents the dead-letter data stream also refused. */
  readonly deadLetterFile: string;
  readonly log?: Log;
}

export const BULK_DEFAULTS = { flushBytes: 5 * 1024 * 1024, flushCount: 5000, flushIntervalMs: 1000, concurrency: 2, retryBaseMs: 500, retryMaxMs: 30_000 } as const;

interface Item {
  readonly id: string;
  readonly index: string;
  /** The serialized document. */
  readonly source: string;
  readonly unit: UnitTracker;
}

interface Rejection {
  readonly item: Item;
  readonly status: number;
  readonly type: string;
  readonly reason: string;
}

const DEADLETTER_DATASET = 'encedo_hem.deadletter';
const DEADLETTER_ATTEMPTS = 4;

/**
 * Bulk `create` into data streams with the mapper's stable ids. Per item: 2xx stored; 409 already
 * there (a duplicate, success); 429/5xx retried with backoff and jitter without limit; anything else
 * dead-lettered with the original document. A whole request that fails to connect, times out or gets
 * 429/5xx is retried the same way. Memory is bounded: one buffer plus `concurrency` requests in flight.
 */
export class ElasticsearchBulkSink implements Sink {
  readonly stats: SinkStats = { written: 0, duplicates: 0, deadLettered: 0, retries: 0, requests: 0, queued: 0 };
  readonly #client: Client;
  readonly #o: Required<Omit<BulkSinkOptions, 'client' | 'log'>>;
  readonly #log: Log;
  #buffer: Item[] = [];
  #bufferBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #units = new Set<UnitTracker>();
  readonly #abort = new AbortController();
  #closed = false;

  constructor(options: BulkSinkOptions) {
    this.#client = options.client;
    this.#log = options.log ?? silentLog;
    this.#o = {
      flushBytes: options.flushBytes ?? BULK_DEFAULTS.flushBytes,
      flushCount: options.flushCount ?? BULK_DEFAULTS.flushCount,
      flushIntervalMs: options.flushIntervalMs ?? BULK_DEFAULTS.flushIntervalMs,
      concurrency: options.concurrency ?? BULK_DEFAULTS.concurrency,
      retryBaseMs: options.retryBaseMs ?? BULK_DEFAULTS.retryBaseMs,
      retryMaxMs: options.retryMaxMs ?? BULK_DEFAULTS.retryMaxMs,
      deadLetterFile: options.deadLetterFile,
    };
  }

  open(unitId: string): SinkUnit {
    const unit = new UnitTracker(unitId);
    this.#units.add(unit);
    void unit.done.then(
      () => this.#units.delete(unit),
      () => this.#units.delete(unit),
    );
    return {
      write: (doc) => this.#write(doc, unit),
      end: async (): Promise<UnitSummary> => {
        unit.ended = true;
        unit.settleIfDone();
        if (unit.outstanding > 0) await this.#dispatch();
        return unit.done;
      },
    };
  }

  async #write(doc: IndexDocument, unit: UnitTracker): Promise<void> {
    if (this.#abort.signal.aborted || this.#closed) throw new SinkError('aborted', 'the Elasticsearch output is closed');
    const source = sourceJson(doc);
    unit.outstanding++;
    this.stats.queued++;
    this.#buffer.push({ id: doc._id, index: doc._index, source, unit });
    this.#bufferBytes += source.length + doc._id.length + doc._index.length + 40;
    if (this.#buffer.length >= this.#o.flushCount || this.#bufferBytes >= this.#o.flushBytes) await this.#dispatch();
    else this.#timer ??= setTimeout(() => void this.#dispatch(), this.#o.flushIntervalMs);
  }

  /** Hands the buffer to a bulk request once a slot is free; the caller waits for the slot, not the request. */
  async #dispatch(): Promise<void> {
    while (this.#inFlight.size >= this.#o.concurrency) await Promise.race(this.#inFlight);
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#buffer.length === 0) return;
    const batch = this.#buffer;
    this.#buffer = [];
    this.#bufferBytes = 0;
    const request = this.#send(batch).finally(() => this.#inFlight.delete(request));
    this.#inFlight.add(request);
  }

  async flush(): Promise<void> {
    await this.#dispatch();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
  }

  abort(reason = 'aborted'): void {
    this.#abort.abort();
    if (this.#timer) clearTimeout(this.#timer);
    this.#buffer = [];
    for (const unit of this.#units) unit.fail(new SinkError('aborted', `the Elasticsearch output stopped before the file was acknowledged: ${reason}`));
  }

  async #send(batch: Item[]): Promise<void> {
    let items = batch;
    for (let attempt = 0; items.length > 0; ) {
      if (this.#abort.signal.aborted) return;
      let response: Awaited<ReturnType<Client['bulk']>>;
      try {
        this.stats.requests++;
        response = await this.#client.bulk({ operations: operations(items) }, { signal: this.#abort.signal });
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        if (!retryable(err)) {
          const error = requestError(err);
          this.#log.error({ err: error.message, documents: items.length }, 'Elasticsearch refused the bulk request');
          for (const item of items) item.unit.fail(error);
          this.stats.queued -= items.length;
          return;
        }
        this.stats.retries++;
        const wait = backoffDelay(attempt++, this.#o.retryBaseMs, this.#o.retryMaxMs);
        this.#log.warn({ err: describe(err), documents: items.length, attempt, wait_ms: wait }, 'bulk request failed; retrying');
        await sleep(wait, this.#abort.signal);
        continue;
      }
      const retry: Item[] = [];
      const rejected: Rejection[] = [];
      response.items.forEach((entry, i) => {
        const item = items[i]!;
        const result = entry.create ?? Object.values(entry)[0]!;
        const status = result.status;
        if (status >= 200 && status < 300) this.#ack(item, 'written');
        else if (status === 409) this.#ack(item, 'duplicate');
        else if (status === 429 || status >= 500) retry.push(item);
        else rejected.push({ item, status, type: result.error?.type ?? 'unknown', reason: result.error?.reason ?? `HTTP ${status}` });
      });
      if (rejected.length > 0) await this.#deadLetter(rejected);
      if (retry.length > 0) {
        this.stats.retries++;
        const wait = backoffDelay(attempt++, this.#o.retryBaseMs, this.#o.retryMaxMs);
        this.#log.warn({ documents: retry.length, attempt, wait_ms: wait }, 'Elasticsearch asked to retry some documents (429/5xx)');
        await sleep(wait, this.#abort.signal);
      }
      items = retry;
    }
  }

  #ack(item: Item, result: 'written' | 'duplicate' | 'deadLettered'): void {
    if (result === 'written') this.stats.written++;
    else if (result === 'duplicate') this.stats.duplicates++;
    else this.stats.deadLettered++;
    this.stats.queued--;
    item.unit.ack(result);
  }

  /**
   * Rejected documents go to `logs-encedo_hem.deadletter-<namespace>` with the original document and the
   * error; what that stream refuses too goes to the local dead-letter file. Never silently dropped.
   */
  async #deadLetter(rejected: Rejection[]): Promise<void> {
    for (const r of rejected) this.#log.error({ index: r.item.index, id: r.item.id, status: r.status, error_type: r.type, reason: r.reason }, 'document rejected; sending it to the dead-letter store');
    const now = new Date().toISOString();
    const letters = rejected.map((r) => {
      const namespace = r.item.index.slice(r.item.index.lastIndexOf('-') + 1);
      return {
        _id: r.item.id,
        _index: `logs-${DEADLETTER_DATASET}-${namespace}`,
        _source: {
          '@timestamp': now,
          message: `${r.item.index} rejected document ${r.item.id}: ${r.type}: ${r.reason}`,
          event: { kind: 'pipeline_error', original: r.item.source, module: EVENT_MODULE, dataset: DEADLETTER_DATASET, created: now },
          error: { type: r.type, message: r.reason },
          data_stream: { type: 'logs', dataset: DEADLETTER_DATASET, namespace },
          ecs: { version: ECS_VERSION },
          encedo_hem: { deadletter: { index: r.item.index, id: r.item.id, status: r.status } },
        },
      };
    });
    let pending = letters.map((_, i) => i);
    const toFile: number[] = [];
    for (let attempt = 0; pending.length > 0 && attempt < DEADLETTER_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(backoffDelay(attempt, this.#o.retryBaseMs, this.#o.retryMaxMs), this.#abort.signal);
      try {
        const batch = pending.map((i) => letters[i]!);
        const response = await this.#client.bulk({ operations: batch.flatMap((l) => [JSON.stringify({ create: { _index: l._index, _id: l._id } }), JSON.stringify(l._source)]) });
        const again: number[] = [];
        response.items.forEach((entry, k) => {
          const status = (entry.create ?? Object.values(entry)[0]!).status;
          if ((status >= 200 && status < 300) || status === 409) return;
          (status === 429 || status >= 500 ? again : toFile).push(pending[k]!);
        });
        pending = again;
      } catch (err) {
        if (!retryable(err)) {
          toFile.push(...pending);
          pending = [];
        }
      }
    }
    toFile.push(...pending); // the dead-letter stream kept failing: the file is the last resort
    if (toFile.length > 0) await this.#deadLetterToFile(toFile.map((i) => letters[i]!));
    for (const r of rejected) this.#ack(r.item, 'deadLettered');
  }

  async #deadLetterToFile(letters: { _id: string; _index: string; _source: unknown }[]): Promise<void> {
    await mkdir(dirname(this.#o.deadLetterFile), { recursive: true });
    await appendFile(this.#o.deadLetterFile, letters.map((l) => `${JSON.stringify(l)}\n`).join(''));
    const handle = await open(this.#o.deadLetterFile, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.#log.error({ file: this.#o.deadLetterFile, documents: letters.length }, 'the dead-letter data stream refused documents too; they are in the local dead-letter file');
  }
}

function operations(items: Item[]): string[] {
  const ops: string[] = [];
  for (const item of items) ops.push(`{"create":{"_index":${JSON.stringify(item.index)},"_id":${JSON.stringify(item.id)}}}`, item.source);
  return ops;
}

function retryable(err: unknown): boolean {
  if (err instanceof errors.ConnectionError || err instanceof errors.TimeoutError || err instanceof errors.NoLivingConnectionsError) return true;
  if (err instanceof errors.ResponseError) return err.statusCode === 429 || err.statusCode === 408 || (err.statusCode ?? 0) >= 500;
  return false;
}

function requestError(err: unknown): SinkError {
  if (err instanceof errors.ResponseError && (err.statusCode === 401 || err.statusCode === 403)) {
    return new SinkError('auth', err.statusCode === 401 ? 'Elasticsearch rejected the credentials (401)' : 'Elasticsearch denied the bulk request (403): the API key or user needs the create_doc (or create) privilege on logs-encedo_hem.*', { cause: err });
  }
  return new SinkError('rejected', `Elasticsearch refused the bulk request: ${describe(err)}`, { cause: err });
}

function describe(err: unknown): string {
  if (err instanceof errors.ResponseError) return `HTTP ${err.statusCode}: ${err.message.slice(0, 300)}`;
  return err instanceof Error ? err.message : String(err);
}
