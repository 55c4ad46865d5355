import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ECS_VERSION } from '../../../src/ecs/audit-shape.js';
import { LOG_DATASET, createLogger } from '../../../src/observability/logger.js';
import { PACKAGE_VERSION } from '../../../src/shared/package-info.js';
import { ecsViolations } from '../../helpers/ecs-validate.js';

function capture(): { lines: () => Record<string, unknown>[]; destination: Writable } {
  let text = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const lines = () =>
    text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, destination };
}

/** A dotted-key line as nested objects, the way a cluster reads it. */
function nested(line: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(line)) {
    const path = key.split('.');
    let at = out;
    for (const p of path.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[path.at(-1)!] = value;
  }
  return out;
}

describe("the forwarder's own logs", () => {
  it('are ECS of the version they name, with service and dataset, own fields under encedo_hem', async () => {
    const { lines, destination } = capture();
    const log = await createLogger({ level: 'info', format: 'ecs', destination });
    const device = log.child({ device: 'hem1' });
    device.info({ file: '6774f7b9', records: 12, passphrase: 'hunter2' }, 'file ingested');
    device.error({ err: new TypeError('boom') }, 'cycle failed');
    log.warn({ event: { action: 'x' } }, 'an ECS field passes through');
    const [ingested, failed, passed] = lines();
    for (const line of lines()) {
      expect(line['ecs.version']).toBe(ECS_VERSION);
      expect(line['service.name']).toBe('encedo-hem-forwarder');
      expect(line['service.version']).toBe(PACKAGE_VERSION);
      expect(line['event.dataset']).toBe(LOG_DATASET);
      expect(ecsViolations(nested(line))).toEqual([]);
    }
    // `file` and `device` would collide with ECS objects of those names at the top level.
    expect(ingested).not.toHaveProperty('file');
    expect(ingested!.encedo_hem).toEqual({ device: 'hem1', file: '6774f7b9', records: 12, passphrase: '[redacted]' });
    expect(nested(failed!).error).toMatchObject({ type: 'TypeError', message: 'boom' });
    expect(passed!.event).toEqual({ action: 'x' });
  });
  it('are pretty text when asked (the printer is loaded only then), secrets redacted either way', async () => {
    let text = '';
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        text += chunk.toString();
        done();
      },
    });
    const log = await createLogger({ level: 'info', format: 'pretty', destination });
    log.info({ device: 'hem1', passphrase: 'hunter2' }, 'logged in');
    expect(text).toMatch(/INFO.*logged in/);
    expect(text).toContain('hem1');
    expect(text).not.toContain('hunter2');
    expect(() => JSON.parse(text)).toThrow();
  });
});
