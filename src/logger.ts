import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Creates the process logger. Output is JSON lines on stdout; pipe it through
 * `pino-pretty` to read it in a terminal.
 */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  const options: LoggerOptions = {
    level,
    base: { pid: process.pid, ...bindings },
    redact: { paths: ['*.password', '*.token', 'req.headers.authorization'], censor: '[redacted]' },
  };
  return pino(options);
}
