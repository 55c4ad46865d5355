import type { IndexDocument } from '../ecs/map.js';
import { ForwarderError } from '../shared/errors.js';

/** What became of the documents of one unit of work (a log file). */
export interface UnitSummary {
  /** Newly stored. */
  readonly written: number;
  /** Already stored under the same id (a re-run, or a file collected before): success, not an error. */
  readonly duplicates: number;
  /** Rejected by the output (e.g. a mapping error) and kept in the dead-letter store. */
  readonly deadLettered: number;
  /** The first MAX_DEAD_LETTERS_KEPT of them: what was refused, why, and where it went (custody digests). */
  readonly deadLetters: readonly DeadLetter[];
}

export interface DeadLetter {
  readonly id: string;
  readonly index: string;
  /** The document as sent (JSON). */
  readonly source: string;
  readonly status: number;
  readonly reason: string;
  /** Where the document is kept: the dead-letter data stream's name or the dead-letter file's path. */
  readonly to: string;
}

export const MAX_DEAD_LETTERS_KEPT = 1000;

export interface SinkStats {
  written: number;
  duplicates: number;
  deadLettered: number;
  retries: number;
  requests: number;
  /** Documents accepted by write() and not yet acknowledged. */
  queued: number;
  /** Since when (epoch ms) requests have been failing or retried without any document stored; null when fine. */
  failingSince: number | null;
}

/** The stats of an output that has done nothing yet. */
export function emptySinkStats(): SinkStats {
  return { written: 0, duplicates: 0, deadLettered: 0, retries: 0, requests: 0, queued: 0, failingSince: null };
}

/**
 * A batch of documents acknowledged together. `end()` resolves only when every document written through
 * the unit is durably handled (stored, a duplicate, or dead-lettered): the moment the collector may
 * checkpoint the file. It rejects if the output gave up (closed, aborted, refused the credentials, could not
 * store a rejected document in the dead-letter file, or kept answering malformed bulk responses).
 */
export interface SinkUnit {
  /** Resolves when the document is accepted; waits while the output is saturated (backpressure). */
  write(doc: IndexDocument): Promise<void>;
  end(): Promise<UnitSummary>;
}

/** How a unit's documents travel. */
export interface UnitOptions {
  /**
   * Sent at end() in a request of their own, without waiting behind the bulk data for a request slot: for a
   * few small documents that something waits on (a custody digest, which its file's checkpoint waits for).
   */
  readonly immediate?: boolean;
}

export interface Sink {
  readonly stats: Readonly<SinkStats>;
  open(unitId: string, options?: UnitOptions): SinkUnit;
  /** Sends what is buffered and waits for every request in flight. */
  flush(): Promise<void>;
  /** Flushes, then releases resources. Idempotent. */
  close(): Promise<void>;
  /** Stops at once: pending units reject; nothing buffered is sent. */
  abort(reason?: string): void;
}

export class SinkError extends ForwarderError {
  override readonly name = 'SinkError';
  /** An output stopped before the acknowledgement: the unit is sent again next time. */
  readonly transient: boolean;
  constructor(
    readonly code: 'aborted' | 'auth' | 'rejected' | 'io',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.transient = code === 'aborted';
  }
}

/** Bookkeeping for one unit, shared by the sink implementations. */
export class UnitTracker {
  outstanding = 0;
  ended = false;
  written = 0;
  duplicates = 0;
  deadLettered = 0;
  readonly deadLetters: DeadLetter[] = [];
  readonly done: Promise<UnitSummary>;
  #resolve!: (s: UnitSummary) => void;
  #reject!: (e: Error) => void;
  #settled = false;
  #failed = false;

  constructor(readonly id: string) {
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => undefined); // observed through end(); never an unhandled rejection
  }

  ack(result: 'written' | 'duplicate' | 'deadLettered', letter?: DeadLetter): void {
    if (result === 'written') this.written++;
    else if (result === 'duplicate') this.duplicates++;
    else this.deadLettered++;
    if (letter && this.deadLetters.length < MAX_DEAD_LETTERS_KEPT) this.deadLetters.push(letter);
    this.outstanding--;
    this.settleIfDone();
  }

  settleIfDone(): void {
    if (this.ended && this.outstanding === 0 && !this.#settled) {
      this.#settled = true;
      const { written, duplicates, deadLettered, deadLetters } = this;
      this.#resolve({ written, duplicates, deadLettered, deadLetters });
    }
  }

  /** The output gave up on this unit: its remaining documents need not be sent. */
  get failed(): boolean {
    return this.#failed;
  }

  fail(error: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#failed = true;
    this.#reject(error);
  }
}
