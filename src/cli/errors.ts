import { ForwarderError } from '../shared/errors.js';

// Defined beside exitCodeFor; re-exported so the commands keep importing them from here.
export { EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from '../shared/errors.js';

/** A problem with how the command was called or with its inputs: exit status 2, one line, no stack. */
export class UsageError extends ForwarderError {
  override readonly name = 'UsageError';
  readonly code = 'usage';
  readonly transient = false;
}
