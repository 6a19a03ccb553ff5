/** Exit codes of the vdm CLI: success, the guest or a device did not work, bad input. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_BAD_INPUT = 2;

export type ExitCode = typeof EXIT_FAILURE | typeof EXIT_BAD_INPUT;

/**
 * The one error type every vdm error extends: a message written for the user, the exit code the
 * CLI ends with, and the underlying error (if any) as `cause`. The CLI prints the message of a
 * VdmError and nothing else; any other error is a vdm bug and is reported as such.
 */
export class VdmError extends Error {
  override name = 'VdmError';
  /** 1: the guest or a device failed; 2: the input (command line or a file) was wrong. */
  readonly exitCode: ExitCode = EXIT_FAILURE;
  /**
   * Where in the user's input the failing thing came from ("host function 0000:01:00.0: h.json: pci[2]"),
   * added by a caller that knows.
   */
  context: string | undefined;

  constructor(message: string, options?: { cause?: unknown; exitCode?: ExitCode }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.exitCode !== undefined) this.exitCode = options.exitCode;
  }

  /** The message with its context, as the CLI prints it. */
  describe(): string {
    return this.context ? `${this.message} (${this.context})` : this.message;
  }
}

/** Bad input (command line or file): exit 2. */
export class BadInputError extends VdmError {
  override name = 'BadInputError';
  override readonly exitCode: ExitCode = EXIT_BAD_INPUT;
}
