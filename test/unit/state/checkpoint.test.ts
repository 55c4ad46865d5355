import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileRecord } from '../../helpers/state.js';
import { Checkpoint } from '../../../src/state/checkpoint.js';
import { FileStateStore, StateConflictError } from '../../../src/state/store.js';

const record = (id: string) => fileRecord(id);

describe('the checkpoint', () => {
  it('commit writes at once; staged changes wait for the next commit or flush', async () => {
    const store = new FileStateStore(mkdtempSync(join(tmpdir(), 'hemfwd-cp-')));
    const { checkpoint } = await Checkpoint.load(store, 'hem1');
    await checkpoint.commit({ kind: 'file_ingested', record: record('a') });
    expect((await store.load('hem1')).state.files.has('a')).toBe(true);
    checkpoint.stage({ kind: 'serial', serial: '2023b758c209269a' });
    expect((await store.load('hem1')).state.serial).toBeNull();
    await checkpoint.flush();
    const { state } = await store.load('hem1');
    expect(state.serial).toBe('2023b758c209269a');
    expect(state.revision).toBe(2);
    await checkpoint.commit({ kind: 'file_checked', id: 'a', at: 'later', changedSha256: 't' });
    expect((await store.load('hem1')).state.files.get('a')).toMatchObject({
      status: 'changed',
      changedSha256: 't',
      checkedAt: 'later',
    });
  });

  it('refuses to overwrite a state another writer saved in between', async () => {
    const store = new FileStateStore(mkdtempSync(join(tmpdir(), 'hemfwd-cp-')));
    const first = (await Checkpoint.load(store, 'hem1')).checkpoint;
    await first.commit({ kind: 'serial', serial: 'a' });
    const second = (await Checkpoint.load(store, 'hem1')).checkpoint;
    await second.commit({ kind: 'serial', serial: 'b' });
    await expect(first.commit({ kind: 'serial', serial: 'c' })).rejects.toBeInstanceOf(StateConflictError);
    expect((await store.load('hem1')).state.serial).toBe('b');
  });
});
