import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { DeviceConfig } from '../config/schema.js';
import type { DeviceClient, DeviceDescription, LogListing } from '../device/client.js';
import { DeviceError } from '../device/errors.js';
import {
  type Alert,
  type DeviceStatus,
  type FetchedFile,
  type IntegrityContext,
  alertDocument,
  statusDocument,
} from '../ecs/integrity.js';
import type { DeviceContext, IndexDocument } from '../ecs/map.js';
import { parseLogBatches } from '../logfile/parse.js';
import type { ParsedRecord } from '../logfile/types.js';
import { type FileVerdict, LogVerifier, type ProblemKind } from '../logfile/verify.js';
import type { Metrics } from '../observability/metrics.js';
import { HaltedError, errorCode } from '../shared/errors.js';
import type { Sink, UnitSummary } from '../sinks/sink.js';
import { Checkpoint, chainHead, collectingSince } from '../state/checkpoint.js';
import { type DeviceState, type FileRecord, MAX_SEGMENTS_KEPT, type StateStore } from '../state/store.js';
import { type FileDecision, decideFile } from './file-policy.js';
import { HashingTap } from '../shared/hashing-tap.js';
import { CustodyTrail } from '../custody/trail.js';
import { type ChainContext, type CustodyOptions, writeFileDigest } from './custody-digest.js';
import { InOrder } from './in-order.js';
import type { Limiter } from '../shared/limiter.js';
import { type IngestOptions, writeFileTail, writeRecords } from './ingest-file.js';
import { decideLoggerKey, haltStands } from './key-policy.js';

export interface DeviceCollectorOptions {
  readonly config: DeviceConfig;
  readonly client: DeviceClient;
  readonly sink: Sink;
  readonly store: StateStore;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Names the output the sink writes to: checkpoints belong to it (see FileRecord.outputs). */
  readonly outputId: string;
  /** Chain of custody: a signed digest per ingested file (off when absent). */
  readonly custody?: CustodyOptions;
  /**
   * With several instances: resolves while this instance still holds the device's lease, throws when it lost
   * it. Checked before each custody digest, which no conditional write protects (the checkpoint is one).
   */
  readonly fence?: () => Promise<void>;
  /**
   * Shared by every device of the process: how many files stream from devices into the output at once. Each
   * streaming file holds a chunk of mapped documents while the output makes it wait; a hundred devices at once
   * would hold a hundred, while two bulk requests in flight already keep the cluster busy.
   */
  readonly streams?: Limiter;
  /** The forwarder instance, named in the status documents. */
  readonly instance?: string;
  /** Called after each file is checkpointed (progress display). */
  readonly onFile?: (device: string, done: number, total: number) => void;
}

/** What one collection cycle did for one device. */
export interface CycleResult {
  readonly device: string;
  readonly ok: boolean;
  readonly halted: boolean;
  filesIngested: number;
  filesInvalid: number;
  /** Listed files not ingested this cycle for a reason raised as an alert (empty, 404, too large, odd id). */
  filesSkipped: number;
  records: number;
  verified: number;
  readonly problems: Partial<Record<ProblemKind, number>>;
  alerts: number;
  written: number;
  duplicates: number;
  deadLettered: number;
  /** The current boot's file, locked by the device (406): collected after the next reboot. */
  locked: string | null;
  /** Files ingested into this output by earlier runs. */
  earlier: number;
  /** Stopped (shutdown or deadline) before every pending file was collected. */
  interrupted: boolean;
  error?: Error;
}

/** A cycle that has done nothing yet (also what a device stopped before its cycle ended reports). */
export function emptyCycleResult(device: string): CycleResult {
  return {
    device,
    ok: false,
    halted: false,
    filesIngested: 0,
    filesInvalid: 0,
    filesSkipped: 0,
    records: 0,
    verified: 0,
    problems: {},
    alerts: 0,
    written: 0,
    duplicates: 0,
    deadLettered: 0,
    locked: null,
    earlier: 0,
    interrupted: false,
  };
}

/** Whether a cycle is running and when it last moved forward (for /healthz). */
export interface CollectorActivity {
  readonly cycleStartedAt: number | null;
  readonly progressAt: number;
}

/**
 * One device's collection cycle (identity → login → logger key check → list → for every file this output
 * has not acknowledged: stream it from the device through hashing, parsing, verifying and mapping into the
 * output, and checkpoint only after the output acknowledged every document of the file). Integrity
 * problems never stop the data: events are indexed with their verification status, and each problem also
 * becomes an alert.
 */
export class DeviceCollector {
  readonly name: string;
  readonly #o: DeviceCollectorOptions;
  #cycleStartedAt: number | null = null;
  #progressAt = Date.now();
  // What the status stream reports, carried from cycle to cycle.
  readonly #seen: { state?: Readonly<DeviceState>; description?: DeviceDescription } = {};
  #failures = 0;
  #lastSuccess: Date | null = null;
  #currentFile: { id: string; since: Date | null } | null = null;
  #statusKey = '';
  #statusAt = 0;

  constructor(options: DeviceCollectorOptions) {
    this.#o = options;
    this.name = options.config.name;
  }

  get activity(): CollectorActivity {
    return { cycleStartedAt: this.#cycleStartedAt, progressAt: this.#progressAt };
  }

  #progress(): void {
    this.#progressAt = Date.now();
  }

  async cycle(signal?: AbortSignal): Promise<CycleResult> {
    this.#cycleStartedAt = Date.now();
    this.#progress();
    try {
      const result = await this.#collect(signal);
      if (result.interrupted) return result;
      const status = await this.#reportStatus(result);
      // The status document is a document like the others: the summary counts it.
      return status
        ? { ...result, written: result.written + status.written, duplicates: result.duplicates + status.duplicates }
        : result;
    } finally {
      this.#cycleStartedAt = null;
    }
  }

  async #collect(signal?: AbortSignal): Promise<CycleResult> {
    // The cycle owns its tally; the steps below return what they did and never touch it.
    const result = emptyCycleResult(this.name);
    const { log, metrics, config } = this.#o;
    try {
      const { checkpoint, recovered } = await Checkpoint.load(this.#o.store, this.name);
      if (recovered) result.alerts += await this.#reportCorruptState(recovered);
      const state = checkpoint.state;
      this.#seen.state = state;
      if (haltStands(state, config.logger_key ?? null)) return this.#halted(result, state);
      const description = await this.#o.client.describe();
      this.#seen.description = description;
      this.#progress();
      if (state.serial !== null && state.serial !== description.serial) {
        log.warn(
          { previous: state.serial, serial: description.serial },
          'the device at this address has a different serial than before',
        );
      }
      if (state.serial !== description.serial) checkpoint.stage({ kind: 'serial', serial: description.serial });
      const device: DeviceContext = {
        serial: description.serial,
        hostname: description.hostname,
        product: description.product,
        name: this.name,
        tags: config.tags,
      };
      const keys = await this.#checkLoggerKey(checkpoint, description, device);
      result.alerts += keys.alerts;
      if (keys.verifyWith === null) return this.#halted(result, state);
      metrics.halted.set({ device: this.name }, 0);

      const listing = await this.#o.client.listLogFiles();
      this.#progress();
      result.alerts += await this.#noticeListing(listing, device);
      result.filesSkipped += listing.rejected.length;
      const decisions = this.#decide(state, listing.ids);
      const vanished = [...state.files.values()].filter((f) => decisions.get(f.id) === 'vanished');
      if (vanished.length > 0) {
        result.alerts += await this.#reportVanished(vanished, device);
        await checkpoint.commit(...vanished.map((f) => ({ kind: 'file_vanished' as const, id: f.id })));
      }
      const pending = listing.ids.filter((id) => decisions.get(id) === 'collect');
      this.#noticeOtherOutputs(state, pending);
      result.earlier = listing.ids.length - pending.length;
      let done = 0;
      const finish = (outcome: FileOutcome) => {
        tally(result, outcome, metrics);
        this.#progress();
        this.#o.onFile?.(this.name, ++done, pending.length);
      };
      // Files overlap: the next one is read and mapped while the previous ones wait for their acknowledgements,
      // digests and checkpoints, which follow one another in listing order.
      const completions = new InOrder(FILES_IN_FLIGHT);
      const verifyWith = keys.verifyWith;
      try {
        for (const id of pending) {
          if (signal?.aborted || completions.failed) break;
          // With several instances: a file is begun only on a lease that holds for a while yet (a starved
          // process may have missed its renewals; another instance may be about to take the device).
          if (!(await this.#leaseHolds())) {
            result.interrupted = true;
            break;
          }
          const send = () => this.#sendFile(checkpoint, id, verifyWith, device);
          const sent = await (this.#o.streams ? this.#o.streams.run(send) : send());
          if (sent.kind === 'sent')
            await completions.add(async () => finish(await this.#completeFile(checkpoint, sent)));
          else await completions.add(async () => finish(sent)); // outcomes in order: an earlier file's first
        }
      } finally {
        // Sent files are completed even when a later one failed: their documents are in the output already.
        await completions.idle();
      }
      await completions.settle();
      for (const [id, decision] of decisions) {
        if (signal?.aborted) break;
        if (decision !== 'recheck') continue;
        const outcome = await this.#recheck(checkpoint, state.files.get(id)!, keys.verifyWith, device);
        if (outcome.kind === 'locked') result.locked = id;
        result.alerts += outcome.alerts;
        result.filesSkipped += outcome.kind === 'skipped' ? 1 : 0;
        this.#progress();
      }
      const waiting = pending.filter(
        (id) => !state.files.get(id)?.outputs.includes(this.#o.outputId) && id !== result.locked,
      );
      const oldest = waiting.length === 0 ? null : bootTime(waiting[0]!);
      metrics.lag.set({ device: this.name }, oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0);
      await checkpoint.flush();
      result.interrupted ||= signal?.aborted ?? false;
      if (!result.interrupted) metrics.lastSuccess.set({ device: this.name }, Date.now() / 1000);
      return { ...result, ok: !result.interrupted };
    } catch (err) {
      metrics.errors.inc({ device: this.name, code: errorCode(err) });
      return { ...result, error: err as Error, interrupted: signal?.aborted ?? false };
    }
  }

  /** Whether this instance may go on with the device (always, without several instances). */
  async #leaseHolds(): Promise<boolean> {
    if (!this.#o.fence) return true;
    try {
      await this.#o.fence();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The device status stream: a document whenever the status changes, and at least every status_interval,
   * so an inventory and the rules (trail unreleased for days, unreachable, halted) always have a recent one.
   */
  async #reportStatus(result: CycleResult): Promise<UnitSummary | null> {
    const { config, metrics } = this.#o;
    const now = new Date();
    const failing = result.error !== undefined && !result.halted;
    this.#failures = failing ? this.#failures + 1 : result.halted ? this.#failures : 0;
    if (result.ok) this.#lastSuccess = now;
    if (result.ok)
      this.#currentFile = result.locked === null ? null : { id: result.locked, since: bootTime(result.locked) };
    const state = this.#seen.state;
    const ingested = state
      ? [...state.files.values()].filter((f) => f.outputs.includes(this.#o.outputId)).map((f) => f.id)
      : [];
    const lastIngested = ingested.reduce<string | null>((max, id) => (max === null || id > max ? id : max), null);
    const trusted = state?.loggerKey.trusted ?? null;
    const status: DeviceStatus = {
      state: result.halted ? 'halted' : failing ? 'failing' : 'ok',
      firmware: this.#seen.description?.firmware ?? null,
      consecutiveFailures: this.#failures,
      lastError: failing ? errorCode(result.error) : null,
      lastSuccess: this.#lastSuccess,
      lastFileIngested: lastIngested,
      currentFile: this.#currentFile,
      loggerKey: trusted === null ? null : { fingerprint: keyFingerprint(trusted), source: state!.loggerKey.source },
      instance: this.#o.instance ?? null,
    };
    const since = this.#currentFile?.since;
    metrics.unreleased.set({ device: this.name }, since ? Math.max(0, (now.getTime() - since.getTime()) / 1000) : 0);
    const key = JSON.stringify({ ...status, lastSuccess: null });
    if (key === this.#statusKey && now.getTime() - this.#statusAt < config.status_interval) return null;
    const d = this.#seen.description;
    const device: DeviceContext = {
      serial: d?.serial ?? state?.serial ?? null,
      hostname: d?.hostname ?? null,
      product: d?.product ?? null,
      name: this.name,
      tags: config.tags,
    };
    try {
      const unit = this.#o.sink.open(`${this.name}/status`);
      await unit.write(statusDocument({ device, namespace: config.namespace, now }, status));
      const written = await unit.end();
      this.#statusKey = key;
      this.#statusAt = now.getTime();
      return written;
    } catch (err) {
      // The output is down: the next cycle tries again; collection itself is unaffected.
      this.#o.log.warn({ err: (err as Error).message }, 'could not write the device status document');
      return null;
    }
  }

  #decide(state: Readonly<DeviceState>, listed: string[]): Map<string, FileDecision> {
    const present = new Set(listed);
    const o = { outputId: this.#o.outputId, now: Date.now(), recheckIntervalMs: this.#o.config.recheck_interval };
    const decisions = new Map<string, FileDecision>();
    for (const id of new Set([...listed, ...state.files.keys()]))
      decisions.set(id, decideFile(state.files.get(id), present.has(id), o));
    return decisions;
  }

  #halted(result: CycleResult, state: Readonly<DeviceState>): CycleResult {
    this.#o.metrics.halted.set({ device: this.name }, 1);
    const since = state.halted?.since ?? '?';
    const why =
      `halted since ${since}: ${state.halted?.reason ?? ''}; run hem-forwarder state ` +
      `accept-key ${this.name} after checking the device`;
    return { ...result, halted: true, error: new HaltedError(this.name, why) };
  }

  async #reportCorruptState(movedTo: string): Promise<number> {
    this.#o.log.error(
      { moved_to: movedTo },
      'the state file was corrupt; it was moved aside and collection starts over (document ids prevent duplicates)',
    );
    const alert: Alert = {
      kind: 'state_corrupt',
      message: `${this.name}: the checkpoint file was unreadable and was moved to ${movedTo}`,
      discriminator: movedTo,
    };
    return this.#emitAlerts([alert], { serial: null, name: this.name, tags: this.#o.config.tags });
  }

  /** Decides which keys to trust (a pure policy) and commits the decision when it changed anything. */
  async #checkLoggerKey(
    checkpoint: Checkpoint,
    description: DeviceDescription,
    device: DeviceContext,
  ): Promise<{ verifyWith: Buffer[] | null; alerts: number }> {
    const { config, log } = this.#o;
    const answer = await this.#o.client.loggerKey();
    this.#progress();
    const deviceKey = answer.key.toString('base64');
    const alerts: Alert[] = [];
    if (!answer.nonceSignatureValid)
      alerts.push({
        kind: 'nonce_signature_invalid',
        message: `${this.name}: /api/logger/key returned a nonce_signed that does not verify under its key`,
        discriminator: deviceKey,
      });
    if (description.loggerKey && !description.loggerKey.equals(answer.key)) {
      alerts.push({
        kind: 'logger_key_mismatch',
        message: `${this.name}: /api/logger/key and eid_sign in /api/system/config disagree`,
        currentKey: deviceKey,
        previousKey: description.loggerKey.toString('base64'),
        discriminator: deviceKey,
      });
    }
    const decision = decideLoggerKey({
      device: this.name,
      pinned: config.logger_key ?? null,
      onKeyChange: config.on_key_change,
      state: checkpoint.state,
      deviceKey,
      now: new Date().toISOString(),
    });
    if (decision.firstUse)
      log.warn(
        { logger_key: deviceKey },
        'trusting the device logger key on first use; pin it with logger_key to be sure',
      );
    if (decision.unpinned) {
      const message =
        `${this.name}: the logger key ${decision.unpinned} trusted on first use is replaced ` +
        `by the pinned logger_key ${config.logger_key}; files signed by it no longer verify`;
      alerts.push({
        kind: 'logger_key_unpinned',
        message,
        previousKey: decision.unpinned,
        currentKey: config.logger_key!,
        discriminator: decision.unpinned,
      });
    }
    const change = decision.keyChanged;
    if (change) {
      const message = change.halted
        ? decision.next.halted!.reason
        : `${this.name}: the logger key changed from ${change.previous} to ${change.current} ` +
          `(a wipe or re-initialisation, or a different device)`;
      alerts.push({
        kind: 'logger_key_changed',
        message,
        previousKey: change.previous,
        currentKey: change.current,
        discriminator: change.current,
      });
      if (change.halted) log.error({ previous: change.previous, current: change.current }, message);
      else log.warn({ previous: change.previous, current: change.current }, message);
    }
    const raised = alerts.length > 0 ? await this.#emitAlerts(alerts, device) : 0;
    // A new trusted key or a halt is saved at once.
    if (decision.changed) await checkpoint.commit({ kind: 'logger_key', next: decision.next });
    return { verifyWith: decision.verifyWith?.map((k) => Buffer.from(k, 'base64')) ?? null, alerts: raised };
  }

  async #noticeListing(listing: LogListing, device: DeviceContext): Promise<number> {
    const alerts: Alert[] = listing.rejected.map((id) => ({
      kind: 'file_id_invalid',
      discriminator: id,
      message:
        `${this.name}: the device listed a log file id with characters no log file has: ` +
        `${JSON.stringify(id)}; it is never requested`,
    }));
    if (listing.truncated) {
      const max = this.#o.config.max_files;
      alerts.push({
        kind: 'listing_truncated',
        discriminator: String(max),
        message:
          `${this.name}: the device lists more than ${max} log files (max_files); only the ` +
          `first ${max} are collected`,
      });
    }
    return alerts.length > 0 ? this.#emitAlerts(alerts, device) : 0;
  }

  #reportVanished(vanished: FileRecord[], device: DeviceContext): Promise<number> {
    return this.#emitAlerts(
      vanished.map((f) => ({
        kind: 'file_vanished' as const,
        fileId: f.id,
        file: { id: f.id, sha256: f.sha256, size: f.size },
        discriminator: f.sha256,
        message:
          `${this.name}: audit log file ${f.id} (${f.records} records, ingested ` +
          `${f.ingestedAt}) is no longer listed by the device`,
      })),
      device,
    );
  }

  /** Files checkpointed for another output are collected again for this one: say so once. */
  #noticeOtherOutputs(state: Readonly<DeviceState>, pending: string[]): void {
    const elsewhere = pending.map((id) => state.files.get(id)).filter((f): f is FileRecord => f !== undefined);
    if (elsewhere.length === 0) return;
    const before = [...new Set(elsewhere.flatMap((f) => f.outputs))];
    const where = before.length > 0 ? `into ${before.join(', ')}` : 'by a version that did not record its output';
    this.#o.log.info(
      { files: elsewhere.length, previous_outputs: before, output: this.#o.outputId },
      `${elsewhere.length} file(s) were ingested ${where}, not into this output; ` +
        `collecting them again for ${this.#o.outputId} (document ids absorb duplicates)`,
    );
  }

  /**
   * Streams one file from the device into the output, up to its last document, without waiting for the
   * acknowledgement (completeFile does): the next file is read while this one's documents are in flight. A
   * file with no records is never checkpointed (alerted, fetched again next cycle).
   */
  async #sendFile(
    checkpoint: Checkpoint,
    id: string,
    trustedKeys: Buffer[],
    device: DeviceContext,
  ): Promise<FileOutcome | SentFile> {
    const trail = this.#o.custody ? new CustodyTrail() : undefined;
    let options: IngestOptions | undefined;
    let now = new Date();
    const unit = this.#o.sink.open(`${this.name}/${id}`);
    let fetched: { verdict: FileVerdict; file: FetchedFile };
    try {
      fetched = await this.#o.client.streamLogFile(id, async (body) => {
        now = await this.#collectionTime(checkpoint, id);
        const context = { device, fileId: id, namespace: this.#o.config.namespace, created: now, isSelfGenerated };
        options = { loggerKey: trustedKeys, deviceName: this.name, context };
        const tap = new HashingTap(id);
        const verdict = await writeRecords(unit, tap.through(body), options, trail);
        return { verdict, file: tap.file() };
      });
    } catch (err) {
      void unit.end().catch(() => undefined); // what was sent stays; document ids absorb the resend
      const skipped = await this.#skipped(err, id, device);
      if (skipped) return skipped;
      throw err;
    }
    const { verdict, file } = fetched;
    if (verdict.lines.total === 0 || options === undefined) {
      void unit.end().catch(() => undefined);
      const message =
        `${this.name}: audit log file ${id} answered with no records (${file.size} bytes); ` +
        `not checkpointed, fetched again next cycle`;
      return {
        kind: 'skipped',
        alerts: await this.#emitAlerts(
          [{ kind: 'file_empty', fileId: id, file, discriminator: file.sha256, message }],
          device,
        ),
      };
    }
    const alerts = await writeFileTail(unit, options, file, verdict, trail);
    // Ended now, not when its turn to complete comes: its documents go out with the next free request slot, so
    // while earlier files wait for their acknowledgements every slot stays busy. Awaited in #completeFile.
    const acknowledged = unit.end();
    acknowledged.catch(() => undefined); // observed in #completeFile; never an unhandled rejection meanwhile
    return { kind: 'sent', id, acknowledged, verdict, file, trail, trustedKeys, now, alerts, device };
  }

  /**
   * Waits for the output to acknowledge every document of a sent file, writes its custody digest, and only
   * then checkpoints it. Called in the order the files were sent, so checkpoints (and the chain) keep it.
   */
  async #completeFile(checkpoint: Checkpoint, sent: SentFile): Promise<FileOutcome> {
    const { id, verdict, file, trail, now, alerts } = sent;
    const acknowledged = await sent.acknowledged;
    const custody = this.#o.custody;
    // A lease lost meanwhile: the new holder collects this file again; a digest written here would fork the chain.
    await this.#o.fence?.();
    // The documents are acknowledged; the digest that commits to them is written before the checkpoint.
    const digest =
      custody && trail
        ? await writeFileDigest(this.#chainContext(custody, checkpoint, sent.device), {
            fileId: id,
            file,
            verdict,
            loggerKeys: sent.trustedKeys,
            collectedAt: now.toISOString(),
            trail,
            summary: acknowledged,
          })
        : undefined;
    const summary = digest ? addSummaries(acknowledged, digest.stored) : acknowledged;
    const iso = now.toISOString();
    const previous = checkpoint.state.files.get(id);
    const record: FileRecord = {
      id,
      size: file.size,
      sha256: file.sha256,
      records: verdict.lines.total,
      verified: verdict.lines.verified,
      lastSeq: verdict.lastSeq,
      segments: verdict.segments.slice(0, MAX_SEGMENTS_KEPT).map((s) => s.keyFingerprint),
      segmentCount: verdict.segmentCount,
      valid: verdict.valid,
      problems: Object.fromEntries(Object.entries(verdict.problemCounts).filter(([, n]) => n > 0)),
      status: 'ingested',
      ingestedAt: iso,
      checkedAt: iso,
      outputs: [
        ...new Set([...(previous && previous.sha256 === file.sha256 ? previous.outputs : []), this.#o.outputId]),
      ],
    };
    await checkpoint.commit({ kind: 'file_ingested', record, ...(digest ? { chain: digest.head } : {}) });
    const fields = {
      file: id,
      records: verdict.lines.total,
      verified: verdict.lines.verified,
      written: summary.written,
      duplicates: summary.duplicates,
      dead_lettered: summary.deadLettered,
    };
    if (verdict.valid) this.#o.log.info(fields, 'file ingested');
    else
      this.#o.log.warn(
        { ...fields, problems: record.problems },
        'file ingested with verification problems; every event is flagged and alerts were raised',
      );
    return { kind: 'ingested', verdict, summary, alerts };
  }

  /**
   * When the file's collection began: now, remembered in the state before the first document is sent (with
   * custody on), or the time an interrupted collection of the same file began. The documents' event.created
   * is this time, so a retried collection resends identical documents and its digest matches what is stored.
   */
  async #collectionTime(checkpoint: Checkpoint, id: string): Promise<Date> {
    if (!this.#o.custody) return new Date();
    const since = collectingSince(checkpoint.state, id);
    if (since !== null) return new Date(since);
    const now = new Date();
    await checkpoint.commit({ kind: 'file_collecting', id, at: now.toISOString() });
    return now;
  }

  #chainContext(custody: CustodyOptions, checkpoint: Checkpoint, device: DeviceContext): ChainContext {
    return {
      custody,
      sink: this.#o.sink,
      outputId: this.#o.outputId,
      deviceName: this.name,
      device,
      namespace: this.#o.config.namespace,
      head: chainHead(checkpoint.state, this.#o.outputId),
    };
  }

  /**
   * A file that cannot be had this cycle is skipped, not a failed cycle: the current boot's (406, after
   * the next reboot), and, with an alert, a listed file that answers 404 or is larger than max_file_bytes.
   */
  async #skipped(err: unknown, id: string, device: DeviceContext): Promise<FileOutcome | null> {
    if (!(err instanceof DeviceError)) return null;
    if (err.code === 'locked') {
      this.#o.log.debug({ file: id }, 'file locked by the device (current boot); next cycle');
      return { kind: 'locked', id };
    }
    if (err.code !== 'not_found' && err.code !== 'too_large') return null;
    const kind = err.code === 'not_found' ? 'file_unreadable' : 'file_too_large';
    const alert: Alert = {
      kind,
      fileId: id,
      discriminator: err.code,
      message: `${err.message}; file ${id} skipped, tried again next cycle`,
    };
    return { kind: 'skipped', alerts: await this.#emitAlerts([alert], device) };
  }

  /** Fetches an ingested file again (`recheck_interval`): changed bytes are an alert, never a re-ingest. */
  async #recheck(
    checkpoint: Checkpoint,
    record: FileRecord,
    trustedKeys: Buffer[],
    device: DeviceContext,
  ): Promise<{ kind: 'checked' | 'locked' | 'skipped'; alerts: number }> {
    let seen: { file: FetchedFile; verdict: FileVerdict };
    try {
      seen = await this.#o.client.streamLogFile(record.id, async (body) => {
        const tap = new HashingTap(record.id);
        const verdict = await verdictOf(tap.through(body), trustedKeys);
        return { file: tap.file(), verdict };
      });
    } catch (err) {
      const skipped = await this.#skipped(err, record.id, device);
      if (skipped === null) throw err;
      return skipped.kind === 'skipped' ? { kind: 'skipped', alerts: skipped.alerts } : { kind: 'locked', alerts: 0 };
    }
    const { file, verdict } = seen;
    const at = new Date().toISOString();
    if (file.sha256 === record.sha256 || file.sha256 === record.changedSha256) {
      checkpoint.stage({ kind: 'file_checked', id: record.id, at });
      return { kind: 'checked', alerts: 0 };
    }
    const how =
      file.size < record.size
        ? `shorter by ${record.size - file.size} bytes`
        : file.size > record.size
          ? `longer by ${file.size - record.size} bytes`
          : 'same size, different content';
    const alerts = await this.#emitAlerts(
      [
        {
          kind: 'file_changed',
          fileId: record.id,
          file,
          previousSha256: record.sha256,
          currentSha256: file.sha256,
          discriminator: file.sha256,
          message:
            `${this.name}: audit log file ${record.id} changed after it was ingested (${how}; ` +
            `now ${verdict.lines.total} records, ${verdict.lines.verified} verified, was ` +
            `${record.records}); it is not ingested again`,
        },
      ],
      device,
    );
    await checkpoint.commit({ kind: 'file_checked', id: record.id, at, changedSha256: file.sha256 });
    return { kind: 'checked', alerts };
  }

  /** Writes the alerts as one acknowledged unit; returns how many were raised. */
  async #emitAlerts(alerts: Alert[], device: DeviceContext): Promise<number> {
    const ctx: IntegrityContext = { device, namespace: this.#o.config.namespace, now: new Date() };
    const unit = this.#o.sink.open(`${this.name}/alerts`);
    for (const alert of alerts) {
      this.#o.log.error({ alert: alert.kind, file: alert.fileId }, alert.message);
      this.#o.metrics.alerts.inc({ device: this.name, kind: alert.kind });
      await unit.write(alertDocument(ctx, alert) as IndexDocument);
    }
    await unit.end();
    return alerts.length;
  }
}

/** What collecting one file came to. */
/**
 * Files whose documents may be unacknowledged at once, beyond the one being read: enough to keep every
 * bulk request slot busy across file boundaries; memory is bounded by the sink's buffer, not by this.
 */
const FILES_IN_FLIGHT = 2;

/** A file whose documents are all handed to the output, waiting for their acknowledgement. */
interface SentFile {
  readonly kind: 'sent';
  readonly id: string;
  /** The unit's end: resolves once the output acknowledged every document of the file. */
  readonly acknowledged: Promise<UnitSummary>;
  readonly verdict: FileVerdict;
  readonly file: FetchedFile;
  readonly trail: CustodyTrail | undefined;
  readonly trustedKeys: Buffer[];
  readonly now: Date;
  readonly alerts: number;
  readonly device: DeviceContext;
}

type FileOutcome =
  | { readonly kind: 'ingested'; readonly verdict: FileVerdict; readonly summary: UnitSummary; readonly alerts: number }
  | { readonly kind: 'locked'; readonly id: string }
  | { readonly kind: 'skipped'; readonly alerts: number };

/** Adds one file's outcome to the cycle's tally and the metrics. */
function tally(result: CycleResult, outcome: FileOutcome, metrics: Metrics): void {
  if (outcome.kind === 'locked') {
    result.locked = outcome.id;
    return;
  }
  result.alerts += outcome.alerts;
  if (outcome.kind === 'skipped') {
    result.filesSkipped++;
    return;
  }
  const { verdict, summary } = outcome;
  const device = result.device;
  result.filesIngested++;
  if (!verdict.valid) result.filesInvalid++;
  result.records += verdict.lines.total;
  result.verified += verdict.lines.verified;
  result.written += summary.written;
  result.duplicates += summary.duplicates;
  result.deadLettered += summary.deadLettered;
  for (const [kind, n] of Object.entries(verdict.problemCounts)) {
    if (n === 0) continue;
    result.problems[kind as ProblemKind] = (result.problems[kind as ProblemKind] ?? 0) + n;
    metrics.problems.inc({ device, kind }, n);
    metrics.alerts.inc({ device, kind });
  }
  metrics.files.inc({ device });
  metrics.records.inc({ device }, verdict.lines.total);
}

/** When the boot that created a file began: its id is the power-up time in hex (unless the RTC was unset). */
function bootTime(fileId: string): Date | null {
  const seconds = Number.parseInt(fileId, 16);
  return /^[0-9a-f]{8}$/.test(fileId) && seconds >= 10_000 ? new Date(seconds * 1000) : null;
}

function keyFingerprint(base64Key: string): string {
  return createHash('sha256').update(Buffer.from(base64Key, 'base64')).digest('hex');
}

/**
 * Records caused by the forwarder's own polling: its logins as the User with scope logger:get, and
 * the list and read events. Tagged so dashboards can hide them.
 */
export function isSelfGenerated(r: ParsedRecord): boolean {
  if (r.subject !== 'U') return false;
  if (r.event === 9 || r.event === 11) return true;
  return r.event === 13 && Buffer.from(r.data, 'base64url').toString('latin1') === 'logger:get';
}

async function verdictOf(source: AsyncIterable<Buffer>, key: Buffer[]): Promise<FileVerdict> {
  const verifier = new LogVerifier(key);
  for await (const lines of parseLogBatches(source)) for (const line of lines) verifier.check(line);
  return verifier.verdict();
}

function addSummaries(a: UnitSummary, b: UnitSummary): UnitSummary {
  return {
    written: a.written + b.written,
    duplicates: a.duplicates + b.duplicates,
    deadLettered: a.deadLettered + b.deadLettered,
    deadLetters: [...a.deadLetters, ...b.deadLetters],
  };
}
