import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { QueueName, Queues } from '../queues/queues.js';
import { acquireLock, keepLock, scheduleKeys } from '../queues/schedule-locks.js';
import { countFireTimes, nextFireTime, type ScheduleTiming } from '../queues/schedule-timing.js';
import type { ScheduledRunData } from '../queues/scheduled-run-data.js';
import type { JobSummary } from './contract.js';

/**
 * The processor's checks around a run that belongs to a schedule: a run its
 * BullMQ scheduler produced, a missed run, or a run-now request.
 */
export interface ScheduledRunGuard {
  /** Set when the run must not start; the job completes with this summary and runs nothing. */
  skipped?: JobSummary;
  /** Adds the late marks (`late`, `missedSlots`, `firstMissedSlot`) to the run's summary when it started late. */
  mark(summary: JobSummary): JobSummary;
  /** Frees the run lock. */
  release(): Promise<void>;
}

export interface ScheduledRunOptions {
  job: Job;
  queue: QueueName;
  redis: Redis;
  queues: Queues;
  config: Config;
  logger: Logger;
}

const UNGUARDED: ScheduledRunGuard = { mark: (summary) => summary, release: async () => {} };

/** Returns the slot of a scheduler-produced job, which BullMQ names `repeat:<scheduler id>:<fire time in ms>`. */
function slotOf(job: Job): number {
  const match = /:(\d+)$/.exec(String(job.id));
  return match ? Number(match[1]) : job.timestamp + (job.opts.delay ?? 0);
}

/** Returns the late marks of a scheduler-produced run, or none when it started on time. */
function latenessOf(job: Job, timing: ScheduleTiming, lateAfterMs: number, now: number): JobSummary {
  const slot = slotOf(job);
  const next = nextFireTime(timing, slot);
  const missedNextSlot = next !== undefined && next <= now;
  if (!missedNextSlot && now - slot <= lateAfterMs) return {};
  return { late: true, missedSlots: countFireTimes(timing, slot, now), firstMissedSlot: new Date(slot).toISOString() };
}

/**
 * Checks a scheduled run before it starts:
 * - a run whose scheduler was removed or paused after BullMQ queued it is skipped;
 * - a run whose job still runs from an earlier slot or request is skipped and
 *   counted in the skip counter, so no two copies run at once. The run lock is
 *   renewed while the run goes on, so a killed worker's lock expires;
 * - a run that starts after its next slot passed, or more than
 *   SCHEDULE_LATE_AFTER_MS after its own, is marked late with the count of
 *   slots that passed. BullMQ keeps one pending run per scheduler, so after an
 *   outage this one late run stands for all the missed slots.
 * Runs requested through POST /api/jobs are not guarded.
 */
export async function enterScheduledRun(options: ScheduledRunOptions): Promise<ScheduledRunGuard> {
  const { job, queue, redis, config, logger } = options;
  const data = job.data as ScheduledRunData | undefined;
  const trigger = job.repeatJobKey ? 'slot' : data?.schedule?.trigger;
  if (!trigger) return UNGUARDED;

  let marks: JobSummary = {};
  if (job.repeatJobKey) {
    const scheduler = await options.queues[queue].getJobScheduler(job.repeatJobKey);
    if (!scheduler) {
      logger.info({ scheduler: job.repeatJobKey }, 'scheduled run skipped: its schedule was paused or removed');
      return { ...UNGUARDED, skipped: { skipped: true, reason: 'schedule paused or removed' } };
    }
    const timing = { pattern: scheduler.pattern ?? undefined, every: scheduler.every ?? undefined, tz: scheduler.tz ?? undefined };
    marks = latenessOf(job, timing, config.SCHEDULE_LATE_AFTER_MS, Date.now());
  } else if (trigger === 'missed' && data?.schedule?.slot !== undefined) {
    marks = { late: true, missedSlots: data.schedule.missedSlots ?? 1, firstMissedSlot: new Date(data.schedule.slot).toISOString() };
  }

  const keys = scheduleKeys(config.QUEUE_PREFIX);
  const lockKey = keys.runLock(job.name);
  const token = `${queue}:${String(job.id)}`;
  const ttlMs = config.SCHEDULE_LOCK_TTL_MS;
  // The same job may hold the lock already: a retry, or a run BullMQ moved back after its worker stalled.
  const acquired = (await acquireLock(redis, lockKey, token, ttlMs)) || (await redis.get(lockKey)) === token;
  if (!acquired) {
    const runningJob = await redis.get(lockKey);
    const skippedTotal = await redis.hincrby(keys.skipped, job.name, 1);
    logger.warn({ runningJob, skippedTotal, trigger }, 'scheduled run skipped: the previous run of this job is still running');
    await job.log(`skipped: ${runningJob ?? 'another run'} of ${job.name} is still running`);
    return { ...UNGUARDED, skipped: { skipped: true, reason: 'previous run still running', runningJob, skippedTotal } };
  }

  if (marks.late) {
    logger.warn(marks, 'scheduled run started late: no worker ran during its slot');
    await job.log(`late: ${String(marks.missedSlots)} slot(s) passed without a run, the first at ${String(marks.firstMissedSlot)}`);
  }
  const runLock = keepLock(redis, lockKey, token, ttlMs, logger);
  return { mark: (summary) => ({ ...summary, ...marks }), release: () => runLock.release() };
}
