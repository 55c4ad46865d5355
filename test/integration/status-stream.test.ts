import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupCluster } from '../../src/sinks/elasticsearch/setup.js';
import { type Rig, cleanupRigs, es, rig } from '../helpers/collector-rig.js';

beforeAll(async () => {
  await setupCluster(es); // the templates, so the status fields have their types
});
afterAll(cleanupRigs);

interface StatusDoc {
  '@timestamp': string;
  event: { kind: string; action: string };
  observer: { name: string; serial_number: string; version: string };
  encedo_hem: { status: Record<string, unknown> };
}

async function statusDocs(r: Rig): Promise<StatusDoc[]> {
  const index = `logs-encedo_hem.integrity-${r.ns}`;
  await es.indices.refresh({ index, ignore_unavailable: true });
  const found = await es.search({
    index,
    ignore_unavailable: true,
    size: 100,
    sort: [{ '@timestamp': 'asc' }],
    query: { term: { 'event.action': 'device-status' } },
  });
  return found.hits.hits.map((h) => h._source as StatusDoc);
}

describe('the device status stream', () => {
  it('writes a status document when the status changes, counts failures, and reports a halt', async () => {
    const r = await rig({ device: { status_interval: '1h' } });
    const current = r.sim.device.currentFileId;
    const closed = r.sim.device.fileIds().filter((id) => id !== current);
    await r.collector.cycle();
    let docs = await statusDocs(r);
    expect(docs).toHaveLength(1);
    const first = docs[0]!;
    expect(first.event).toMatchObject({ kind: 'state', action: 'device-status' });
    expect(first.observer).toMatchObject({ name: 'hem1', serial_number: r.sim.device.serial });
    expect(first.observer.version).toMatch(/^Encedo nGINE FW/);
    const since = new Date(Number.parseInt(current, 16) * 1000).toISOString();
    expect(first.encedo_hem.status).toMatchObject({
      state: 'ok',
      halted: false,
      consecutive_failures: 0,
      current_file_id: current,
      current_file_since: since,
      last_file_ingested: closed.at(-1),
      logger_key_source: 'config',
    });
    expect(first.encedo_hem.status.unreleased_seconds).toBeGreaterThanOrEqual(0);
    expect(first.encedo_hem.status.logger_key_fingerprint).toMatch(/^[0-9a-f]{64}$/);

    await r.collector.cycle(); // nothing changed, status_interval not reached: no new document
    expect(await statusDocs(r)).toHaveLength(1);

    r.sim.device.faultState = 0x02; // 409 on every call: the device is unreachable for collection
    await r.collector.cycle();
    await r.collector.cycle();
    r.sim.device.faultState = 0;
    await r.collector.cycle();
    docs = await statusDocs(r);
    expect(docs.map((d) => [d.encedo_hem.status.state, d.encedo_hem.status.consecutive_failures])).toEqual([
      ['ok', 0],
      ['failing', 1],
      ['failing', 2],
      ['ok', 0],
    ]);
    expect(docs[1]!.encedo_hem.status.last_error).toBe('fault');

    r.sim.device.replaceLoggerKey(); // a wipe: halted until accepted
    await r.collector.cycle();
    docs = await statusDocs(r);
    expect(docs.at(-1)!.encedo_hem.status).toMatchObject({ state: 'halted', halted: true });
  });

  it('measures the unreleased window from the boot time: a device up for 10 days, document and metric', async () => {
    const TEN_DAYS = 10 * 86_400;
    const r = await rig({ sim: { clock: () => Math.floor(Date.now() / 1000) - TEN_DAYS } });
    await r.collector.cycle();
    const status = (await statusDocs(r))[0]!.encedo_hem.status;
    // The device clock is 10 days behind, so its current boot began 10 days ago by our clock.
    expect(status.unreleased_seconds as number).toBeGreaterThanOrEqual(TEN_DAYS);
    expect(status.unreleased_seconds as number).toBeLessThan(TEN_DAYS + 120);
    const metric = (await r.metrics.unreleased.get()).values.find((v) => v.labels.device === 'hem1')!.value;
    expect(metric).toBeGreaterThanOrEqual(TEN_DAYS);
    expect(metric).toBeLessThan(TEN_DAYS + 120);
  });

  it('writes one at least every status_interval even when nothing changed', async () => {
    const r = await rig({ device: { status_interval: '1ms' } });
    await r.collector.cycle();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await r.collector.cycle();
    expect(await statusDocs(r)).toHaveLength(2);
  });
});
