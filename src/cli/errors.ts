/** A problem with how the command was called or with its inputs: exit status 2, one line, no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;
/** Stopped (SIGINT/SIGTERM, or `once_timeout`) before the work was done: what is unfinished runs again next time. */
export const EXIT_INTERRUPTED = 3;
