import type { Logger } from '../logger.js';
import type { JobEnvelope } from '../jobs/contract.js';
import { CALENDAR_TIME_ZONE, type CalendarEntry } from './calendar.js';
import type { Queue } from 'bullmq';
import { queueNames, type QueueName, type Queues } from './queues.js';

const PAGE_SIZE = 500;

/**
 * Removes the jobs a scheduler produced that wait to run. BullMQ's
 * removeJobScheduler drops only the delayed next job. The due job of an
 * `every` scheduler is already in the waiting list, so it would still run once.
 */
async function removeDueJobs(queue: Queue, schedulerId: string): Promise<void> {
  for (let start = 0; ; start += PAGE_SIZE) {
    const jobs = await queue.getJobs(['waiting', 'prioritized'], start, start + PAGE_SIZE - 1, true);
    const produced = jobs.filter((job) => job.repeatJobKey === schedulerId);
    // A job a worker took meanwhile is locked, so remove() rejects and the job runs this one last time.
    await Promise.allSettled(produced.map((job) => job.remove()));
    if (jobs.length < PAGE_SIZE) return;
    start -= produced.length;
  }
}

export interface ScheduleSyncReport {
  upserted: string[];
  removed: string[];
}

export interface ScheduleSyncOptions {
  queues: Queues;
  calendar: readonly CalendarEntry[];
  /** Queue of each calendar entry's job, from the job registry. */
  queueOf: (job: string) => QueueName;
  logger: Logger;
}

/**
 * Makes the BullMQ job schedulers match the calendar: one scheduler per entry,
 * id = job name, and none for jobs that left the calendar.
 *
 * `upsertJobScheduler` runs as one Redis script: it replaces the pattern and
 * the pending next job of an existing scheduler, and the next job's id is
 * derived from the scheduler id and fire time. So several API processes that
 * sync at once converge on one scheduler and one next run per entry.
 */
export async function syncSchedules(options: ScheduleSyncOptions): Promise<ScheduleSyncReport> {
  const { queues, calendar, queueOf, logger } = options;
  const wanted = new Map<QueueName, Set<string>>(queueNames.map((name) => [name, new Set()]));
  const upserted: string[] = [];

  for (const entry of calendar) {
    const queueName = queueOf(entry.job);
    wanted.get(queueName)?.add(entry.job);
    const repeat = entry.pattern !== undefined ? { pattern: entry.pattern } : { every: entry.every };
    const data: JobEnvelope = { payload: entry.payload ?? {}, requestedBy: 'scheduler' };
    await queues[queueName].upsertJobScheduler(entry.job, { ...repeat, tz: CALENDAR_TIME_ZONE }, { name: entry.job, data });
    upserted.push(entry.job);
  }

  const removed: string[] = [];
  for (const queueName of queueNames) {
    const keep = wanted.get(queueName) ?? new Set();
    const schedulers = await queues[queueName].getJobSchedulers(0, -1);
    for (const scheduler of schedulers) {
      const id = scheduler.id ?? scheduler.key;
      if (keep.has(id)) continue;
      await queues[queueName].removeJobScheduler(id);
      await removeDueJobs(queues[queueName], id);
      removed.push(id);
      logger.info({ queue: queueName, scheduler: id }, 'job scheduler removed: no longer in the calendar');
    }
  }

  logger.info({ upserted, removed }, 'schedules synced');
  return { upserted, removed };
}
