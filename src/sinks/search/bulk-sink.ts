import { deadLetterDocument } from '../../ecs/deadletter.js';
import { DEFAULTS as D } from '../../config/defaults.js';
import type { IndexDocument } from '../../ecs/map.js';
import { sourceJson } from '../../ecs/map.js';
import { backoffDelay, sleep } from '../../shared/backoff.js';
import { type Log, silentLog } from '../../shared/log.js';
import {
  type DeadLetter,
  type Sink,
  SinkError,
  type SinkStats,
  type SinkUnit,
  type UnitOptions,
  UnitTracker,
  type UnitSummary,
  emptySinkStats,
} from '../sink.js';
import { classifyItem, classifyRequest } from './classify.js';
import { appendDeadLetterFile } from './deadletter-file.js';
import { type BulkItemResult, BulkRequestError, type BulkTransport, createAction } from './transport.js';

export interface SearchBulkSinkOptions {
  readonly transport: BulkTransport;
  /** Flush when the buffered request body reaches this many bytes (UTF-8, as sent). */
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

const { flushBytes, flushCount, flushIntervalMs, concurrency, retryBaseMs, retryMaxMs } = D.elasticsearch;
export const BULK_DEFAULTS = { flushBytes, flushCount, flushIntervalMs, concurrency, retryBaseMs, retryMaxMs } as const;

interface Item {
  readonly id: string;
  readonly index: string;
  readonly action: string;
  /** The serialized document. */
  readonly source: string;
  readonly unit: UnitTracker;
  /** Acknowledged or given up: counted out of `queued` exactly once. */
  done: boolean;
}

interface Rejection extends BulkItemResult {
  readonly item: Item;
}

const DEADLETTER_ATTEMPTS = 4;
/** Bulk responses that do not match the request before the batch fails (a resend is safe: 409 = already there). */
const MALFORMED_ATTEMPTS = 5;
/** A cluster block can last hours: warn about it once per this interval, not per request. */
const BLOCK_WARN_EVERY_MS = 60_000;
const PRIVILEGE_HINT = 'the API key or user needs the create_doc (or create) privilege on logs-encedo_hem.*';

/**
 * Bulk `create` into data streams with the mapper's stable ids, through any BulkTransport. Per item: 2xx
 * stored; 409 already there (a duplicate, success); 429/5xx and cluster blocks (read-only index, disk
 * watermark) retried with backoff and jitter without limit; 401/403 fail the unit (`auth`, never
 * checkpointed); anything else is a refusal of the content and dead-lettered with the original document. A
 * whole request that fails to connect, times out, gets 429/5xx or a cluster block is retried the same way. A
 * response whose items do not match the request is resent a bounded number of times, then fails the units.
 * Memory is bounded: one buffer plus `concurrency` requests in flight, and the few documents of immediate
 * units (custody digests), which go at once in requests of their own. A request slot that frees takes what the
 * buffer holds (at least a quarter of a request), so the engine keeps `concurrency` requests while files are
 * still being mapped.
 */
export class SearchBulkSink implements Sink {
  readonly stats: SinkStats = emptySinkStats();
  readonly #transport: BulkTransport;
  readonly #o: Required<Omit<SearchBulkSinkOptions, 'transport' | 'log'>>;
  readonly #log: Log;
  #buffer: Item[] = [];
  #bufferBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  readonly #inFlight = new Set<Promise<void>>();
  /** Requests of immediate units: outside the request slots, waited for by flush() all the same. */
  readonly #outOfBand = new Set<Promise<void>>();
  readonly #units = new Set<UnitTracker>();
  readonly #abort = new AbortController();
  #closed = false;
  #blockWarnedAt = -Infinity;
  #blockSuppressed = 0;
  #blocked = false;

  constructor(options: SearchBulkSinkOptions) {
    this.#transport = options.transport;
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

  get #name(): string {
    return this.#transport.name;
  }

  open(unitId: string, options: UnitOptions = {}): SinkUnit {
    const unit = new UnitTracker(unitId);
    this.#units.add(unit);
    void unit.done.then(
      () => this.#units.delete(unit),
      () => this.#units.delete(unit),
    );
    if (options.immediate) return this.#immediateUnit(unit);
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

  #immediateUnit(unit: UnitTracker): SinkUnit {
    const items: Item[] = [];
    return {
      write: async (doc) => {
        items.push(this.#item(doc, unit));
      },
      end: async (): Promise<UnitSummary> => {
        unit.ended = true;
        unit.settleIfDone();
        if (items.length > 0) {
          const request = this.#request(items.splice(0), this.#outOfBand);
          this.#outOfBand.add(request);
        }
        return unit.done;
      },
    };
  }

  #item(doc: IndexDocument, unit: UnitTracker): Item {
    if (this.#abort.signal.aborted || this.#closed)
      throw new SinkError('aborted', `the ${this.#name} output is closed`);
    unit.outstanding++;
    this.stats.queued++;
    const action = createAction(doc._index, doc._id);
    return { id: doc._id, index: doc._index, action, source: sourceJson(doc), unit, done: false };
  }

  async #write(doc: IndexDocument, unit: UnitTracker): Promise<void> {
    const item = this.#item(doc, unit);
    const { action, source } = item;
    this.#buffer.push(item);
    // Bytes as sent, two lines and their newlines: non-ASCII text takes more than its string length.
    this.#bufferBytes += Buffer.byteLength(action) + Buffer.byteLength(source) + 2;
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
    this.#inFlight.add(this.#request(batch, this.#inFlight));
  }

  /** Sends `batch`; the request leaves `set` when it is done, and a slot that frees may take the buffer. */
  #request(batch: Item[], set: Set<Promise<void>>): Promise<void> {
    const request: Promise<void> = this.#send(batch)
      .catch((err: unknown) => this.#giveUp(batch, this.#unexpected(err))) // a bug must fail units, not hang or crash
      .finally(() => {
        set.delete(request);
        if (this.#worthSending()) void this.#dispatch();
      });
    return request;
  }

  /**
   * Whether a slot that just freed should take the buffer now rather than at the next flush: the engine would
   * otherwise idle while the next file is still being mapped. A quarter of a full request is enough to be worth
   * it; smaller remainders wait for end(), the count or the interval, so a trickle never becomes a stream of
   * tiny requests.
   */
  #worthSending(): boolean {
    if (this.#abort.signal.aborted || this.#inFlight.size >= this.#o.concurrency) return false;
    return this.#buffer.length * 4 >= this.#o.flushCount || this.#bufferBytes * 4 >= this.#o.flushBytes;
  }

  async flush(): Promise<void> {
    await this.#dispatch();
    while (this.#inFlight.size > 0 || this.#outOfBand.size > 0)
      await Promise.all([...this.#inFlight, ...this.#outOfBand]);
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
    const message = `the ${this.#name} output stopped before the file was acknowledged: ${reason}`;
    for (const unit of this.#units) unit.fail(new SinkError('aborted', message));
  }

  async #send(batch: Item[]): Promise<void> {
    let items = batch;
    let malformed = 0;
    for (let attempt = 0; ; ) {
      items = this.#dropAbandoned(items);
      if (items.length === 0 || this.#abort.signal.aborted) return;
      let results: BulkItemResult[];
      try {
        this.stats.requests++;
        const started = performance.now();
        results = await this.#transport.bulk(lines(items), this.#abort.signal);
        const ms = Math.round(performance.now() - started);
        this.#log.debug({ documents: items.length, in_flight: this.#inFlight.size, ms }, 'bulk request answered');
        if (results.length !== items.length) {
          throw new BulkRequestError(this.#mismatch(items.length, results.length), { malformed: true });
        }
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        const failure = err instanceof BulkRequestError ? err.failure : {};
        const verdict = classifyRequest(failure);
        if (verdict === 'malformed') {
          const text = describe(err);
          if (++malformed >= MALFORMED_ATTEMPTS) {
            const error = new SinkError('rejected', `${text} (${malformed} times in a row); giving up on the batch`);
            this.#log.error({ documents: items.length }, error.message);
            this.#giveUp(items, error);
            return;
          }
          const wait = this.#retryDelay(attempt++);
          const fields = { documents: items.length, attempt: malformed, wait_ms: wait };
          this.#log.error(fields, `${text}; resending the batch`);
          await sleep(wait, this.#abort.signal);
          continue;
        }
        if (verdict === 'auth' || verdict === 'reject') {
          const error = this.#requestError(err, failure.status, verdict);
          this.#log.error({ err: error.message, documents: items.length }, `${this.#name} refused the bulk request`);
          this.#giveUp(items, error);
          return;
        }
        const wait = this.#retryDelay(attempt++);
        if (verdict === 'blocked') this.#warnBlocked(failure.reason ?? 'cluster_block_exception', items.length, wait);
        else {
          const fields = { err: describe(err), documents: items.length, attempt, wait_ms: wait };
          this.#log.warn(fields, 'bulk request failed; retrying');
        }
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
        const verdict = classifyItem(r.status, r.type);
        if (verdict === 'written' || verdict === 'duplicate') {
          this.#ack(item, verdict);
          stored++;
        } else if (verdict === 'blocked') {
          block ??= r.reason;
          retry.push(item);
        } else if (verdict === 'retry') retry.push(item);
        else (verdict === 'auth' ? denied : rejected).push({ item, ...r });
      }
      if (stored > 0) this.stats.failingSince = null;
      if (stored > 0 && block === null) this.#unblocked();
      if (denied.length > 0) this.#deny(denied);
      if (rejected.length > 0) await this.#keepRejected(rejected);
      items = retry;
      if (retry.length > 0) {
        const wait = this.#retryDelay(attempt++);
        if (block !== null) this.#warnBlocked(block, retry.length, wait);
        else {
          const fields = { documents: retry.length, attempt, wait_ms: wait };
          this.#log.warn(fields, `${this.#name} asked to retry some documents (429/5xx)`);
        }
        await sleep(wait, this.#abort.signal);
      }
    }
  }

  #retryDelay(attempt: number): number {
    this.stats.retries++;
    this.stats.failingSince ??= Date.now();
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
    this.stats.failingSince ??= Date.now();
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
    this.#log.error(fields, `${this.#name} denied writing documents; the files involved are not acknowledged`);
    for (const d of denied) this.#giveUp([d.item], this.#authError(d.status, d.item.index, d.type));
  }

  async #keepRejected(rejected: Rejection[]): Promise<void> {
    try {
      await this.#deadLetter(rejected);
    } catch (err) {
      const error = err instanceof SinkError ? err : this.#unexpected(err);
      const fields = { err: error.message, documents: rejected.length };
      this.#log.error(fields, 'cannot keep rejected documents; the files involved fail');
      this.#giveUp(
        rejected.map((r) => r.item),
        error,
      );
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
      `${this.#name} refuses writes because of a cluster block (read-only index or disk watermark): ` +
        `${reason}; retrying until it is lifted`,
    );
    this.#blockWarnedAt = now;
    this.#blockSuppressed = 0;
  }

  #unblocked(): void {
    if (!this.#blocked) return;
    this.#blocked = false;
    this.#blockWarnedAt = -Infinity;
    this.#log.info({}, `${this.#name} accepts writes again (the cluster block was lifted)`);
  }

  #ack(item: Item, result: 'written' | 'duplicate' | 'deadLettered', letter?: DeadLetter): void {
    if (item.done) return;
    item.done = true;
    if (result === 'written') this.stats.written++;
    else if (result === 'duplicate') this.stats.duplicates++;
    else this.stats.deadLettered++;
    this.stats.queued--;
    item.unit.ack(result, letter);
  }

  /**
   * Rejected documents go to `logs-encedo_hem.deadletter-<namespace>` with the original document and the
   * error; what that stream refuses too goes to the local dead-letter file. Never silently dropped.
   */
  async #deadLetter(rejected: Rejection[]): Promise<void> {
    for (const r of rejected) {
      const fields = { index: r.item.index, id: r.item.id, status: r.status, error_type: r.type, reason: r.reason };
      this.#log.error(fields, 'document rejected; sending it to the dead-letter store');
    }
    const now = new Date().toISOString();
    const letters = rejected.map(({ item, status, type, reason }) =>
      deadLetterDocument({ id: item.id, index: item.index, source: item.source, status, type, reason }, now),
    );
    let pending = letters.map((_, i) => i);
    const toFile: number[] = [];
    for (let attempt = 0; pending.length > 0 && attempt < DEADLETTER_ATTEMPTS; attempt++) {
      if (attempt > 0) await sleep(backoffDelay(attempt, this.#o.retryBaseMs, this.#o.retryMaxMs), this.#abort.signal);
      if (this.#abort.signal.aborted) return; // the units already failed
      try {
        const batch = pending.map((i) => letters[i]!);
        const request = batch.flatMap((l) => [createAction(l._index, l._id), JSON.stringify(l._source)]);
        const results = await this.#transport.bulk(request, this.#abort.signal);
        if (results.length !== batch.length) {
          throw new BulkRequestError(this.#mismatch(batch.length, results.length), { malformed: true });
        }
        const again: number[] = [];
        for (const [k, r] of results.entries()) {
          const verdict = classifyItem(r.status, r.type);
          if (verdict === 'written' || verdict === 'duplicate') continue;
          (verdict === 'retry' || verdict === 'blocked' ? again : toFile).push(pending[k]!);
        }
        pending = again;
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        const verdict = classifyRequest(err instanceof BulkRequestError ? err.failure : {});
        if (verdict === 'malformed') {
          this.#log.warn({ documents: pending.length }, `dead-letter stream: ${describe(err)}; resending`);
        } else if (verdict !== 'retry' && verdict !== 'blocked') {
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
    const inFile = new Set(toFile.map((i) => rejected[i]!.item));
    for (const [i, r] of rejected.entries()) {
      const to = inFile.has(r.item) ? this.#o.deadLetterFile : letters[i]!._index;
      const { id, index, source } = r.item;
      this.#ack(r.item, 'deadLettered', { id, index, source, status: r.status, reason: r.reason, to });
    }
  }

  #mismatch(sent: number, answered: number): string {
    return `${this.#name} answered a bulk request of ${sent} documents with ${answered} item results`;
  }

  #authError(status: number, index: string, type: string): SinkError {
    if (status === 401) return new SinkError('auth', `${this.#name} rejected the credentials (401)`);
    return new SinkError('auth', `${this.#name} denied writing to ${index} (403 ${type}): ${PRIVILEGE_HINT}`);
  }

  #requestError(err: unknown, status: number | undefined, verdict: 'auth' | 'reject'): SinkError {
    if (verdict === 'auth') {
      const message =
        status === 401
          ? `${this.#name} rejected the credentials (401)`
          : `${this.#name} denied the bulk request (403): ${PRIVILEGE_HINT}`;
      return new SinkError('auth', message, { cause: err });
    }
    return new SinkError('rejected', `${this.#name} refused the bulk request: ${describe(err)}`, { cause: err });
  }

  #unexpected(err: unknown): SinkError {
    if (err instanceof SinkError) return err;
    const text = describe(err).split('\n')[0];
    return new SinkError('rejected', `the ${this.#name} output failed: ${text}`, { cause: err });
  }
}

function lines(items: readonly Item[]): string[] {
  const out: string[] = [];
  for (const item of items) out.push(item.action, item.source);
  return out;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
