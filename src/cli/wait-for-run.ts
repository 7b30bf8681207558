import { setTimeout as sleep } from 'node:timers/promises';
import { REQUEST_TIMEOUT_MS, RequestTimeoutError, type ApiClient } from './api-client.js';
import type { JobRun } from './api-types.js';
import { CliError, ExitCode } from './errors.js';
import { runPath } from './job-paths.js';

export const POLL_INTERVAL_MS = 250;
const MIN_REQUEST_MS = 1000;

// BullMQ moves an attempt that fails with attempts left to delayed or waiting,
// so a run reaches `failed` only after its last attempt.
const FINAL_STATES = new Set(['completed', 'failed']);

export interface WaitOptions {
  timeoutMs: number;
  onUpdate?: (run: JobRun) => void;
}

/**
 * Polls the status of one run every POLL_INTERVAL_MS until it completes or
 * fails, and returns its last status. Throws a CliError with exit code 3 when
 * `timeoutMs` passes first; the run itself goes on.
 */
export async function waitForRun(client: ApiClient, job: string, id: string, options: WaitOptions): Promise<JobRun> {
  const deadline = Date.now() + options.timeoutMs;
  let lastState = 'unknown';

  const timedOut = () =>
    new CliError(
      `timed out after ${options.timeoutMs / 1000} s waiting for ${job} ${id} (last state: ${lastState}); ` +
        `the run goes on, check it with: npm run -s shipshape -- status ${job} ${id}`,
      ExitCode.timedOut,
    );

  for (;;) {
    // The last poll, at the deadline, still gets MIN_REQUEST_MS for its response.
    const requestTimeoutMs = Math.min(REQUEST_TIMEOUT_MS, Math.max(MIN_REQUEST_MS, deadline - Date.now()));
    let run: JobRun;
    try {
      run = await client.get<JobRun>(runPath(job, id), { timeoutMs: requestTimeoutMs });
    } catch (error) {
      if (error instanceof RequestTimeoutError && Date.now() >= deadline) throw timedOut();
      throw error;
    }

    lastState = run.state;
    options.onUpdate?.(run);
    // The status route reads the job before its state, so a poll that races the
    // finish can report `completed` without a result. Only a finished run has finishedAt.
    if (FINAL_STATES.has(run.state) && run.finishedAt !== null) return run;

    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timedOut();
    await sleep(Math.min(POLL_INTERVAL_MS, remaining));
  }
}
