import type { Logger } from 'pino';
import type { DeviceConfig } from '../config/schema.js';
import { backoffDelay, sleep } from '../shared/backoff.js';
import { errorCode } from '../shared/errors.js';
import type { CycleResult, DeviceCollector } from './device-collector.js';

/** What the poll loop needs of a device: its collector and its config. */
export interface Polled {
  readonly collector: DeviceCollector;
  readonly config: DeviceConfig;
}

const ERROR_BACKOFF_BASE_MS = 10_000;
const ERROR_BACKOFF_MAX_MS = 30 * 60_000;
const REPEAT_LOG_MS = 5 * 60_000;

/**
 * Polls one device until `signal` aborts: a cycle every poll interval, or sooner-then-slower after
 * errors (exponential backoff). A failing device logs once per streak and then at most every 5 minutes.
 */
export async function pollDevice(
  handle: Polled,
  log: Logger,
  signal: AbortSignal,
  onCycle?: (r: CycleResult) => void,
): Promise<void> {
  let failures = 0;
  let lastLogged = 0;
  while (!signal.aborted) {
    const result = await handle.collector.cycle(signal);
    onCycle?.(result);
    let wait = handle.config.poll_interval;
    if (result.error && !signal.aborted) {
      failures++;
      wait = Math.max(
        1000,
        backoffDelay(failures - 1, ERROR_BACKOFF_BASE_MS, ERROR_BACKOFF_MAX_MS, () => 0.5 + Math.random() / 2),
      );
      if (failures === 1 || Date.now() - lastLogged > REPEAT_LOG_MS) {
        lastLogged = Date.now();
        log.error(
          { device: handle.config.name, failures, retry_in_ms: wait, code: errorCode(result.error) },
          failures === 1 ? result.error.message : `still failing after ${failures} attempts: ${result.error.message}`,
        );
      }
    } else if (failures > 0) {
      log.info({ device: handle.config.name, failures }, 'device collection recovered');
      failures = 0;
    }
    await sleep(wait, signal);
  }
}
