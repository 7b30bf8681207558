import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { TEST_ADMIN_TOKEN, TEST_RATE_LIMIT_MAX } from './app.js';
import { TEST_REDIS_URL } from './services.js';
import { waitFor } from './wait.js';

const workerEntry = fileURLToPath(new URL('../../src/jobs/worker-main.ts', import.meta.url));
const apiEntry = fileURLToPath(new URL('../../src/server/main.ts', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when a log line containing `text` appears. */
  waitForLog(text: string): Promise<void>;
  /** Resolves with the exit code (or the signal name) once the process exits by itself. */
  exited(): Promise<number | string>;
  /** Sends `signal` and resolves with the exit code (or the signal name). */
  stop(signal: NodeJS.Signals): Promise<number | string>;
}

/** Starts `npm run start:worker` as a separate OS process against the test file's database and prefix. */
export function startWorkerProcess(env: Record<string, string>, args: string[] = []): WorkerProcess {
  return startProcess(workerEntry, env, args);
}

/**
 * Starts `npm run start:api` as a separate OS process. It accepts
 * TEST_ADMIN_TOKEN and rate-limits at TEST_RATE_LIMIT_MAX, unless `env` sets
 * SHIPSHAPE_ADMIN_TOKEN or RATE_LIMIT_MAX itself.
 */
export function startApiProcess(env: Record<string, string>): WorkerProcess {
  const defaults = { SHIPSHAPE_ADMIN_TOKEN: TEST_ADMIN_TOKEN, RATE_LIMIT_MAX: String(TEST_RATE_LIMIT_MAX) };
  return startProcess(apiEntry, { ...defaults, ...env }, []);
}

function startProcess(entry: string, env: Record<string, string>, args: string[]): WorkerProcess {
  // Node itself, with tsx as a loader: a signal reaches the worker, not a launcher that would leave it orphaned.
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    env: { ...process.env, REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  return {
    child,
    output: () => output,
    waitForLog: async (text) => {
      await waitFor(`worker log line "${text}"; output so far:\n${output}`, () => (output.includes(text) ? true : undefined));
    },
    exited: async () => {
      const [code, exitSignal] = await exited;
      return code ?? exitSignal ?? 'unknown';
    },
    stop: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, exitSignal] = await exited;
      return code ?? exitSignal ?? 'unknown';
    },
  };
}
