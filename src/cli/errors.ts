import { BadInputError } from '../util/errors.ts';

export { EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT } from '../util/errors.ts';

/** A user mistake on the command line: exit code 2 with this message. */
export class UsageError extends BadInputError {
  override name = 'UsageError';
}
