import { describe, expect, it } from 'vitest';
import type { CycleResult } from '../../../src/collector/device-collector.js';
import { summarize } from '../../../src/cli/run-command.js';
import { type DeviceView, OUTPUT_FAILING_AFTER_MS, health } from '../../../src/observability/health.js';

const result = (over: Partial<CycleResult> = {}): CycleResult => ({
  device: 'hem1',
  ok: true,
  halted: false,
  filesIngested: 2,
  filesInvalid: 0,
  filesSkipped: 0,
  records: 10,
  verified: 10,
  problems: {},
  alerts: 0,
  written: 12,
  duplicates: 0,
  deadLettered: 0,
  locked: null,
  earlier: 0,
  interrupted: false,
  ...over,
});

const view = (name: string, over: Partial<DeviceView> = {}): DeviceView => ({
  name,
  requestDeadlineMs: 60_000,
  cycleStartedAt: null,
  progressAt: 0,
  last: undefined,
  held: true,
  ...over,
});

describe('the run summary', () => {
  it('a cycle that dead-lettered documents is reported and is not a clean run', () => {
    const clean = summarize([result()], 'x');
    expect(clean.ok).toBe(true);
    const dead = summarize([result({ deadLettered: 3 })], 'x');
    expect(dead.ok).toBe(false);
    expect(dead.text).toMatch(/3 documents DEAD-LETTERED/);
  });

  it('skipped files and an interruption are named', () => {
    const s = summarize([result({ filesSkipped: 1, interrupted: true, ok: false })], 'x', 'SIGTERM');
    expect(s.ok).toBe(false);
    expect(s.text).toMatch(/hem1: INTERRUPTED; .*1 SKIPPED \(see alerts\)/);
    expect(s.text).toMatch(/INTERRUPTED by SIGTERM/);
  });
});

describe('/healthz and /readyz', () => {
  const now = 10_000_000;
  const fine = { failingSince: null };
  it('a device in its first cycle is starting (healthy, not ready) until it stops moving: then it is stuck', () => {
    const fresh = health([view('a', { cycleStartedAt: now - 5000, progressAt: now - 1000 })], fine, now);
    expect(fresh).toMatchObject({ healthy: true, ready: false, body: { status: 'ok', devices: { a: 'starting' } } });
    const stuck = health([view('a', { cycleStartedAt: now - 500_000, progressAt: now - 200_000 })], fine, now);
    expect(stuck).toMatchObject({ healthy: false, body: { status: 'unhealthy', devices: { a: 'stuck' } } });
  });

  it('retrying devices are degraded (healthy); halted ones are not; ready after the first good cycle', () => {
    const h = health(
      [
        view('a', { last: { ok: true, halted: false } }),
        view('b', { last: { ok: false, halted: false } }),
        view('c', { last: { ok: false, halted: true } }),
        view('d', { held: false }),
      ],
      fine,
      now,
    );
    expect(h.body.devices).toEqual({ a: 'ok', b: 'degraded', c: 'halted', d: 'standby' });
    expect(h).toMatchObject({ healthy: false, ready: true });
    const degraded = health([view('b', { last: { ok: false, halted: false } })], fine, now);
    expect(degraded).toMatchObject({ healthy: true, ready: false });
    // In a fleet, an instance holding nothing has joined: ready.
    expect(health([view('d', { held: false })], fine, now).ready).toBe(true);
  });

  it('an output retrying for over a minute without storing anything is unhealthy', () => {
    const devices = [view('a', { last: { ok: true, halted: false } })];
    expect(health(devices, { failingSince: now - 5000 }, now).healthy).toBe(true);
    const failing = health(devices, { failingSince: now - OUTPUT_FAILING_AFTER_MS - 1 }, now);
    expect(failing).toMatchObject({ healthy: false, body: { output: { failing: true } } });
    expect(failing.body.output.failing_since).toBe(new Date(now - OUTPUT_FAILING_AFTER_MS - 1).toISOString());
  });
});
