import type { JobContext, JsonValue } from '../contract.js';
import type { StatementResult } from './maintenance-session.js';

/*
 * How vacuum-analyze and reindex report and end a run.
 *
 * A statement that hits lock_timeout is reported and the run goes on. On a
 * live database a table busy with a long transaction is normal. Waiting longer
 * would queue the application's queries behind this job's lock request, and a
 * retry of the whole job would redo the tables already done. Such a run
 * completes and lists `lockTimeouts` to run again later. Any other error is a real
 * problem (a broken index, a missing privilege): the run still goes on with
 * the other targets, then fails with every failure named, so the failure is
 * visible in Bull Board and the maintenance log.
 */

/** Thrown after every target was tried when at least one failed for a reason other than a lock timeout. */
export class UpkeepFailedError extends Error {
  override name = 'UpkeepFailedError';
}

export function resultJson(result: StatementResult): { [key: string]: JsonValue } {
  return Object.fromEntries(Object.entries(result).filter(([, value]) => value !== undefined)) as { [key: string]: JsonValue };
}

/** Logs one line per statement to the job log. */
export async function logResult(context: JobContext, result: StatementResult): Promise<void> {
  const detail = result.outcome === 'done' ? '' : `: ${result.error ?? ''}`;
  await context.log(`${result.outcome} in ${result.durationMs} ms: ${result.statement}${detail}`);
}

/** Throws UpkeepFailedError when a statement failed; lock timeouts alone let the run complete. */
export function failOnErrors(jobName: string, results: readonly StatementResult[]): void {
  const failed = results.filter((result) => result.outcome === 'failed');
  if (failed.length === 0) return;
  const done = results.filter((result) => result.outcome === 'done').map((result) => result.target);
  const timedOut = results.filter((result) => result.outcome === 'lock-timeout').map((result) => result.target);
  throw new UpkeepFailedError(
    `${jobName}: ${failed.map((result) => `${result.target} failed (${result.code}: ${result.error})`).join('; ')}` +
      `; done: ${done.join(', ') || 'none'}; lock timeout: ${timedOut.join(', ') || 'none'}`,
  );
}

/** Stops between statements when the worker shuts down; the run is then handed back to the queue. */
export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new Error('stopped between statements because the worker is shutting down');
}
