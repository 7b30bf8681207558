import { ConfigError } from './config.js';

/**
 * Runs a command's main function. A failure prints one line naming what went
 * wrong and sets exit code 1; the stack is printed only with DEBUG set, since
 * operators read this output, not developers.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(error instanceof ConfigError ? message : `error: ${message}`);
    if (process.env.DEBUG && error instanceof Error) console.error(error.stack);
    process.exitCode = 1;
  });
}
