import type { JobRun } from './api-types.js';
import { describeProgress } from './progress.js';
import { formatCell, renderResult } from './table.js';

/** Formats the time a run took, from processedAt to finishedAt, or undefined before it finished. */
export function runDuration(run: JobRun): string | undefined {
  if (!run.processedAt || !run.finishedAt) return undefined;
  const elapsedMs = Date.parse(run.finishedAt) - Date.parse(run.processedAt);
  return elapsedMs < 1000 ? `${elapsedMs} ms` : `${(elapsedMs / 1000).toFixed(1)} s`;
}

/** Describes a run and its outcome in one line, for example `token-cleanup 7 completed in 1.2 s`. */
export function runHeadline(run: JobRun): string {
  const duration = runDuration(run);
  return `${run.name} ${run.id} ${run.state}${duration ? ` in ${duration}` : ''}`;
}

/** Renders the run's result as a field/value table, or a note when there is none. */
export function renderRunResult(run: JobRun): string {
  if (run.result === null || run.result === undefined) return '(no result)';
  return renderResult(run.result, 'result');
}

/** Renders every part of a run's status: state, progress, attempts, times, result, failure and log lines. */
export function renderRunDetails(run: JobRun): string {
  const fields: Array<[string, unknown]> = [
    ['job', run.name],
    ['id', run.id],
    ['queue', run.queue],
    ['state', run.state],
    ['progress', describeProgress(run.progress) || null],
    ['attempts', `${run.attempts.made} of ${run.attempts.max}`],
    ['requested by', run.requestedBy],
    ['payload', run.payload],
    ['created', run.createdAt],
    ['runs at', run.runAt],
    ['processed', run.processedAt],
    ['finished', run.finishedAt],
    ['duration', runDuration(run) ?? null],
    ['failed reason', run.failedReason],
  ];
  const overview = fields.map(([label, value]) => `${`${label}:`.padEnd(15)}${formatCell(value)}`).join('\n');
  const logs = run.logs.length === 0 ? ['  (none)'] : run.logs.map((line) => `  ${line}`);

  return [overview, '', 'result', renderRunResult(run), '', 'logs', ...logs].join('\n');
}
