import { afterAll, describe, expect, it } from 'vitest';
import type { DeviceError } from '../../src/device/errors.js';
import type { SinkUnit } from '../../src/sinks/sink.js';
import { type Rig, cleanupRigs, es, rig } from '../helpers/collector-rig.js';
import { countDocs } from '../helpers/cluster.js';

afterAll(cleanupRigs);

/** Counts the documents each unit (a file) hands to the output, as they are written. */
function countWrites(r: Rig): Map<string, number> {
  const writes = new Map<string, number>();
  const open = r.sink.open.bind(r.sink);
  r.sink.open = (id: string): SinkUnit => {
    const unit = open(id);
    return {
      write: (doc) => {
        writes.set(id, (writes.get(id) ?? 0) + 1);
        return unit.write(doc);
      },
      end: () => unit.end(),
    };
  };
  return writes;
}

const closedFiles = (r: Rig) => r.sim.device.fileIds().filter((id) => id !== r.sim.device.currentFileId);

async function fileDocs(r: Rig, id: string): Promise<number> {
  return countDocs(es, `logs-encedo_hem.audit-${r.ns}`, { term: { 'encedo_hem.log.file_id': id } });
}

describe('a hostile or broken device cannot exhaust the forwarder or lose records', () => {
  const endlessBodyTitle =
    'a log file body that never ends is cut off at max_file_bytes, alerted and skipped; ' + 'it streamed meanwhile';
  it(endlessBodyTitle, async () => {
    const r = await rig({ device: { max_file_bytes: 2 * 1024 * 1024 } });
    const writes = countWrites(r);
    const [first, ...rest] = closedFiles(r);
    r.sim.faults.endless = 1;
    const result = await r.collector.cycle();
    expect(result.error).toBeUndefined();
    expect(result.filesSkipped).toBe(1);
    expect(result.filesIngested).toBe(rest.length);
    // Documents reached the output while the body was still arriving: the file is never held whole.
    expect(writes.get(`hem1/${first}`)).toBeGreaterThan(1000);
    const alerts = await r.alerts('file_too_large');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.message).toMatch(/larger than 2097152 bytes/);
    expect((await r.store.load('hem1')).state.files.has(first!)).toBe(false);
    const again = await r.collector.cycle(); // the device behaves again: nothing is lost
    expect(again.filesIngested).toBe(1);
    expect(await fileDocs(r, first!)).toBeGreaterThan(0);
  });

  it('JSON answers are bounded too, and identity strings are short', async () => {
    const r = await rig();
    r.sim.faults.identityPad = 100_000;
    const huge = await r.collector.cycle();
    expect((huge.error as DeviceError).code).toBe('too_large');
    r.sim.faults.identityPad = 200;
    const long = await r.collector.cycle();
    expect((long.error as DeviceError).code).toBe('protocol');
    expect(long.error!.message).toMatch(/configuration answer is not as documented.*devid/);
  });

  it('an empty answer for a closed file is alerted and not checkpointed; its records are ingested later', async () => {
    const r = await rig();
    const [first, ...rest] = closedFiles(r);
    r.sim.faults.empty = 1;
    const result = await r.collector.cycle();
    expect(result.ok).toBe(true);
    expect(result.filesSkipped).toBe(1);
    expect(result.filesIngested).toBe(rest.length);
    expect(await r.alerts('file_empty')).toHaveLength(1);
    expect((await r.store.load('hem1')).state.files.has(first!)).toBe(false);
    const again = await r.collector.cycle();
    expect(again.filesIngested).toBe(1);
    const records = r.sim.device
      .fileText(first!)!
      .split('\r\n')
      .filter((l) => l && !l.startsWith('#')).length;
    expect(await fileDocs(r, first!)).toBe(records);
    expect((await r.alerts('file_changed')).length).toBe(0);
  });

  it('a body that trickles is cut off by request_deadline, well before the idle timeout could', async () => {
    const r = await rig({ device: { request_deadline: '1s', request_timeout: '20s' } });
    r.sim.faults.trickle = 1;
    r.sim.faults.trickleMs = 50;
    const started = Date.now();
    const result = await r.collector.cycle();
    expect((result.error as DeviceError).code).toBe('timeout');
    expect(result.error!.message).toMatch(/did not complete within 1000 ms \(request_deadline\)/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await r.collector.cycle()).ok).toBe(true); // nothing was checkpointed; the next cycle has it all
  });

  it('a listing cannot grow without bound, stops when a page adds nothing, and odd ids are never trusted', async () => {
    const flood = await rig({ device: { max_files: 20 } });
    flood.sim.faults.listFlood = 'new';
    const flooded = await flood.collector.cycle();
    expect(flooded.error).toBeUndefined();
    expect(await flood.alerts('listing_truncated')).toHaveLength(1);
    expect(flooded.filesSkipped).toBe(20); // every invented id answered 404: alerted, never checkpointed
    expect((await flood.store.load('hem1')).state.files.size).toBe(0);

    const repeat = await rig();
    repeat.sim.faults.listFlood = 'repeat';
    expect((await repeat.collector.cycle()).filesIngested).toBe(closedFiles(repeat).length);

    const odd = await rig();
    odd.sim.faults.listExtra = ['__proto__', 'constructor', '../../etc/passwd', 'a b'];
    const result = await odd.collector.cycle();
    expect(result.filesIngested).toBe(closedFiles(odd).length);
    expect(result.filesSkipped).toBe(4);
    expect((await odd.alerts('file_id_invalid')).map((a) => a.message).sort()).toEqual([
      expect.stringContaining('"../../etc/passwd"'),
      expect.stringContaining('"a b"'),
    ]);
    expect(await odd.alerts('file_unreadable')).toHaveLength(2); // __proto__ and constructor: asked for, 404
    const { state } = await odd.store.load('hem1');
    expect([...state.files.keys()].sort()).toEqual(closedFiles(odd));
  });

  it('one file answering 404 skips that file with an alert; the cycle goes on', async () => {
    const r = await rig();
    const [first, ...rest] = closedFiles(r);
    Object.assign(r.sim.faults, { error: 1, errorStatus: 404, errorPath: `/api/logger/${first}` });
    const result = await r.collector.cycle();
    expect(result.ok).toBe(true);
    expect(result.filesIngested).toBe(rest.length);
    expect(await r.alerts('file_unreadable')).toHaveLength(1);
    expect((await r.collector.cycle()).filesIngested).toBe(1);
  });

  it('an all-zero session key in the login challenge is a protocol error naming the device', async () => {
    const r = await rig();
    r.sim.faults.zeroSpk = true;
    const result = await r.collector.cycle();
    expect((result.error as DeviceError).code).toBe('protocol');
    expect(result.error!.message).toMatch(/^hem1: login challenge spk is all zeros/);
  });
});

describe('the logger key', () => {
  it('a key trusted on first use is replaced by a pinned logger_key: files signed by it no longer verify', async () => {
    const first = await rig({ device: { logger_key: undefined, trust_on_first_use: true } });
    expect((await first.collector.cycle()).filesIngested).toBe(closedFiles(first).length);
    const { state } = await first.store.load('hem1');
    expect(state.loggerKey.source).toBe('first_use');
    // The device is wiped (new key); the file of the boot before is still signed by the first-use key.
    const signedByOld = first.sim.device.currentFileId;
    const newKey = first.sim.device.replaceLoggerKey();
    const collector = first.restart({ logger_key: newKey });
    const result = await collector.cycle();
    expect(result.error).toBeUndefined();
    expect(result.filesIngested).toBe(1);
    expect(result.problems.signature_invalid).toBe(1);
    const unpinned = await first.alerts('logger_key_unpinned');
    expect(unpinned).toHaveLength(1);
    expect(await first.alerts('signature_invalid')).toHaveLength(1);
    const after = (await first.store.load('hem1')).state;
    expect(after.loggerKey).toMatchObject({ trusted: newKey, source: 'config' });
    expect(after.knownKeys).toEqual([newKey]);
    expect(after.files.get(signedByOld)?.valid).toBe(false);
  });
});

describe('checkpoints belong to an output', () => {
  it('files acknowledged by one output are collected again for another, and not again for either', async () => {
    const r = await rig({ outputId: 'file:/tmp/a' });
    const files = closedFiles(r).length;
    expect((await r.collector.cycle()).filesIngested).toBe(files);
    const cluster = r.restart({}, 'elasticsearch:other-cluster');
    const moved = await cluster.cycle();
    expect(moved.filesIngested).toBe(files);
    expect(moved.earlier).toBe(0);
    expect(moved.duplicates).toBeGreaterThan(0); // the same test cluster really behind both ids: ids absorb it
    expect(moved.written).toBe(1); // nothing new but the restarted collector's first status document
    expect((await cluster.cycle()).filesIngested).toBe(0);
    expect((await r.restart({}, 'file:/tmp/a').cycle()).filesIngested).toBe(0);
    const { state } = await r.store.load('hem1');
    expect([...state.files.values()].every((f) => f.outputs.join() === 'file:/tmp/a,elasticsearch:other-cluster')).toBe(
      true,
    );
  });
});
