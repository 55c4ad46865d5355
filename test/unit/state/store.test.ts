import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileRecord } from '../../helpers/state.js';
import { StateLockError, lockStateDir } from '../../../src/state/lock.js';
import { FileStateStore, emptyState } from '../../../src/state/store.js';

const record = (id: string) => fileRecord(id);

describe('the file state store', () => {
  it('keeps file ids that name Object.prototype members as ordinary files', async () => {
    const store = new FileStateStore(mkdtempSync(join(tmpdir(), 'hemfwd-store-')));
    const state = emptyState('hem1');
    for (const id of ['__proto__', 'constructor', 'toString', '62310ba5']) state.files.set(id, record(id));
    await store.save(state);
    const { state: loaded, recovered } = await store.load('hem1');
    expect(recovered).toBeNull();
    expect([...loaded.files.keys()].sort()).toEqual(['62310ba5', '__proto__', 'constructor', 'toString']);
    expect(loaded.files.get('__proto__')).toEqual(record('__proto__'));
    expect(loaded.files.has('hasOwnProperty')).toBe(false);
  });

  it('reads state written before outputs were recorded: such files belong to no output yet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-store-'));
    const legacy = { ...emptyState('hem1'), files: { a1: { ...record('a1'), outputs: undefined } } };
    writeFileSync(join(dir, 'hem1.json'), JSON.stringify(legacy));
    const { state } = await new FileStateStore(dir).load('hem1');
    expect(state.files.get('a1')?.outputs).toEqual([]);
  });
});

describe('the state directory lock', () => {
  it('is exclusive, names its holder, is released, and a stale lock of a dead process is taken over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hemfwd-lock-'));
    const lock = await lockStateDir(dir);
    const second = await lockStateDir(dir).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(StateLockError);
    expect((second as Error).message).toMatch(new RegExp(`in use by another hem-forwarder \\(pid ${process.pid} on `));
    await lock.release();
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // a pid that has exited
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: dead, host: hostname(), since: 'then' }));
    const taken = await lockStateDir(dir);
    expect(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')) as { pid: number }).toMatchObject({ pid: process.pid });
    await taken.release();
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: dead, host: 'another-host', since: 'then' }));
    await expect(lockStateDir(dir)).rejects.toThrow(/pid \d+ on another-host/);
  });
});
