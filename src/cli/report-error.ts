import { CommanderError } from 'commander';
import { ApiResponseError } from './api-client.js';
import { CliError, ExitCode } from './errors.js';

/**
 * Prints an error from a command as one line on stderr and returns the exit
 * code. With --json, an API error body is also printed on stdout, so scripts
 * can read its `code`.
 */
export function reportError(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) {
    // Commander has printed its message or the help text already; --help exits with 0.
    return error.exitCode === 0 ? ExitCode.ok : ExitCode.error;
  }

  if (error instanceof CliError) {
    if (json && error instanceof ApiResponseError && error.body) console.log(JSON.stringify(error.body, null, 2));
    console.error(`error: ${error.message}`);
    return error.exitCode;
  }

  console.error(`error: unexpected failure: ${error instanceof Error ? error.message : String(error)}`);
  if (process.env.DEBUG && error instanceof Error) console.error(error.stack);
  return ExitCode.error;
}
