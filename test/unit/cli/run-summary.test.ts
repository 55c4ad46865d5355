import { describe, expect, it } from 'vitest';
import type { CycleResult } from '../../../src/collector/device-collector.js';
import type { DeviceHandle } from '../../../src/app/wiring.js';
import { health, summarize } from '../../../src/cli/run-command.js';

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

const handle = (name: string, activity: { cycleStartedAt: number | null; progressAt: number }): DeviceHandle =>
  ({ config: { name, request_deadline: 60_000 }, collector: { activity } }) as unknown as DeviceHandle;

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

describe('/healthz', () => {
  const now = 10_000_000;
  it('a device in its first cycle is starting (healthy) until it stops moving: then it is stuck', () => {
    const fresh = health([handle('a', { cycleStartedAt: now - 5000, progressAt: now - 1000 })], new Map(), now);
    expect(fresh).toEqual({ healthy: true, details: { devices: { a: 'starting' } } });
    const stuck = health([handle('a', { cycleStartedAt: now - 500_000, progressAt: now - 200_000 })], new Map(), now);
    expect(stuck).toEqual({ healthy: false, details: { devices: { a: 'stuck' } } });
  });

  it('failing and halted devices are unhealthy; ok ones are not', () => {
    const idle = { cycleStartedAt: null, progressAt: now };
    const results = new Map([
      ['a', result({ device: 'a' })],
      ['b', result({ device: 'b', ok: false, error: new Error('x') })],
      ['c', result({ device: 'c', ok: false, halted: true })],
    ]);
    const h = health([handle('a', idle), handle('b', idle), handle('c', idle)], results, now);
    expect(h).toEqual({ healthy: false, details: { devices: { a: 'ok', b: 'failing', c: 'halted' } } });
    expect(health([handle('a', idle)], results, now).healthy).toBe(true);
  });
});
