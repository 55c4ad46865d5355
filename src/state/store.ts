import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PROBLEM_KINDS } from '../logfile/verify.js';

const fileRecord = z.object({
  id: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  records: z.number().int().nonnegative(),
  verified: z.number().int().nonnegative(),
  lastSeq: z.number().int().nullable(),
  segments: z.array(z.string()),
  valid: z.boolean(),
  problems: z.partialRecord(z.enum(PROBLEM_KINDS), z.number().int()),
  /** ingested: indexed and acknowledged; changed: its bytes differ from what was ingested; vanished: no longer listed. */
  status: z.enum(['ingested', 'changed', 'vanished']),
  ingestedAt: z.string(),
  checkedAt: z.string(),
  /** The hash of the changed bytes, so one change is reported once. */
  changedSha256: z.string().optional(),
});

const deviceState = z.object({
  version: z.literal(1),
  device: z.string(),
  serial: z.string().nullable(),
  loggerKey: z.object({ trusted: z.string().nullable(), source: z.enum(['config', 'first_use', 'accepted']).nullable(), since: z.string().nullable() }),
  /** Every logger key this device has been trusted with (a wipe replaces it). */
  knownKeys: z.array(z.string()),
  /** Set when the logger key changed under `on_key_change: halt`: cleared by `state accept-key`. */
  halted: z.object({ reason: z.string(), newKey: z.string(), since: z.string() }).nullable(),
  files: z.record(z.string(), fileRecord),
});

export type FileRecord = z.infer<typeof fileRecord>;
export type DeviceState = z.infer<typeof deviceState>;

export function emptyState(device: string): DeviceState {
  return { version: 1, device, serial: null, loggerKey: { trusted: null, source: null, since: null }, knownKeys: [], halted: null, files: {} };
}

/**
 * Where the collector keeps its checkpoints. A small interface so that a store kept in the cluster can
 * later replace the file store for several forwarder instances.
 */
export interface StateStore {
  /** The device's state; a fresh one if none. `recovered` names a corrupt file that was moved aside. */
  load(device: string): Promise<{ state: DeviceState; recovered: string | null }>;
  save(state: DeviceState): Promise<void>;
  devices(): Promise<string[]>;
  reset(device: string): Promise<boolean>;
}

/** One JSON file per device under `state_dir`, written atomically: temp file, fsync, rename, fsync dir. */
export class FileStateStore implements StateStore {
  constructor(readonly dir: string) {}

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
      throw err;
    }
    let parsed: DeviceState | null = null;
    try {
      const result = deviceState.safeParse(JSON.parse(text));
      if (result.success && result.data.device === device) parsed = result.data;
    } catch {
      // not JSON
    }
    if (parsed) return { state: parsed, recovered: null };
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(path, aside);
    return { state: emptyState(device), recovered: aside };
  }

  async save(state: DeviceState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = this.#path(state.device);
    const temp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(state, null, 1)}\n`);
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
  }

  async devices(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
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
