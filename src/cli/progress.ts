import type { JobRun } from './api-types.js';
import { flatten, formatCell } from './table.js';

const BAR_WIDTH = 20;

/** Describes a job's progress: a bar for a number from 0 to 100, `key=value` pairs for an object. */
export function describeProgress(progress: unknown): string {
  if (typeof progress === 'number' && Number.isFinite(progress)) {
    const percent = Math.min(100, Math.max(0, progress));
    const filled = Math.round((percent / 100) * BAR_WIDTH);
    return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${Math.round(percent)}%`;
  }
  if (typeof progress === 'object' && progress !== null) {
    return flatten(progress, '')
      .map(([key, value]) => (key ? `${key}=${formatCell(value)}` : formatCell(value)))
      .join(' ');
  }
  return progress === undefined || progress === null || progress === false ? '' : formatCell(progress);
}

/** Describes the state of a run in one line, for example `token-cleanup 7: active step=audit_logs rows=5000`. */
export function describeRunLine(run: JobRun): string {
  const parts = [`${run.name} ${run.id}: ${run.state}`];
  if (run.state === 'active') parts.push(describeProgress(run.progress));
  // A failed attempt with attempts left goes back to waiting or delayed, keeping its reason.
  if (run.failedReason && run.state !== 'failed' && run.state !== 'completed') {
    parts.push(`(attempt ${run.attempts.made} of ${run.attempts.max} failed: ${formatCell(run.failedReason)})`);
  }
  return parts.filter(Boolean).join(' ');
}

export interface ProgressReporter {
  update(run: JobRun): void;
  /** Clears the progress line on a terminal, so the summary starts on a clean line. */
  finish(): void;
}

/**
 * Writes the progress of a run to `stream`: one line rewritten in place on a
 * terminal, otherwise a new line each time the text changes.
 */
export function createProgressReporter(stream: NodeJS.WriteStream): ProgressReporter {
  let last = '';
  const interactive = stream.isTTY === true;

  return {
    update(run) {
      const line = describeRunLine(run);
      if (line === last) return;
      last = line;
      if (interactive) {
        // A line longer than the terminal would wrap, and \r would then rewrite only its last part.
        // Some pseudo-terminals report 0 columns.
        const width = Math.max(20, (stream.columns || 80) - 1);
        stream.write(`\r\x1b[2K${line.length > width ? `${line.slice(0, width - 3)}...` : line}`);
      } else {
        stream.write(`${line}\n`);
      }
    },
    finish() {
      if (interactive && last) stream.write('\r\x1b[2K');
    },
  };
}
