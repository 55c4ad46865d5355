import { mkdir, open } from 'node:fs/promises';
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
  /** Acknowledged or given up: counted out of `queued` exactly once. */
  done: boolean;
}

interface Rejection {
  readonly item: Item;
  readonly status: number;
  readonly type: string;
  readonly reason: string;
}

const DEADLETTER_DATASET = 'encedo_hem.deadletter';
const DEADLETTER_ATTEMPTS = 4;
/** Bulk responses that do not match the request before the batch fails (a resend is safe: 409 = already there). */
const MALFORMED_ATTEMPTS = 5;
/** A cluster block can last hours: warn about it once per this interval, not per request. */
const BLOCK_WARN_EVERY_MS = 60_000;

/**
 * Bulk `create` into data streams with the mapper's stable ids. Per item: 2xx stored; 409 already
 * there (a duplicate, success); 429/5xx and cluster blocks (read-only index, disk watermark) retried with
 * backoff and jitter without limit; 401/403 fail the unit (`auth`, never checkpointed); anything else is a
 * refusal of the content and dead-lettered with the original document. A whole request that fails to
 * connect, times out, gets 429/5xx or a cluster block is retried the same way. A response whose items do not
 * match the request is resent a bounded number of times, then fails the units. Memory is bounded: one buffer
 * plus `concurrency` requests in flight.
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
  #blockWarnedAt = -Infinity;
  #blockSuppressed = 0;
  #blocked = false;

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
    this.#buffer.push({ id: doc._id, index: doc._index, source, unit, done: false });
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
    const request = this.#send(batch)
      .catch((err: unknown) => this.#giveUp(batch, unexpected(err))) // a bug must fail units, not hang or crash
      .finally(() => this.#inFlight.delete(request));
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
    let malformed = 0;
    for (let attempt = 0; ; ) {
      items = this.#dropAbandoned(items);
      if (items.length === 0 || this.#abort.signal.aborted) return;
      let response: Awaited<ReturnType<Client['bulk']>>;
      try {
        this.stats.requests++;
        response = await this.#client.bulk({ operations: operations(items) }, { signal: this.#abort.signal });
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        const block = blockReason(err);
        if (block === null && !retryable(err)) {
          const error = requestError(err);
          this.#log.error({ err: error.message, documents: items.length }, 'Elasticsearch refused the bulk request');
          this.#giveUp(items, error);
          return;
        }
        const wait = this.#retryDelay(attempt++);
        if (block !== null) this.#warnBlocked(block, items.length, wait);
        else {
          const fields = { err: describe(err), documents: items.length, attempt, wait_ms: wait };
          this.#log.warn(fields, 'bulk request failed; retrying');
        }
        await sleep(wait, this.#abort.signal);
        continue;
      }
      const results = itemResults(response, items.length);
      if (typeof results === 'string') {
        if (++malformed >= MALFORMED_ATTEMPTS) {
          const error = new SinkError('rejected', `${results} (${malformed} times in a row); giving up on the batch`);
          this.#log.error({ documents: items.length }, error.message);
          this.#giveUp(items, error);
          return;
        }
        const wait = this.#retryDelay(attempt++);
        const fields = { documents: items.length, attempt: malformed, wait_ms: wait };
        this.#log.error(fields, `${results}; resending the batch`);
        await sleep(wait, this.#abort.signal);
        continue;
      }
      const retry: Item[] = [];
      const rejected: Rejection[] = [];
      const denied: Rejection[] = [];
      let block: string | null = null;
      let stored = 0;
      for (const [i, r] of results.entries()) {
        const item = items[i]!;
        const verdict = itemVerdict(r.status, r.type);
        if (verdict === 'written' || verdict === 'duplicate') {
          this.#ack(item, verdict);
          stored++;
        } else if (verdict === 'blocked') {
          block ??= r.reason;
          retry.push(item);
        } else if (verdict === 'retry') retry.push(item);
        else (verdict === 'auth' ? denied : rejected).push({ item, ...r });
      }
      if (stored > 0 && block === null) this.#unblocked();
      if (denied.length > 0) this.#deny(denied);
      if (rejected.length > 0) await this.#keepRejected(rejected);
      items = retry;
      if (retry.length > 0) {
        const wait = this.#retryDelay(attempt++);
        if (block !== null) this.#warnBlocked(block, retry.length, wait);
        else {
          const fields = { documents: retry.length, attempt, wait_ms: wait };
          this.#log.warn(fields, 'Elasticsearch asked to retry some documents (429/5xx)');
        }
        await sleep(wait, this.#abort.signal);
      }
    }
  }

  #retryDelay(attempt: number): number {
    this.stats.retries++;
    return backoffDelay(attempt, this.#o.retryBaseMs, this.#o.retryMaxMs);
  }

  /** Items of units that already failed (auth, dead-letter file, abort) are not worth sending again. */
  #dropAbandoned(items: Item[]): Item[] {
    const live: Item[] = [];
    for (const item of items) {
      if (item.done) continue;
      if (!item.unit.failed) live.push(item);
      else {
        item.done = true;
        this.stats.queued--;
      }
    }
    return live;
  }

  #giveUp(items: readonly Item[], error: SinkError): void {
    for (const item of items) {
      if (item.done) continue;
      item.done = true;
      this.stats.queued--;
      item.unit.fail(error);
    }
  }

  /** 401/403 per item: the credentials or privileges are wrong, not the document; dead-lettering would hide it. */
  #deny(denied: Rejection[]): void {
    const first = denied[0]!;
    const { status, type, reason } = first;
    const fields = { index: first.item.index, documents: denied.length, status, error_type: type, reason };
    this.#log.error(fields, 'Elasticsearch denied writing documents; the files involved are not acknowledged');
    for (const d of denied) this.#giveUp([d.item], authError(d.status, d.item.index, d.type));
  }

  async #keepRejected(rejected: Rejection[]): Promise<void> {
    try {
      await this.#deadLetter(rejected);
    } catch (err) {
      const error = err instanceof SinkError ? err : unexpected(err);
      const fields = { err: error.message, documents: rejected.length };
      this.#log.error(fields, 'cannot keep rejected documents; the files involved fail');
      this.#giveUp(rejected.map((r) => r.item), error);
    }
  }

  #warnBlocked(reason: string, documents: number, wait: number): void {
    this.#blocked = true;
    const now = Date.now();
    if (now - this.#blockWarnedAt < BLOCK_WARN_EVERY_MS) {
      this.#blockSuppressed++;
      return;
    }
    this.#log.warn(
      { reason, documents, wait_ms: wait, similar_since_last: this.#blockSuppressed },
      'Elasticsearch refuses writes because of a cluster block (read-only index or disk watermark): ' +
        `${reason}; retrying until it is lifted`,
    );
    this.#blockWarnedAt = now;
    this.#blockSuppressed = 0;
  }

  #unblocked(): void {
    if (!this.#blocked) return;
    this.#blocked = false;
    this.#blockWarnedAt = -Infinity;
    this.#log.info({}, 'Elasticsearch accepts writes again (the cluster block was lifted)');
  }

  #ack(item: Item, result: 'written' | 'duplicate' | 'deadLettered'): void {
    if (item.done) return;
    item.done = true;
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
      if (this.#abort.signal.aborted) return; // the units already failed
      try {
        const batch = pending.map((i) => letters[i]!);
        const operations = batch.flatMap((l) => [
          JSON.stringify({ create: { _index: l._index, _id: l._id } }),
          JSON.stringify(l._source),
        ]);
        const response = await this.#client.bulk({ operations }, { signal: this.#abort.signal });
        const results = itemResults(response, batch.length);
        if (typeof results === 'string') {
          this.#log.warn({ documents: batch.length }, `dead-letter stream: ${results}; resending`);
          continue;
        }
        const again: number[] = [];
        for (const [k, r] of results.entries()) {
          const verdict = itemVerdict(r.status, r.type);
          if (verdict === 'written' || verdict === 'duplicate') continue;
          (verdict === 'retry' || verdict === 'blocked' ? again : toFile).push(pending[k]!);
        }
        pending = again;
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        if (!retryable(err) && blockReason(err) === null) {
          toFile.push(...pending);
          pending = [];
        }
      }
    }
    toFile.push(...pending); // the dead-letter stream kept failing: the file is the last resort
    if (toFile.length > 0) {
      const file = this.#o.deadLetterFile;
      await appendDeadLetterFile(file, toFile.map((i) => `${JSON.stringify(letters[i]!)}\n`).join(''));
      const message = 'the dead-letter data stream refused documents too; they are in the local dead-letter file';
      this.#log.error({ file, documents: toFile.length }, message);
    }
    for (const r of rejected) this.#ack(r.item, 'deadLettered');
  }
}

/**
 * Appends to the local dead-letter file and syncs it. Any failure is one SinkError('io') line naming the file
 * and the errno code. No recursive mkdir: Node 20 loops forever on it under /proc.
 */
export async function appendDeadLetterFile(file: string, text: string): Promise<void> {
  try {
    await makeDir(dirname(file));
    const handle = await open(file, 'a');
    try {
      await handle.appendFile(text);
      await handle.sync().catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EINVAL') throw err; // a device such as /dev/null cannot sync
      });
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw new SinkError('io', `cannot write the dead-letter file ${file}: ${errnoText(err)}`, { cause: err });
  }
}

/** mkdir -p with each level tried at most twice. */
async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // open() reports a parent that is not a directory
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await makeDir(parent);
    await mkdir(dir).catch((again: NodeJS.ErrnoException) => {
      if (again.code !== 'EEXIST') throw again;
    });
  }
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = (e.message ?? String(err)).split('\n')[0]!;
  if (!e.code) return text;
  const reason = /^[A-Z0-9_]+: ([^,]+)/.exec(text)?.[1]; // "ENOENT: no such file or directory, open '...'"
  return reason ? `${e.code} (${reason})` : e.code;
}

export type ItemVerdict = 'written' | 'duplicate' | 'blocked' | 'retry' | 'auth' | 'reject';

/** What to do with one bulk item. A cluster block comes as 403 or 429 (or 503), so its type decides first. */
export function itemVerdict(status: number, errorType?: string): ItemVerdict {
  if (status >= 200 && status < 300) return 'written';
  if (status === 409) return 'duplicate';
  if (errorType === 'cluster_block_exception') return 'blocked';
  if (status === 429 || status >= 500) return 'retry';
  if (status === 401 || status === 403) return 'auth';
  return 'reject';
}

export interface ItemResult {
  readonly status: number;
  readonly type: string;
  readonly reason: string;
}

/** The per-item results in request order, or why they cannot be matched to the documents sent. */
export function itemResults(response: { items?: unknown }, sent: number): ItemResult[] | string {
  const items: unknown[] = Array.isArray(response.items) ? response.items : [];
  if (items.length !== sent) {
    return `Elasticsearch answered a bulk request of ${sent} documents with ${items.length} item results`;
  }
  const results: ItemResult[] = [];
  for (const entry of items) {
    const result = (entry && typeof entry === 'object' ? Object.values(entry)[0] : undefined) as
      | { status?: unknown; error?: { type?: string; reason?: string } }
      | undefined;
    const status = result?.status;
    if (typeof status !== 'number') return 'Elasticsearch answered a bulk item without a status';
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

function authError(status: number, index: string, type: string): SinkError {
  if (status === 401) return new SinkError('auth', 'Elasticsearch rejected the credentials (401)');
  return new SinkError(
    'auth',
    `Elasticsearch denied writing to ${index} (403 ${type}): ` +
      'the API key or user needs the create_doc (or create) privilege on logs-encedo_hem.*',
  );
}

function unexpected(err: unknown): SinkError {
  if (err instanceof SinkError) return err;
  return new SinkError('rejected', `the Elasticsearch output failed: ${describe(err).split('\n')[0]}`, { cause: err });
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
