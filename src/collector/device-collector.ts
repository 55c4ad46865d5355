import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { DeviceConfig } from '../config/schema.js';
import type { DeviceClient, DeviceDescription } from '../device/client.js';
import { DeviceError } from '../device/errors.js';
import { type Alert, type FetchedFile, type IntegrityContext, alertDocument } from '../ecs/integrity.js';
import { ingestFile } from './ingest-file.js';
import type { DeviceContext, IndexDocument } from '../ecs/map.js';
import type { ParsedRecord } from '../logfile/types.js';
import { parseLogSync } from '../logfile/parse.js';
import { type FileVerdict, LogVerifier, type ProblemKind } from '../logfile/verify.js';
import type { Metrics } from '../observability/metrics.js';
import type { Sink, UnitSummary } from '../sinks/sink.js';
import type { DeviceState, StateStore } from '../state/store.js';

export interface DeviceCollectorOptions {
  readonly config: DeviceConfig;
  readonly client: DeviceClient;
  readonly sink: Sink;
  readonly store: StateStore;
  readonly log: Logger;
  readonly metrics: Metrics;
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
  records: number;
  verified: number;
  readonly problems: Partial<Record<ProblemKind, number>>;
  alerts: number;
  written: number;
  duplicates: number;
  deadLettered: number;
  /** The current boot's file, locked by the device (406): collected after the next reboot. */
  locked: string | null;
  /** Files ingested by earlier runs. */
  earlier: number;
  error?: Error;
}

/**
 * One device's collection cycle (DEVELOPERS: identity → login → logger key check → list → for every
 * file not yet ingested: fetch, hash, verify, map, send, and checkpoint only after the output
 * acknowledged every document of the file). Integrity problems never stop the data: events are indexed
 * with their verification status, and each problem also becomes an alert.
 */
export class DeviceCollector {
  readonly name: string;
  readonly #o: DeviceCollectorOptions;

  constructor(options: DeviceCollectorOptions) {
    this.#o = options;
    this.name = options.config.name;
  }

  async cycle(signal?: AbortSignal): Promise<CycleResult> {
    const result: CycleResult = { device: this.name, ok: false, halted: false, filesIngested: 0, filesInvalid: 0, records: 0, verified: 0, problems: {}, alerts: 0, written: 0, duplicates: 0, deadLettered: 0, locked: null, earlier: 0 };
    const { log, metrics, config } = this.#o;
    try {
      const state = await this.#loadState(result);
      if (state.halted) {
        metrics.halted.set({ device: this.name }, 1);
        return { ...result, halted: true, error: new Error(`halted since ${state.halted.since}: ${state.halted.reason}; run hem-forwarder state accept-key ${this.name} after checking the device`) };
      }
      const description = await this.#o.client.describe();
      if (state.serial !== null && state.serial !== description.serial) {
        log.warn({ previous: state.serial, serial: description.serial }, 'the device at this address has a different serial than before');
      }
      state.serial = description.serial;
      const device: DeviceContext = { serial: description.serial, hostname: description.hostname, product: description.product, name: this.name, tags: config.tags };
      const trustedKeys = await this.#checkLoggerKey(state, description, device, result);
      if (trustedKeys === null) {
        metrics.halted.set({ device: this.name }, 1);
        return { ...result, halted: true, error: new Error(`halted: ${(state.halted as DeviceState['halted'])?.reason}`) };
      }
      metrics.halted.set({ device: this.name }, 0);

      const listed = await this.#o.client.listLogFiles();
      await this.#noticeVanished(state, listed, device, result);
      const pending = listed.filter((id) => !state.files[id]);
      result.earlier = listed.length - pending.length;
      let done = 0;
      for (const id of pending) {
        if (signal?.aborted) break;
        const bytes = await this.#fetch(id, result);
        if (bytes === null) continue;
        await this.#ingest(state, id, bytes, trustedKeys, device, result);
        this.#o.onFile?.(this.name, ++done, pending.length);
      }
      await this.#recheck(state, listed, trustedKeys, device, result, signal);
      const waiting = pending.filter((id) => !state.files[id] && id !== result.locked);
      metrics.lag.set({ device: this.name }, waiting.length === 0 ? 0 : Math.max(0, Date.now() / 1000 - Number.parseInt(waiting[0]!, 16)));
      await this.#o.store.save(state);
      if (!signal?.aborted) metrics.lastSuccess.set({ device: this.name }, Date.now() / 1000);
      return { ...result, ok: !signal?.aborted };
    } catch (err) {
      metrics.errors.inc({ device: this.name, code: err instanceof DeviceError ? err.code : 'other' });
      return { ...result, error: err as Error };
    }
  }

  /** Read at every cycle, so `state accept-key` (or another instance sharing the store) takes effect. */
  async #loadState(result: CycleResult): Promise<DeviceState> {
    const { state, recovered } = await this.#o.store.load(this.name);
    if (recovered) {
      this.#o.log.error({ moved_to: recovered }, 'the state file was corrupt; it was moved aside and collection starts over (document ids prevent duplicates)');
      await this.#emitAlerts([{ kind: 'state_corrupt', message: `${this.name}: the checkpoint file was unreadable and was moved to ${recovered}`, discriminator: recovered }], { serial: null, name: this.name, tags: this.#o.config.tags }, result);
    }
    return state;
  }

  /** Returns the keys to verify with, or null when the device is halted on a key change. */
  async #checkLoggerKey(state: DeviceState, description: DeviceDescription, device: DeviceContext, result: CycleResult): Promise<Buffer[] | null> {
    const { config, log } = this.#o;
    const answer = await this.#o.client.loggerKey();
    const deviceKey = answer.key.toString('base64');
    const alerts: Alert[] = [];
    if (!answer.nonceSignatureValid) alerts.push({ kind: 'nonce_signature_invalid', message: `${this.name}: /api/logger/key returned a nonce_signed that does not verify under its key`, discriminator: deviceKey });
    if (description.loggerKey && !description.loggerKey.equals(answer.key)) {
      alerts.push({ kind: 'logger_key_mismatch', message: `${this.name}: /api/logger/key and eid_sign in /api/system/config disagree`, currentKey: deviceKey, previousKey: description.loggerKey.toString('base64'), discriminator: deviceKey });
    }
    const now = new Date().toISOString();
    const before = JSON.stringify([state.loggerKey, state.knownKeys, state.halted]);
    let trusted = state.loggerKey.source === 'accepted' ? state.loggerKey.trusted : (config.logger_key ?? state.loggerKey.trusted);
    if (trusted === null) {
      // trust_on_first_use (the schema requires it when no key is pinned)
      log.warn({ logger_key: deviceKey }, 'trusting the device logger key on first use; pin it with logger_key to be sure');
      state.loggerKey = { trusted: deviceKey, source: 'first_use', since: now };
      trusted = deviceKey;
    } else if (state.loggerKey.trusted === null) {
      state.loggerKey = { trusted, source: 'config', since: now };
    }
    if (!state.knownKeys.includes(trusted)) state.knownKeys.push(trusted);
    if (deviceKey !== trusted) {
      const halt = config.on_key_change === 'halt';
      const message = `${this.name}: the logger key changed from ${trusted} to ${deviceKey} (a wipe or re-initialisation, or a different device)${halt ? '; collection halted until hem-forwarder state accept-key' : ''}`;
      alerts.push({ kind: 'logger_key_changed', message, previousKey: trusted, currentKey: deviceKey, discriminator: deviceKey });
      if (halt) {
        state.halted = { reason: message, newKey: deviceKey, since: now };
        log.error({ previous: trusted, current: deviceKey }, message);
      } else {
        log.warn({ previous: trusted, current: deviceKey }, message);
        state.loggerKey = { trusted: deviceKey, source: 'accepted', since: now };
        if (!state.knownKeys.includes(deviceKey)) state.knownKeys.push(deviceKey);
        trusted = deviceKey;
      }
    }
    if (alerts.length > 0) await this.#emitAlerts(alerts, device, result);
    // A new trusted key or a halt is saved at once; anything else waits for the end of the cycle.
    if (JSON.stringify([state.loggerKey, state.knownKeys, state.halted]) !== before) await this.#o.store.save(state);
    if (state.halted) return null;
    // The trusted key first, then every earlier one: files written before a wipe still verify.
    return [trusted, ...state.knownKeys.filter((k) => k !== trusted)].map((k) => Buffer.from(k, 'base64'));
  }

  async #noticeVanished(state: DeviceState, listed: string[], device: DeviceContext, result: CycleResult): Promise<void> {
    const present = new Set(listed);
    const vanished = Object.values(state.files).filter((f) => f.status !== 'vanished' && !present.has(f.id));
    if (vanished.length === 0) return;
    await this.#emitAlerts(
      vanished.map((f) => ({ kind: 'file_vanished' as const, fileId: f.id, file: { id: f.id, sha256: f.sha256, size: f.size }, discriminator: f.sha256, message: `${this.name}: audit log file ${f.id} (${f.records} records, ingested ${f.ingestedAt}) is no longer listed by the device` })),
      device,
      result,
    );
    for (const f of vanished) f.status = 'vanished';
    await this.#o.store.save(state);
  }

  /** The file's bytes, or null when it is the current boot's file (406: collected after the next reboot). */
  async #fetch(id: string, result: CycleResult): Promise<Buffer | null> {
    try {
      return await this.#o.client.fetchLogFile(id);
    } catch (err) {
      if (err instanceof DeviceError && err.code === 'locked') {
        this.#o.log.debug({ file: id }, 'file locked by the device (current boot); next cycle');
        result.locked = id;
        return null;
      }
      throw err;
    }
  }

  async #ingest(state: DeviceState, id: string, bytes: Buffer, trustedKeys: Buffer[], device: DeviceContext, result: CycleResult): Promise<void> {
    const file: FetchedFile = { id, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
    const now = new Date();
    const { verdict, summary, alerts } = await ingestFile(this.#o.sink, {
      unitId: `${this.name}/${id}`,
      source: bytes,
      loggerKey: trustedKeys,
      context: { device, fileId: id, namespace: this.#o.config.namespace, created: now, isSelfGenerated },
      deviceName: this.name,
      file: () => file,
    });
    // Acknowledged: only now is the file checkpointed.
    const iso = now.toISOString();
    state.files[id] = {
      id,
      size: file.size,
      sha256: file.sha256,
      records: verdict.lines.total,
      verified: verdict.lines.verified,
      lastSeq: verdict.lastSeq,
      segments: verdict.segments.map((s) => s.keyFingerprint),
      valid: verdict.valid,
      problems: Object.fromEntries(Object.entries(verdict.problemCounts).filter(([, n]) => n > 0)),
      status: 'ingested',
      ingestedAt: iso,
      checkedAt: iso,
    };
    await this.#o.store.save(state);
    this.#count(result, verdict, summary, alerts);
    const fields = { file: id, records: verdict.lines.total, verified: verdict.lines.verified, written: summary.written, duplicates: summary.duplicates, dead_lettered: summary.deadLettered };
    if (verdict.valid) this.#o.log.info(fields, 'file ingested');
    else this.#o.log.warn({ ...fields, problems: state.files[id].problems }, 'file ingested with verification problems; every event is flagged and alerts were raised');
  }

  /** Fetches ingested files again once `recheck_interval` has passed: changed bytes are an alert. */
  async #recheck(state: DeviceState, listed: string[], trustedKeys: Buffer[], device: DeviceContext, result: CycleResult, signal?: AbortSignal): Promise<void> {
    const due = Date.now() - this.#o.config.recheck_interval;
    const present = new Set(listed);
    for (const record of Object.values(state.files)) {
      if (signal?.aborted) return;
      if (record.status === 'vanished' || !present.has(record.id) || Date.parse(record.checkedAt) > due) continue;
      const bytes = await this.#fetch(record.id, result);
      if (bytes === null) continue;
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      record.checkedAt = new Date().toISOString();
      if (sha256 !== record.sha256 && sha256 !== record.changedSha256) {
        const verdict = verdictOf(bytes, trustedKeys);
        const how = bytes.length < record.size ? `shorter by ${record.size - bytes.length} bytes` : bytes.length > record.size ? `longer by ${bytes.length - record.size} bytes` : 'same size, different content';
        await this.#emitAlerts(
          [{ kind: 'file_changed', fileId: record.id, file: { id: record.id, sha256, size: bytes.length }, previousSha256: record.sha256, currentSha256: sha256, discriminator: sha256, message: `${this.name}: audit log file ${record.id} changed after it was ingested (${how}; now ${verdict.lines.total} records, ${verdict.lines.verified} verified, was ${record.records}); it is not ingested again` }],
          device,
          result,
        );
        record.status = 'changed';
        record.changedSha256 = sha256;
        await this.#o.store.save(state);
      }
    }
  }

  async #emitAlerts(alerts: Alert[], device: DeviceContext, result: CycleResult): Promise<void> {
    const ctx = this.#integrityContext(device, new Date());
    const unit = this.#o.sink.open(`${this.name}/alerts`);
    for (const alert of alerts) {
      this.#o.log.error({ alert: alert.kind, file: alert.fileId }, alert.message);
      this.#o.metrics.alerts.inc({ device: this.name, kind: alert.kind });
      await unit.write(alertDocument(ctx, alert) as IndexDocument);
    }
    await unit.end();
    result.alerts += alerts.length;
  }

  #integrityContext(device: DeviceContext, now: Date): IntegrityContext {
    return { device, namespace: this.#o.config.namespace, now };
  }

  #count(result: CycleResult, verdict: FileVerdict, summary: UnitSummary, alerts: number): void {
    const { metrics } = this.#o;
    result.filesIngested++;
    if (!verdict.valid) result.filesInvalid++;
    result.records += verdict.lines.total;
    result.verified += verdict.lines.verified;
    result.alerts += alerts;
    result.written += summary.written;
    result.duplicates += summary.duplicates;
    result.deadLettered += summary.deadLettered;
    for (const [kind, n] of Object.entries(verdict.problemCounts)) {
      if (n === 0) continue;
      result.problems[kind as ProblemKind] = (result.problems[kind as ProblemKind] ?? 0) + n;
      metrics.problems.inc({ device: this.name, kind }, n);
      metrics.alerts.inc({ device: this.name, kind });
    }
    metrics.files.inc({ device: this.name });
    metrics.records.inc({ device: this.name }, verdict.lines.total);
  }
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

function verdictOf(bytes: Buffer, key: Buffer[]): FileVerdict {
  const verifier = new LogVerifier(key);
  for (const line of parseLogSync(bytes)) verifier.check(line);
  return verifier.verdict();
}
