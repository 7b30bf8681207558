import type { JobEnvelope } from '../jobs/contract.js';

/**
 * The job data of a run that belongs to a schedule but was not produced by
 * its BullMQ scheduler: a missed run enqueued at API start, or a run an
 * operator requested through POST /api/schedules/:id/run. Runs a scheduler
 * produced carry only the envelope; BullMQ marks them with `repeatJobKey`.
 */
export interface ScheduledRunData extends JobEnvelope {
  schedule?: {
    id: string;
    trigger: 'missed' | 'run-now';
    /** Missed runs: the first slot that passed without a run, in epoch milliseconds. */
    slot?: number;
    /** Missed runs: how many slots passed without a run. */
    missedSlots?: number;
  };
}

/** Returns the id of the one missed run of `job` for `slot`. BullMQ ignores a second add with the same id. */
export function missedRunJobId(job: string, slot: number): string {
  return `missed-${job}-${slot}`;
}

/** True for a calendar run that was not produced by the scheduler: a missed run. */
export function isMissedRun(data: unknown): boolean {
  return (data as ScheduledRunData | undefined)?.schedule?.trigger === 'missed';
}
