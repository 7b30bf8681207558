import { ApiResponseError, type ApiClient } from './api-client.js';
import type { EnqueuedRun, JobRun } from './api-types.js';
import { CliError, ExitCode } from './errors.js';
import { jobPath } from './job-paths.js';
import { runDuration } from './run-view.js';
import { waitForRun } from './wait-for-run.js';

/** One step of a script: a job and its payload. */
export interface ScriptStep {
  job: string;
  data?: Record<string, unknown>;
}

/**
 * The runbook's automation scripts, daily-maintenance.sh and
 * weekly-maintenance.sh, as lists of jobs run in order. Each runbook line
 * `npm run <command>` is the job that command runs.
 */
export const maintenanceScripts: Readonly<Record<string, { description: string; steps: readonly ScriptStep[] }>> = {
  daily: {
    description: 'daily maintenance: clean tokens, check health, verify backups, update metrics',
    steps: [{ job: 'token-cleanup' }, { job: 'health-check' }, { job: 'verify-backup' }, { job: 'metrics-update' }],
  },
  weekly: {
    description: 'weekly maintenance: security review, performance analysis, storage cleanup, weekly report',
    steps: [{ job: 'security-review' }, { job: 'performance-analysis' }, { job: 'storage-cleanup' }, { job: 'weekly-report' }],
  },
};

export interface StepOutcome {
  job: string;
  id: string;
  state: string;
  duration: string | null;
}

export interface ScriptOptions {
  /** How long each step may take. */
  stepTimeoutMs: number;
  /** Receives one line per step start and end. */
  report: (line: string) => void;
}

/** Explains why a step could not be enqueued: a job that does not exist is named as such. */
function enqueueFailure(label: string, step: ScriptStep, error: unknown): CliError {
  if (error instanceof ApiResponseError && error.body?.code === 'JOB_NOT_FOUND') {
    return new CliError(`${label} failed: job ${step.job} does not exist on this Shipshape API; no later step ran`, ExitCode.jobFailed);
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new CliError(`${label} failed: ${step.job} could not be enqueued (${reason}); no later step ran`, error instanceof CliError ? error.exitCode : ExitCode.error);
}

/**
 * Runs `steps` one after the other through the API, waiting for each run to
 * finish, and stops at the first step that cannot be enqueued, fails or times
 * out: the CliError it throws names the step, its job and the reason, and
 * carries the exit code (1 for a failed or missing job, 2 for an API error,
 * 3 for a timeout). Returns the outcome of every step when all completed.
 */
export async function runScript(client: ApiClient, steps: readonly ScriptStep[], options: ScriptOptions): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const [index, step] of steps.entries()) {
    const label = `step ${index + 1}/${steps.length} (${step.job})`;
    options.report(`${label}: starting`);

    let enqueued: EnqueuedRun;
    try {
      enqueued = await client.post<EnqueuedRun>(jobPath(step.job), { body: { data: step.data ?? {} } });
    } catch (error) {
      throw enqueueFailure(label, step, error);
    }

    let run: JobRun;
    try {
      run = await waitForRun(client, enqueued.name, enqueued.id, {
        timeoutMs: options.stepTimeoutMs,
        onPollFailure: (message) => process.stderr.write(`warning: ${message}\n`),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new CliError(`${label} did not finish: ${reason}; no later step ran`, error instanceof CliError ? error.exitCode : ExitCode.error);
    }

    const outcome = { job: step.job, id: run.id, state: run.state, duration: runDuration(run) ?? null };
    if (run.state !== 'completed') {
      throw new CliError(
        `${label} failed: ${step.job} ${run.id} ${run.state} after ${run.attempts.made} of ${run.attempts.max} attempts: ` +
          `${run.failedReason ?? 'no reason recorded'}; no later step ran`,
        ExitCode.jobFailed,
      );
    }
    outcomes.push(outcome);
    options.report(`${label}: completed ${run.id}${outcome.duration ? ` in ${outcome.duration}` : ''}`);
  }
  return outcomes;
}
