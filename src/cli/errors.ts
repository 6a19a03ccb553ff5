/** Exit codes of the vdm CLI. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;

/** A user mistake on the command line or in an input file: exit code 2 with this message. */
export class UsageError extends Error {
  override name = 'UsageError';
}
