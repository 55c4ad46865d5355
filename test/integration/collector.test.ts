import { type Server, type Socket, createServer, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import type { Sink } from '../../src/sinks/sink.js';
import type { HemSimulator } from '../../src/simulator/server.js';
import { clusterUrl, countDocs } from '../helpers/cluster.js';
import { cleanupRigs, es, rig } from '../helpers/collector-rig.js';

afterAll(cleanupRigs);

/** Records in the closed files of a simulator: what the audit stream must hold. */
function closedRecords(sim: HemSimulator): number {
  return sim.device
    .fileIds()
    .filter((id) => id !== sim.device.currentFileId)
    .reduce((n, id) => n + sim.device.fileText(id)!.trim().split('\r\n').length - 1, 0);
}

beforeAll(async () => {
  await setupCluster(es);
});

describe('a collection cycle', () => {
  const ingestsAllTitle =
    'ingests every record of every closed file, skips the locked current file quietly, ' +
    'and a second cycle adds nothing';
  it(ingestsAllTitle, async () => {
    const { sim, collector, ns, store } = await rig();
    const first = await collector.cycle();
    expect(first).toMatchObject({
      ok: true,
      filesIngested: 4,
      filesInvalid: 0,
      locked: sim.device.currentFileId,
      alerts: 0,
    });
    const records = closedRecords(sim);
    expect(first.records).toBe(records);
    expect(await countDocs(es, `logs-encedo_hem.audit-${ns}`)).toBe(records);
    expect(await countDocs(es, `logs-encedo_hem.integrity-${ns}`)).toBe(4 + 1); // a record per file, the status
    const second = await collector.cycle();
    expect(second).toMatchObject({ ok: true, filesIngested: 0, written: 0, earlier: 4 });
    expect(await countDocs(es, `logs-encedo_hem.audit-${ns}`)).toBe(records);
    const { state } = await store.load('hem1');
    expect([...state.files.values()].map((f) => f.status)).toEqual(['ingested', 'ingested', 'ingested', 'ingested']);
    expect([...state.files.values()].every((f) => /^[0-9a-f]{64}$/.test(f.sha256) && f.valid)).toBe(true);
  });

  it('files overlap: the next file is read while the previous one waits for its acknowledgement', async () => {
    const events: string[] = [];
    // A slow cluster: every file's acknowledgement arrives 300 ms late.
    const slow = (sink: Sink): Sink => ({
      stats: sink.stats,
      flush: () => sink.flush(),
      close: () => sink.close(),
      abort: (reason) => sink.abort(reason),
      open(unitId) {
        const unit = sink.open(unitId);
        let first = true;
        return {
          async write(doc) {
            if (first) events.push(`send ${unitId}`);
            first = false;
            return unit.write(doc);
          },
          async end() {
            const summary = await unit.end();
            await new Promise((r) => setTimeout(r, 300));
            events.push(`ack ${unitId}`);
            return summary;
          },
        };
      },
    });
    const { sim, collector, ns, store } = await rig({ wrapSink: slow });
    // The order in which files become checkpointed as ingested.
    const checkpointed: string[] = [];
    const save = store.save.bind(store);
    store.save = async (state, options) => {
      for (const [id, f] of state.files)
        if (f.status === 'ingested' && !checkpointed.includes(id)) checkpointed.push(id);
      return save(state, options);
    };
    const result = await collector.cycle();
    expect(result).toMatchObject({ ok: true, filesIngested: 4 });
    const files = sim.device.fileIds().filter((id) => id !== sim.device.currentFileId);
    const at = (e: string) => events.indexOf(e);
    // The second file was on its way before the first was acknowledged...
    expect(at(`send hem1/${files[1]}`)).toBeLessThan(at(`ack hem1/${files[0]}`));
    // ...acknowledgements may come in any order (requests run side by side), checkpoints keep the listing order.
    expect(events.filter((e) => e.startsWith('ack hem1/') && files.some((id) => e.endsWith(id)))).toHaveLength(4);
    expect(checkpointed).toEqual(files);
    expect(await countDocs(es, `logs-encedo_hem.audit-${ns}`)).toBe(closedRecords(sim));
    const { state } = await store.load('hem1');
    expect([...state.files.keys()].sort()).toEqual([...files].sort());
  });

  it('tags our own polling (login, list, read) as self-generated', async () => {
    const { sim, collector, ns } = await rig({ sim: { boots: 1 } });
    await collector.cycle();
    sim.device.reboot();
    await collector.cycle(); // ingests the file our first cycle wrote into
    const index = `logs-encedo_hem.audit-${ns}`;
    const self = await countDocs(es, index, { term: { 'encedo_hem.self_generated': true } });
    const reads = await countDocs(es, index, {
      bool: {
        filter: [
          { term: { tags: 'self_generated' } },
          { terms: { 'event.action': ['audit-log-read', 'audit-log-list', 'login-passphrase'] } },
        ],
      },
    });
    expect(self).toBeGreaterThanOrEqual(3);
    expect(reads).toBe(self);
  });

  it('a reboot mid-run: the old token dies, the client logs in again, the closed file is ingested', async () => {
    const { sim, collector } = await rig({ sim: { boots: 2 } });
    await collector.cycle();
    const closing = sim.device.currentFileId;
    sim.device.appendEvents(25);
    sim.device.reboot();
    const r = await collector.cycle();
    expect(r).toMatchObject({ ok: true, filesIngested: 1, filesInvalid: 0 });
    expect(r.locked).not.toBe(closing);
  });

  it('an expired token is renewed without noise', async () => {
    let now = 1_900_000_000;
    const { collector, sim } = await rig({ sim: { boots: 1, clock: () => now } });
    await collector.cycle();
    now += 9 * 3600;
    sim.device.reboot();
    expect((await collector.cycle()).ok).toBe(true);
  });

  it('a file that fails verification is indexed, flagged, and raises one alert per problem kind', async () => {
    const { sim, collector, ns, alerts } = await rig();
    const victim = sim.device.fileIds()[1]!;
    sim.device.tamper(victim, 'edit', 10);
    sim.device.tamper(victim, 'drop', 20);
    const r = await collector.cycle();
    expect(r).toMatchObject({ ok: true, filesIngested: 4, filesInvalid: 1 });
    expect(r.problems).toMatchObject({ mac_mismatch: 1, seq_gap: 1 });
    expect((await alerts()).map((a) => a.kind).sort()).toEqual(['mac_mismatch', 'seq_gap']);
    expect(
      await countDocs(es, `logs-encedo_hem.audit-${ns}`, { term: { 'encedo_hem.integrity.status': 'unverified' } }),
    ).toBe(1);
    expect(
      await countDocs(es, `logs-encedo_hem.integrity-${ns}`, {
        bool: { filter: [{ term: { 'encedo_hem.file.id': victim } }, { term: { 'encedo_hem.file.valid': false } }] },
      }),
    ).toBe(1);
  });

  it('a file changed after ingestion is an alert and is not ingested again', async () => {
    const { sim, collector, alerts, store } = await rig({ device: { recheck_interval: 0 } });
    await collector.cycle();
    const victim = sim.device.fileIds()[0]!;
    sim.device.tamper(victim, 'truncate');
    const r = await collector.cycle();
    expect(r).toMatchObject({ ok: true, filesIngested: 0, written: 0 });
    const [alert] = await alerts('file_changed');
    expect(alert?.message).toMatch(new RegExp(`${victim} changed after it was ingested \\(shorter by 12 bytes`));
    expect((await store.load('hem1')).state.files.get(victim)?.status).toBe('changed');
    await collector.cycle();
    expect(await alerts('file_changed')).toHaveLength(1); // one change, one alert
  });

  it('a file that vanished from the listing is an alert', async () => {
    const { sim, collector, alerts } = await rig();
    await collector.cycle();
    const victim = sim.device.fileIds()[2]!;
    sim.device.tamper(victim, 'delete');
    await collector.cycle();
    const [alert] = await alerts('file_vanished');
    expect(alert?.message).toContain(`${victim} (`);
  });

  it('a changed logger key halts the device (halt), until the operator accepts it', async () => {
    const { sim, collector, alerts, store } = await rig();
    await collector.cycle();
    const newKey = sim.device.replaceLoggerKey();
    const r = await collector.cycle();
    expect(r).toMatchObject({ ok: false, halted: true, filesIngested: 0 });
    expect(r.error?.message).toMatch(/accept-key|halted/);
    expect((await alerts('logger_key_changed'))[0]?.message).toContain(newKey);
    expect((await collector.cycle()).halted).toBe(true);
    const { state } = await store.load('hem1');
    expect(state.halted?.newKey).toBe(newKey);
    // What `hem-forwarder state accept-key hem1` does:
    state.loggerKey = { trusted: newKey, source: 'accepted', since: new Date().toISOString() };
    state.halted = null;
    await store.save(state);
    expect(await collector.cycle()).toMatchObject({ ok: true, halted: false, filesIngested: 1, filesInvalid: 0 });
  });

  it('a changed logger key with on_key_change: alert raises the alert and carries on with the new key', async () => {
    const { sim, collector, alerts } = await rig({ device: { on_key_change: 'alert' } });
    await collector.cycle();
    sim.device.replaceLoggerKey();
    const r = await collector.cycle();
    expect(r).toMatchObject({ ok: true, halted: false, filesIngested: 1, filesInvalid: 0 });
    expect(await alerts('logger_key_changed')).toHaveLength(1);
  });
});

describe('the engine is unavailable for a while', () => {
  it('the cycle waits for it, and every document is indexed once', async () => {
    // A TCP relay in front of the engine that the test can take down and bring back.
    const target = new URL(clusterUrl());
    const sockets = new Set<Socket>();
    let relay: Server | null = null;
    const up = (port: number) =>
      new Promise<number>((resolve) => {
        relay = createServer((client) => {
          const upstream = connect(Number(target.port), target.hostname);
          sockets.add(client).add(upstream);
          client.pipe(upstream).pipe(client);
          const close = () => {
            client.destroy();
            upstream.destroy();
          };
          client.on('error', close).on('close', close);
          upstream.on('error', close).on('close', close);
        }).listen(port, '127.0.0.1', () => resolve((relay!.address() as { port: number }).port));
      });
    const down = () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        relay!.close(() => resolve());
      });
    const port = await up(0);
    const { sim, collector, ns, sink } = await rig({
      sim: { boots: 6, eventsPerBoot: 300 },
      esUrl: `http://127.0.0.1:${port}`,
    });
    await down();
    setTimeout(() => void up(port), 1500);
    const r = await collector.cycle();
    expect(r).toMatchObject({ ok: true, filesIngested: 6 });
    expect(sink.stats.retries).toBeGreaterThan(0);
    expect(await countDocs(es, `logs-encedo_hem.audit-${ns}`)).toBe(closedRecords(sim));
    await down();
  });
});
