import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PROBLEM_KINDS } from '../logfile/verify.js';
import { ForwarderError } from '../shared/errors.js';

/** Files remembered as begun but not acknowledged (a device lists at most max_files anyway). */
export const MAX_COLLECTING = 10_000;

/** Most key-segment fingerprints kept per file: a file of KEY_INIT lines only must not bloat the state. */
export const MAX_SEGMENTS_KEPT = 64;

const fileRecord = z.object({
  id: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  records: z.number().int().nonnegative(),
  verified: z.number().int().nonnegative(),
  lastSeq: z.number().int().nullable(),
  /** The first MAX_SEGMENTS_KEPT key fingerprints; `segmentCount` has them all. */
  segments: z.array(z.string()).max(MAX_SEGMENTS_KEPT),
  segmentCount: z.number().int().nonnegative().optional(),
  valid: z.boolean(),
  problems: z.partialRecord(z.enum(PROBLEM_KINDS), z.number().int()),
  /**
   * ingested: indexed and acknowledged; changed: its bytes differ from what was ingested; vanished: no longer
   * listed.
   */
  status: z.enum(['ingested', 'changed', 'vanished']),
  ingestedAt: z.string(),
  checkedAt: z.string(),
  /** The hash of the changed bytes, so one change is reported once. */
  changedSha256: z.string().optional(),
  /**
   * The outputs that acknowledged this file (`elasticsearch:<cluster uuid>`, `file:<dir>`, `stdout`): a
   * file is collected again for an output it never reached. Missing in states written before 0.2.
   */
  outputs: z.array(z.string()).default([]),
});

const stateFile = z.object({
  version: z.literal(1),
  /** Counts the saves: a conditional save refuses to overwrite a state it did not read. */
  revision: z.number().int().nonnegative().default(0),
  device: z.string(),
  serial: z.string().nullable(),
  loggerKey: z.object({
    trusted: z.string().nullable(),
    source: z.enum(['config', 'first_use', 'accepted']).nullable(),
    since: z.string().nullable(),
  }),
  /** Every logger key this device has been trusted with (a wipe replaces it). */
  knownKeys: z.array(z.string()),
  /** Set when the logger key changed under `on_key_change: halt`: cleared by `state accept-key`. */
  halted: z.object({ reason: z.string(), newKey: z.string(), since: z.string() }).nullable(),
  /**
   * Chain of custody. `chains`: per output, the position and hash of the newest digest (the next one links to
   * it). `collecting`: when each file whose collection began but was not acknowledged was first read, so a
   * retried collection writes byte-identical documents (and so the same digest) as the interrupted one.
   */
  custody: z
    .object({
      chains: z.array(z.object({ output: z.string(), position: z.number().int().nonnegative(), hash: z.string() })),
      collecting: z.array(z.object({ id: z.string(), at: z.string() })).max(MAX_COLLECTING),
    })
    .default({ chains: [], collecting: [] }),
  // Checked entry by entry below: a record schema would build an object where `__proto__` is no own key.
  files: z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v)),
});

export type FileRecord = z.infer<typeof fileRecord>;
/** Files are kept in a Map: a device may name a file `__proto__` or `constructor`. */
export type DeviceState = Omit<z.infer<typeof stateFile>, 'files'> & { files: Map<string, FileRecord> };

export function emptyState(device: string): DeviceState {
  return {
    version: 1,
    revision: 0,
    device,
    serial: null,
    loggerKey: { trusted: null, source: null, since: null },
    knownKeys: [],
    halted: null,
    custody: { chains: [], collecting: [] },
    files: new Map(),
  };
}

/** The state in a state file's text, or why it is not one (for `device`). */
export function decodeState(text: string, device: string): { state: DeviceState } | { corrupt: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { corrupt: 'not JSON' };
  }
  const result = stateFile.safeParse(json);
  if (!result.success) return { corrupt: 'not a version 1 state file' };
  if (result.data.device !== device) return { corrupt: `the state of device ${JSON.stringify(result.data.device)}` };
  const files = new Map<string, FileRecord>();
  for (const [id, raw] of Object.entries((json as { files: Record<string, unknown> }).files)) {
    const record = fileRecord.safeParse(raw);
    if (!record.success || record.data.id !== id) return { corrupt: `file record ${JSON.stringify(id)} is not valid` };
    files.set(id, record.data);
  }
  return { state: { ...result.data, files } };
}

export function encodeState(state: DeviceState): string {
  // Object.fromEntries defines own properties, so an id like `__proto__` survives the round trip.
  return `${JSON.stringify({ ...state, files: Object.fromEntries(state.files) }, null, 1)}\n`;
}

/**
 * Where the collector keeps its checkpoints. A small interface so that a store kept in the cluster can
 * later replace the file store for several forwarder instances.
 */
export interface StateStore {
  /** The device's state; a fresh one if none. `recovered` names a corrupt file that was moved aside. */
  load(device: string): Promise<{ state: DeviceState; recovered: string | null }>;
  /**
   * Writes the state and returns its new revision. With `ifRevision`, only if the stored state still has
   * that revision (else StateConflictError): a cluster store will fence a writer that lost its lease so.
   */
  save(state: DeviceState, options?: { ifRevision?: number }): Promise<number>;
  devices(): Promise<string[]>;
  reset(device: string): Promise<boolean>;
  /** Read-only: the state, or why there is none usable; never moves, renames or writes anything. */
  inspect(device: string): Promise<StateInspection>;
}

/** A conditional save found a newer state than the one it read: another writer was there. */
export class StateConflictError extends Error {
  override readonly name = 'StateConflictError';
}

/** A state file that exists but cannot be read (permissions, a directory in its place): one line, naming it. */
export class StateReadError extends ForwarderError {
  override readonly name = 'StateReadError';
  readonly code = 'state_unreadable';
  readonly transient = false;
  constructor(
    readonly path: string,
    /** The system error code (EACCES, EISDIR, ...); `code` is the forwarder's own. */
    readonly sysCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    const denied = sysCode === 'EACCES' || sysCode === 'EPERM';
    const why = denied ? 'permission denied' : sysCode === 'EISDIR' ? 'is a directory' : sysCode;
    super(`cannot read the state file ${path}: ${why ?? 'unknown error'}`, options);
  }
}

export type StateInspection =
  | { readonly verdict: 'ok'; readonly path: string; readonly state: DeviceState }
  | { readonly verdict: 'none'; readonly path: string }
  | { readonly verdict: 'corrupt'; readonly path: string; readonly reason: string }
  | { readonly verdict: 'unreadable'; readonly path: string; readonly error: StateReadError };

/** One JSON file per device under `state_dir`, written atomically: temp file, fsync, rename, fsync dir. */
export class FileStateStore implements StateStore {
  /** Per device: the revision, size and time of the file as this store last read or wrote it. */
  readonly #seen = new Map<string, { revision: number; mtimeMs: number; size: number }>();

  constructor(readonly dir: string) {}

  async #remember(device: string, revision: number): Promise<void> {
    const s = await stat(this.#path(device));
    this.#seen.set(device, { revision, mtimeMs: s.mtimeMs, size: s.size });
  }

  #path(device: string): string {
    return join(this.dir, `${device}.json`);
  }

  async load(device: string): Promise<{ state: DeviceState; recovered: string | null }> {
    const path = this.#path(device);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: emptyState(device), recovered: null };
      throw new StateReadError(path, (err as NodeJS.ErrnoException).code, { cause: err });
    }
    const decoded = decodeState(text, device);
    if ('state' in decoded) {
      await this.#remember(device, decoded.state.revision);
      return { state: decoded.state, recovered: null };
    }
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(path, aside);
    return { state: emptyState(device), recovered: aside };
  }

  async inspect(device: string): Promise<StateInspection> {
    const path = this.#path(device);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { verdict: 'none', path };
      return { verdict: 'unreadable', path, error: new StateReadError(path, code, { cause: err }) };
    }
    const decoded = decodeState(text, device);
    if ('corrupt' in decoded) return { verdict: 'corrupt', path, reason: decoded.corrupt };
    return { verdict: 'ok', path, state: decoded.state };
  }

  // The revision check and the write are not one atomic step here: the state_dir lock keeps other
  // collectors out, and `state` commands change only what a running cycle does not (a halt).
  async save(state: DeviceState, options: { ifRevision?: number } = {}): Promise<number> {
    await mkdir(this.dir, { recursive: true });
    const path = this.#path(state.device);
    if (options.ifRevision !== undefined) {
      // The file as this store last read or wrote it (same size and time) needs no second reading.
      const known = this.#seen.get(state.device);
      const now = await stat(path).catch(() => null);
      const unchanged = known !== undefined && now !== null && now.mtimeMs === known.mtimeMs && now.size === known.size;
      const stored = unchanged ? null : await this.inspect(state.device);
      const revision = unchanged ? known.revision : stored?.verdict === 'ok' ? stored.state.revision : 0;
      if (stored?.verdict !== 'none' && revision !== options.ifRevision) {
        throw new StateConflictError(
          `${path} changed underneath (revision ${revision}, expected ${options.ifRevision}); not overwritten`,
        );
      }
    }
    const next = { ...state, revision: state.revision + 1 };
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(encodeState(next));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync(); // the rename itself survives a power cut
    } finally {
      await dir.close();
    }
    await this.#remember(state.device, next.revision);
    return next.revision;
  }

  async devices(): Promise<string[]> {
    try {
      return (await readdir(this.dir))
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
        .sort();
    } catch {
      return [];
    }
  }

  async reset(device: string): Promise<boolean> {
    try {
      await rm(this.#path(device));
      return true;
    } catch {
      return false;
    }
  }
}
