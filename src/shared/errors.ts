// The exit statuses live here, not in src/cli, so that the CLI imports this module and never the reverse:
// an import cycle would let a subclass be evaluated before ForwarderError exists.
export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;
/** Stopped (SIGINT/SIGTERM, or `once_timeout`) before the work was done: what is unfinished runs again next time. */
export const EXIT_INTERRUPTED = 3;
/** Not a condition the operator can fix: a bug, reported with its stack. */
export const EXIT_INTERNAL = 70;

/**
 * A condition the forwarder expects and explains in one line (a bad config, a refused output, a device
 * that does not answer), as opposed to a bug.
 */
export abstract class ForwarderError extends Error {
  /** Stable across releases: a metric label, the log field `error.code`, and what picks the exit status. */
  abstract readonly code: string;
  /** Worth retrying later (the same operation may succeed). */
  abstract readonly transient: boolean;
}

/** A device halted on a logger-key change: nothing is collected until the operator accepts the key. */
export class HaltedError extends ForwarderError {
  override readonly name = 'HaltedError';
  readonly code = 'halted';
  readonly transient = false;

  constructor(
    readonly device: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// Codes are unique across the error classes, so the code alone picks the status.
const EXIT_BY_CODE: ReadonlyMap<string, number> = new Map([
  // Something did not verify, or the output refused it (README: `setup` 401/403/unreachable is 1).
  ['halted', EXIT_INVALID],
  ['setup', EXIT_INVALID],
  ['kibana', EXIT_INVALID],
  ['opensearch_dashboards', EXIT_INVALID],
  ['auth', EXIT_INVALID],
  ['rejected', EXIT_INVALID],
  // Stopped before the work was done (the output or the device client was shut down).
  ['aborted', EXIT_INTERRUPTED],
  ['closed', EXIT_INTERRUPTED],
]);

/** The exit status for an error that ends a command: usage and I/O problems are 2, anything unexpected 70. */
export function exitCodeFor(err: unknown): number {
  if (!(err instanceof ForwarderError)) return EXIT_INTERNAL;
  return EXIT_BY_CODE.get(err.code) ?? EXIT_USAGE;
}

/** The error's stable code, or 'internal' for anything that is not a ForwarderError. */
export function errorCode(err: unknown): string {
  return err instanceof ForwarderError ? err.code : 'internal';
}
