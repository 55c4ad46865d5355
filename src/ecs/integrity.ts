import { createHash } from 'node:crypto';
import type { FileIdentity } from '../shared/hashing-tap.js';
import type { FileVerdict, ProblemKind } from '../logfile/verify.js';
import { SEVERITY_SCORE } from './catalogue.js';
import { type DeviceContext, ECS_VERSION, EVENT_MODULE, type IndexDocument, observerOf } from './map.js';

export const INTEGRITY_DATASET = 'encedo_hem.integrity';

/** Everything that raises an integrity alert: the verifier's problems and what the collector sees. */
export type AlertKind =
  | ProblemKind
  | 'logger_key_changed' // the device's logger key differs from the trusted one
  | 'logger_key_mismatch' // /api/logger/key and eid_sign in /api/system/config disagree
  | 'nonce_signature_invalid' // /api/logger/key's nonce_signed does not verify under its key
  | 'file_changed' // an ingested file's bytes changed
  | 'file_vanished' // an ingested file is no longer listed
  | 'file_empty' // a closed file answered with no records: not checkpointed, fetched again next cycle
  | 'file_unreadable' // a listed file answered 404
  | 'file_too_large' // a file longer than max_file_bytes: cut off, not ingested
  | 'file_id_invalid' // the listing named an id no log file has (odd characters): never requested
  | 'listing_truncated' // the listing had more ids than max_files
  | 'logger_key_unpinned' // a key trusted on first use was replaced by the pinned logger_key
  | 'state_corrupt'; // the checkpoint file was unreadable and moved aside

export interface IntegrityContext {
  readonly device: DeviceContext;
  readonly namespace: string;
  readonly now: Date;
}

/** A log file as it was fetched: id, SHA-256 of its bytes, size. */
export type FetchedFile = FileIdentity;

const PROBLEM_MESSAGES: Record<ProblemKind, string> = {
  malformed: 'lines that are not audit records',
  no_key: 'records before any KEY_INIT, so they cannot be verified',
  signature_invalid: 'key segments not signed by the trusted logger key',
  mac_mismatch: 'records whose tag does not match their text (altered records)',
  seq_gap: 'gaps in the record sequence (records missing)',
  seq_disorder: 'records out of order',
  seq_repeat: 'repeated records',
};

const SHOWN_PROBLEMS = 20;
/** A file of key segments only (a hostile device) must not make one document unbounded. */
export const SHOWN_SEGMENTS = 64;

function id(...parts: (string | number | null | undefined)[]): string {
  return createHash('sha256')
    .update(parts.map((p) => String(p ?? '')).join('\n'))
    .digest()
    .subarray(0, 20)
    .toString('base64url');
}

function base(
  ctx: IntegrityContext,
  header: string | null,
  event: Record<string, unknown>,
  message: string,
): Record<string, unknown> {
  const now = ctx.now.toISOString();
  return {
    '@timestamp': now,
    message,
    ...(ctx.device.tags && ctx.device.tags.length > 0 ? { tags: [...ctx.device.tags] } : {}),
    event: { ...event, created: now, module: EVENT_MODULE, dataset: INTEGRITY_DATASET },
    observer: observerOf({ device: ctx.device, header }),
    data_stream: { type: 'logs', dataset: INTEGRITY_DATASET, namespace: ctx.namespace },
    ecs: { version: ECS_VERSION },
  };
}

function index(ctx: IntegrityContext): string {
  return `logs-${INTEGRITY_DATASET}-${ctx.namespace}`;
}

/** One document per verified file, like CloudTrail's per-file validation line, but searchable. */
export function fileVerdictDocument(ctx: IntegrityContext, file: FetchedFile, v: FileVerdict): IndexDocument {
  const counts = Object.entries(v.problemCounts).filter(([, n]) => n > 0);
  const message = v.valid
    ? `Audit log file ${file.id}: valid, ${v.lines.verified}/${v.lines.total} records verified`
    : `Audit log file ${file.id}: INVALID, ${v.lines.verified}/${v.lines.total} records ` +
      `verified; ${counts.map(([k, n]) => `${k} ${n}`).join(', ') || 'no records'}`;
  const doc = base(
    ctx,
    v.header,
    {
      kind: 'event',
      category: ['file'],
      type: ['info'],
      action: 'log-file-verified',
      outcome: v.valid ? 'success' : 'failure',
      severity: SEVERITY_SCORE[v.valid ? 'info' : 'high'],
    },
    message,
  );
  doc.file = { name: `${file.id}.log`, size: file.size, hash: { sha256: file.sha256 } };
  doc.encedo_hem = {
    file: {
      id: file.id,
      ...(v.header !== null ? { header: v.header } : {}),
      valid: v.valid,
      records_total: v.lines.total,
      records_verified: v.lines.verified,
      verified_ratio: v.lines.total === 0 ? 0 : v.lines.verified / v.lines.total,
      ...(v.firstSeq !== null ? { first_seq: v.firstSeq, last_seq: v.lastSeq } : {}),
      ...(v.firstTime !== null
        ? {
            first_time: new Date(v.firstTime * 1000).toISOString(),
            last_time: new Date(v.lastTime! * 1000).toISOString(),
          }
        : {}),
      segment_count: v.segmentCount,
      segments: v.segments
        .slice(0, SHOWN_SEGMENTS)
        .map((s) => ({ line: s.line, seq: s.seq, key_fingerprint: s.keyFingerprint, signature: s.signature })),
      problem_counts: Object.fromEntries(counts),
      problems: v.problems
        .slice(0, SHOWN_PROBLEMS)
        .map((p) => ({ line: p.line, ...(p.seq !== null ? { seq: p.seq } : {}), kind: p.kind, message: p.message })),
    },
  };
  return { _id: id(ctx.device.serial, 'verdict', file.id, file.sha256), _index: index(ctx), _source: doc };
}

export interface Alert {
  readonly kind: AlertKind;
  readonly message: string;
  readonly fileId?: string;
  readonly file?: FetchedFile;
  readonly count?: number;
  readonly previousSha256?: string;
  readonly currentSha256?: string;
  readonly previousKey?: string;
  readonly currentKey?: string;
  /** Makes the id unique per occurrence (a new hash, a new key): the same condition seen again is one alert. */
  readonly discriminator?: string;
}

/** An `event.kind: alert` document, so one detection rule can page on every integrity problem. */
export function alertDocument(ctx: IntegrityContext, alert: Alert, header: string | null = null): IndexDocument {
  const doc = base(
    ctx,
    header,
    {
      kind: 'alert',
      category: ['intrusion_detection'],
      type: ['info'],
      action: `integrity-${alert.kind.replaceAll('_', '-')}`,
      outcome: 'failure',
      severity: SEVERITY_SCORE.high,
      reason: alert.message,
    },
    alert.message,
  );
  if (alert.file)
    doc.file = { name: `${alert.file.id}.log`, size: alert.file.size, hash: { sha256: alert.file.sha256 } };
  doc.encedo_hem = {
    ...(alert.fileId ? { file: { id: alert.fileId } } : {}),
    alert: {
      kind: alert.kind,
      ...(alert.count !== undefined ? { count: alert.count } : {}),
      ...(alert.previousSha256 ? { previous_sha256: alert.previousSha256 } : {}),
      ...(alert.currentSha256 ? { current_sha256: alert.currentSha256 } : {}),
      ...(alert.previousKey ? { previous_key: alert.previousKey } : {}),
      ...(alert.currentKey ? { current_key: alert.currentKey } : {}),
    },
  };
  return {
    _id: id(ctx.device.serial, 'alert', alert.kind, alert.fileId, alert.discriminator),
    _index: index(ctx),
    _source: doc,
  };
}

/** One alert per problem kind found in a file, with the count and the first line. */
export function verdictAlerts(
  ctx: IntegrityContext,
  file: FetchedFile,
  device: string,
  v: FileVerdict,
): IndexDocument[] {
  return Object.entries(v.problemCounts)
    .filter(([, n]) => n > 0)
    .map(([kind, count]) => {
      const first = v.problems.find((p) => p.kind === kind);
      const where = first ? ` (first at line ${first.line}: ${first.message})` : '';
      return alertDocument(
        ctx,
        {
          kind: kind as ProblemKind,
          fileId: file.id,
          file,
          count,
          discriminator: file.sha256,
          message: `${device}: audit log file ${file.id} has ${count} ${PROBLEM_MESSAGES[kind as ProblemKind]}${where}`,
        },
        v.header,
      );
    });
}

/** What a device's status document says (the device status stream). */
export interface DeviceStatus {
  readonly state: 'ok' | 'failing' | 'halted';
  readonly firmware: string | null;
  readonly consecutiveFailures: number;
  /** The code of the last error, while failing. */
  readonly lastError: string | null;
  readonly lastSuccess: Date | null;
  readonly lastFileIngested: string | null;
  /** The current boot's file, locked by the device until the next reboot, and when that boot began. */
  readonly currentFile: { readonly id: string; readonly since: Date | null } | null;
  readonly loggerKey: { readonly fingerprint: string; readonly source: string | null } | null;
  /** The forwarder instance that collects the device (several may share the devices). */
  readonly instance: string | null;
}

/**
 * A device's state as one `event.kind: state` document: what an inventory shows, and what rules watch
 * (a trail unreleased for days, a device unreachable or halted). `unreleased_seconds` is how long the
 * current boot's events have been on the device only: the SIEM cannot see them before the next reboot.
 */
export function statusDocument(ctx: IntegrityContext, status: DeviceStatus): IndexDocument {
  const name = ctx.device.name ?? ctx.device.serial ?? '?';
  const since = status.currentFile?.since ?? null;
  const unreleased = since === null ? null : Math.max(0, Math.round((ctx.now.getTime() - since.getTime()) / 1000));
  const days = unreleased === null ? null : Math.floor(unreleased / 86_400);
  const message =
    `Device ${name}: ${status.state}` +
    (status.consecutiveFailures > 0 ? `, ${status.consecutiveFailures} failed cycle(s) in a row` : '') +
    (status.currentFile ? `; current boot's audit trail (file ${status.currentFile.id}) unreleased` : '') +
    (days !== null ? ` for ${days} day(s)` : '');
  const outcome = status.state === 'ok' ? 'success' : 'failure';
  const event = { kind: 'state', category: ['host'], type: ['info'], action: 'device-status', outcome };
  const doc = base(ctx, status.firmware, event, message);
  doc.encedo_hem = {
    status: {
      state: status.state,
      halted: status.state === 'halted',
      consecutive_failures: status.consecutiveFailures,
      ...(status.lastError !== null ? { last_error: status.lastError } : {}),
      ...(status.lastSuccess !== null ? { last_success: status.lastSuccess.toISOString() } : {}),
      ...(status.lastFileIngested !== null ? { last_file_ingested: status.lastFileIngested } : {}),
      ...(status.instance !== null ? { instance: status.instance } : {}),
      ...(status.currentFile ? { current_file_id: status.currentFile.id } : {}),
      ...(since !== null ? { current_file_since: since.toISOString(), unreleased_seconds: unreleased } : {}),
      ...(status.loggerKey
        ? {
            logger_key_fingerprint: status.loggerKey.fingerprint,
            ...(status.loggerKey.source !== null ? { logger_key_source: status.loggerKey.source } : {}),
          }
        : {}),
    },
  };
  return { _id: id(ctx.device.serial ?? name, 'status', ctx.now.toISOString()), _index: index(ctx), _source: doc };
}
