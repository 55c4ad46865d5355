// What /healthz and /readyz say: pure, from what the collectors and the output report.

/**
 * starting: no cycle ended yet; ok: the last cycle succeeded; degraded: it failed and is being retried (with
 * backoff); halted: a logger key change waits for `state accept-key`; stuck: a cycle has not moved forward for
 * longer than its request deadline plus a minute (no single request can take that long); standby: another
 * instance holds the device's lease.
 */
export type DeviceHealth = 'starting' | 'ok' | 'degraded' | 'halted' | 'stuck' | 'standby';

export interface DeviceView {
  readonly name: string;
  readonly requestDeadlineMs: number;
  readonly cycleStartedAt: number | null;
  readonly progressAt: number;
  /** The last cycle's outcome; undefined before the first ended. */
  readonly last: { readonly ok: boolean; readonly halted: boolean } | undefined;
  /** False when another instance holds the lease. */
  readonly held: boolean;
}

/** An output retrying for longer than this (no document stored meanwhile) is failing. */
export const OUTPUT_FAILING_AFTER_MS = 60_000;

export interface Health {
  /** /healthz: 503 when false. */
  readonly healthy: boolean;
  /** /readyz: 503 until the first cycle succeeded (or, in a fleet, this instance joined holding nothing). */
  readonly ready: boolean;
  readonly body: {
    readonly status: 'ok' | 'unhealthy';
    readonly devices: Record<string, DeviceHealth>;
    readonly output: { readonly failing: boolean; readonly failing_since: string | null };
  };
}

export function health(
  devices: readonly DeviceView[],
  output: { readonly failingSince: number | null },
  now: number,
): Health {
  const states: Record<string, DeviceHealth> = {};
  for (const d of devices) {
    const moving = d.cycleStartedAt === null || now - d.progressAt <= d.requestDeadlineMs + 60_000;
    if (!moving) states[d.name] = 'stuck';
    else if (!d.held && d.cycleStartedAt === null) states[d.name] = 'standby';
    else if (d.last === undefined) states[d.name] = 'starting';
    else states[d.name] = d.last.halted ? 'halted' : d.last.ok ? 'ok' : 'degraded';
  }
  const failing = output.failingSince !== null && now - output.failingSince > OUTPUT_FAILING_AFTER_MS;
  const values = Object.values(states);
  const healthy = !failing && values.every((s) => s !== 'halted' && s !== 'stuck');
  const ready = devices.some((d) => d.last?.ok) || (devices.length > 0 && values.every((s) => s === 'standby'));
  return {
    healthy,
    ready,
    body: {
      status: healthy ? 'ok' : 'unhealthy',
      devices: states,
      output: {
        failing,
        failing_since: output.failingSince === null ? null : new Date(output.failingSince).toISOString(),
      },
    },
  };
}
