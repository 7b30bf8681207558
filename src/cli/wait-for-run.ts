import { setTimeout as sleep } from 'node:timers/promises';
import { ApiResponseError, ApiUnreachableError, REQUEST_TIMEOUT_MS, RequestTimeoutError, type ApiClient } from './api-client.js';
import type { JobRun } from './api-types.js';
import { CliError, ExitCode } from './errors.js';
import { runPath } from './job-paths.js';

export const POLL_INTERVAL_MS = 250;
/** Time between polls while the API is away, so a restart does not meet a burst of requests. */
const RETRY_INTERVAL_MS = 1000;
const MIN_REQUEST_MS = 1000;

// BullMQ moves an attempt that fails with attempts left to delayed or waiting,
// so a run reaches `failed` only after its last attempt.
const FINAL_STATES = new Set(['completed', 'failed']);

export interface WaitOptions {
  timeoutMs: number;
  onUpdate?: (run: JobRun) => void;
  /** Called when a poll fails in a way that may pass, such as the API restarting; polling goes on. */
  onPollFailure?: (message: string) => void;
}

/** Returns true for a failed poll that may succeed later: the API unreachable, slow, or returning 5xx. */
function isPassing(error: unknown): boolean {
  if (error instanceof ApiUnreachableError || error instanceof RequestTimeoutError) return true;
  return error instanceof ApiResponseError && error.status >= 500;
}

/**
 * Polls the status of one run every POLL_INTERVAL_MS until it completes or
 * fails, and returns its last status. Throws a CliError with exit code 3 when
 * `timeoutMs` passes first; the run itself goes on. A poll that fails because
 * the API is away or restarting is retried until the same deadline.
 */
export async function waitForRun(client: ApiClient, job: string, id: string, options: WaitOptions): Promise<JobRun> {
  const deadline = Date.now() + options.timeoutMs;
  let lastState = 'unknown';

  let lastProblem: string | null = null;
  const timedOut = () =>
    new CliError(
      `timed out after ${options.timeoutMs / 1000} s waiting for ${job} ${id} (last state: ${lastState}` +
        `${lastProblem ? `; last poll: ${lastProblem}` : ''}); the run goes on, check it with: npm run -s shipshape -- status ${job} ${id}`,
      ExitCode.timedOut,
    );

  for (;;) {
    // The last poll, at the deadline, still gets MIN_REQUEST_MS for its response.
    const requestTimeoutMs = Math.min(REQUEST_TIMEOUT_MS, Math.max(MIN_REQUEST_MS, deadline - Date.now()));
    let run: JobRun;
    try {
      run = await client.get<JobRun>(runPath(job, id), { timeoutMs: requestTimeoutMs });
    } catch (error) {
      if (!isPassing(error)) throw error;
      const message = (error as Error).message;
      if (lastProblem === null) options.onPollFailure?.(`${message}; still waiting for ${job} ${id}, which goes on`);
      lastProblem = message;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw timedOut();
      await sleep(Math.min(RETRY_INTERVAL_MS, remaining));
      continue;
    }

    lastProblem = null;
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
