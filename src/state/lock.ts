import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ForwarderError } from '../shared/errors.js';

/** Another process holds the state directory: two collectors on one state would both collect everything. */
export class StateLockError extends ForwarderError {
  override readonly name = 'StateLockError';
  readonly code = 'state_locked';
  readonly transient = false;
}

interface Owner {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

export interface StateLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes `state_dir/.lock` exclusively. The lock file is written whole under a temporary name and then
 * hard-linked into place, which fails if it exists: no reader ever sees a half-written lock. A lock left
 * by a process of this host that no longer runs (kill -9, power cut) is stale and taken over; a lock of
 * another host cannot be checked from here, so it is reported for the operator to decide.
 */
export async function lockStateDir(dir: string): Promise<StateLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, '.lock');
  const me: Owner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(temp, `${JSON.stringify(me)}\n`, { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw lockError(path, err);
      }
      const seen = await readFile(path, 'utf8').catch(() => '');
      const owner = parseOwner(seen);
      const inUse = (o: Owner) =>
        new StateLockError(
          `state_dir ${dir} is in use by another hem-forwarder (pid ${o.pid} on ${o.host} since ${o.since}); ` +
            `stop it, give this instance a state_dir of its own, or remove ${path} if that process is gone`,
        );
      if (owner && (owner.host !== me.host || isRunning(owner.pid))) throw inUse(owner);
      // Stale (its process is gone, or unreadable junk). Moved aside rather than removed, and checked: if
      // another process took it over in between, that fresh lock is put back and this one gives way.
      const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      const moved = await rename(path, aside).then(
        () => true,
        () => false,
      );
      if (moved) {
        const taken = await readFile(aside, 'utf8').catch(() => '');
        if (taken !== seen) {
          await link(aside, path).catch(() => undefined);
          await rm(aside, { force: true });
          throw inUse(parseOwner(taken) ?? { pid: 0, host: '?', since: '?' });
        }
        await rm(aside, { force: true });
      }
    }
  } finally {
    await rm(temp, { force: true });
  }
  return {
    path,
    async release() {
      const owner = await readOwner(path);
      if (owner?.pid === me.pid && owner.host === me.host) await rm(path, { force: true });
    },
  };
}

async function readOwner(path: string): Promise<Owner | null> {
  return parseOwner(await readFile(path, 'utf8').catch(() => ''));
}

function parseOwner(text: string): Owner | null {
  try {
    const owner = JSON.parse(text) as Owner;
    return Number.isInteger(owner.pid) && typeof owner.host === 'string' ? owner : null;
  } catch {
    return null;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // it exists, under another user
  }
}

function lockError(path: string, err: unknown): StateLockError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return new StateLockError(`cannot take the state lock ${path}: ${code}`);
}
