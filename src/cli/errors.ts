/** Exit codes of the shipshape CLI, the same for every command. */
export const ExitCode = {
  ok: 0,
  jobFailed: 1,
  /** A usage error, an API error or an unreachable API. */
  error: 2,
  timedOut: 3,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as one line, `error: <message>`, before exiting with `exitCode`. */
export class CliError extends Error {
  override name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.error,
  ) {
    super(message);
  }
}

/** A wrong argument or option: exit code 2. */
export class UsageError extends CliError {
  override name = 'UsageError';

  constructor(message: string) {
    super(message, ExitCode.error);
  }
}
