import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { CalendarEntry } from './calendar.js';
import { queueNames, type QueueName, type Queues } from './queues.js';
import { withSyncLock } from './schedule-locks.js';
import { effectiveSchedule, loadOverrides, type EffectiveSchedule, type ScheduleOverride } from './schedule-overrides.js';
import { countFireTimes } from './schedule-timing.js';
import { missedRunJobId, type ScheduledRunData } from './scheduled-run-data.js';

const PAGE_SIZE = 500;

/**
 * Removes the jobs a scheduler produced that wait to run. BullMQ's
 * removeJobScheduler drops only the delayed next job. The due job of an
 * `every` scheduler is already in the waiting list, so it would still run once.
 */
export async function removeDueJobs(queue: Queue, schedulerId: string): Promise<void> {
  for (let start = 0; ; start += PAGE_SIZE) {
    const jobs = await queue.getJobs(['waiting', 'prioritized'], start, start + PAGE_SIZE - 1, true);
    const produced = jobs.filter((job) => job.repeatJobKey === schedulerId);
    // A job a worker took meanwhile is locked, so remove() rejects. The worker then skips it, because its scheduler is gone.
    await Promise.allSettled(produced.map((job) => job.remove()));
    if (jobs.length < PAGE_SIZE) return;
    start -= produced.length;
  }
}

/** The change that applying one effective schedule made to its BullMQ job scheduler. */
export type ApplyOutcome = 'upserted' | 'unchanged' | 'paused' | 'caught-up';

export interface ApplyOptions {
  queue: Queue;
  entry: CalendarEntry;
  schedule: EffectiveSchedule;
  logger: Logger;
  now?: number;
}

/**
 * Makes the job scheduler of one calendar entry follow its effective schedule.
 *
 * - Paused: the scheduler and its waiting job are removed.
 * - Unchanged timing and payload: nothing is written. A next run that is
 *   overdue because no worker ran stays in place, and BullMQ runs it once when
 *   a worker returns.
 * - Changed: the scheduler is upserted. An upsert replaces the overdue run of
 *   a pattern with the pattern's next fire time, so that run is first enqueued
 *   as a missed run. Its id is derived from its slot, so it stays one job
 *   however many processes do the same. An interval scheduler runs at once
 *   after an upsert that changes the interval, so it needs no missed run.
 */
export async function applySchedule(options: ApplyOptions): Promise<ApplyOutcome[]> {
  const { queue, entry, schedule, logger } = options;
  const now = options.now ?? Date.now();
  const existing = await queue.getJobScheduler(entry.job);

  if (schedule.paused) {
    if (!existing) return ['unchanged'];
    await queue.removeJobScheduler(entry.job);
    await removeDueJobs(queue, entry.job);
    logger.info({ queue: queue.name, scheduler: entry.job }, 'job scheduler removed: the schedule is paused');
    return ['paused'];
  }

  const data: ScheduledRunData = { payload: entry.payload ?? {}, requestedBy: 'scheduler' };
  const timing = schedule.pattern !== undefined ? { pattern: schedule.pattern } : { every: schedule.every };
  const same =
    existing !== undefined &&
    existing.pattern === timing.pattern &&
    existing.every === timing.every &&
    existing.tz === schedule.tz &&
    JSON.stringify(existing.template?.data ?? null) === JSON.stringify(data);
  if (same) return ['unchanged'];

  const outcomes: ApplyOutcome[] = [];
  if (existing?.next && existing.next < now && schedule.pattern !== undefined) {
    await enqueueMissedRun(queue, entry, existing, now, logger);
    outcomes.push('caught-up');
  }
  await queue.upsertJobScheduler(entry.job, { ...timing, tz: schedule.tz }, { name: entry.job, data });
  outcomes.push('upserted');
  return outcomes;
}

type SchedulerState = NonNullable<Awaited<ReturnType<Queue['getJobScheduler']>>>;

async function enqueueMissedRun(queue: Queue, entry: CalendarEntry, existing: SchedulerState, now: number, logger: Logger) {
  const slot = existing.next!;
  const previous = { pattern: existing.pattern ?? undefined, every: existing.every ?? undefined, tz: existing.tz ?? undefined };
  const missedSlots = countFireTimes(previous, slot, now);
  const data: ScheduledRunData = {
    payload: entry.payload ?? {},
    requestedBy: 'scheduler',
    schedule: { id: entry.job, trigger: 'missed', slot, missedSlots },
  };
  await queue.add(entry.job, data, { jobId: missedRunJobId(entry.job, slot) });
  logger.warn(
    { queue: queue.name, scheduler: entry.job, firstMissedSlot: new Date(slot).toISOString(), missedSlots },
    'schedule missed its slot while no worker ran; enqueued one late run before changing it',
  );
}

export interface ScheduleSyncReport {
  upserted: string[];
  unchanged: string[];
  paused: string[];
  /** Schedules whose overdue run was enqueued as one missed run. */
  caughtUp: string[];
  removed: string[];
}

export interface ScheduleSyncOptions {
  queues: Queues;
  calendar: readonly CalendarEntry[];
  /** Queue of each calendar entry's job, from the job registry. */
  queueOf: (job: string) => QueueName;
  logger: Logger;
  /** Reads the operators' overrides from schedule_overrides; without it the calendar applies as written. */
  db?: Db;
  /** Holds the sync lock; defaults to the queues' connection, which createQueues sets to an ioredis client. */
  redis?: Redis;
  /** The queue prefix, for the sync lock's key; defaults to the queues' prefix. */
  prefix?: string;
}

/**
 * Makes the BullMQ job schedulers match the calendar with its overrides: one
 * scheduler per entry that is not paused, id = job name, and none for paused
 * entries or jobs that left the calendar.
 *
 * Several API processes may start at once. Each sync holds a Redis lock, so
 * they run one after the other and each later one finds the schedulers
 * already matching. The writes themselves are safe to repeat:
 * `upsertJobScheduler` runs as one Redis script and derives the next job's id
 * from the scheduler id and fire time.
 */
export async function syncSchedules(options: ScheduleSyncOptions): Promise<ScheduleSyncReport> {
  const { queues, calendar, queueOf, logger } = options;
  const redis = options.redis ?? (queues.maintenance.opts.connection as Redis);
  const prefix = options.prefix ?? queues.maintenance.opts.prefix ?? 'bull';
  return withSyncLock(redis, prefix, async () => {
    const overrides: Map<string, ScheduleOverride> = options.db ? await loadOverrides(options.db) : new Map();
    const wanted = new Map<QueueName, Set<string>>(queueNames.map((name) => [name, new Set()]));
    const report: ScheduleSyncReport = { upserted: [], unchanged: [], paused: [], caughtUp: [], removed: [] };

    for (const entry of calendar) {
      const queueName = queueOf(entry.job);
      const schedule = effectiveSchedule(entry, overrides.get(entry.job));
      if (!schedule.paused) wanted.get(queueName)?.add(entry.job);
      const outcomes = await applySchedule({ queue: queues[queueName], entry, schedule, logger });
      if (outcomes.includes('caught-up')) report.caughtUp.push(entry.job);
      if (outcomes.includes('upserted')) report.upserted.push(entry.job);
      if (outcomes.includes('unchanged')) (schedule.paused ? report.paused : report.unchanged).push(entry.job);
      if (outcomes.includes('paused')) report.paused.push(entry.job);
    }

    for (const queueName of queueNames) {
      const keep = wanted.get(queueName) ?? new Set();
      const schedulers = await queues[queueName].getJobSchedulers(0, -1);
      for (const scheduler of schedulers) {
        const id = scheduler.id ?? scheduler.key;
        if (keep.has(id) || report.paused.includes(id)) continue;
        await queues[queueName].removeJobScheduler(id);
        await removeDueJobs(queues[queueName], id);
        report.removed.push(id);
        logger.info({ queue: queueName, scheduler: id }, 'job scheduler removed: no longer in the calendar');
      }
    }

    logger.info(report, 'schedules synced');
    return report;
  });
}
