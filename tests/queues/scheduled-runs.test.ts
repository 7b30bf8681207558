import { setTimeout as delay } from 'node:timers/promises';
import { Type } from '@sinclair/typebox';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, type JobDefinition } from '../../src/jobs/contract.js';
import type { CalendarEntry } from '../../src/queues/calendar.js';
import { createRedis } from '../../src/queues/connection.js';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.js';
import { readSkipCounts, scheduleKeys } from '../../src/queues/schedule-locks.js';
import { applySchedule, syncSchedules } from '../../src/queues/schedule-sync.js';
import { missedRunJobId } from '../../src/queues/scheduled-run-data.js';
import { createTestDatabase, removeRedisKeys, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const logger = pino({ level: 'silent' });
const prefix = uniqueName('scheduled_runs');
const SLOW_RUN_MS = 2500;

/** Start and end of every run of slow-probe, across all worker pools of this process. */
const slowRuns: Array<{ start: number; end: number }> = [];

const probe = (name: string, run: JobDefinition['run']) =>
  defineJob({
    name,
    queue: 'maintenance',
    description: `Test probe ${name}`,
    payload: Type.Object({}, { additionalProperties: false }),
    role: 'operator',
    destructive: false,
    kind: 'routine',
    run,
  }) as unknown as JobDefinition;

const definitions = [
  probe('tick-probe', async () => ({ ranAt: Date.now() })),
  probe('cron-probe', async () => ({ ranAt: Date.now() })),
  probe('quick-probe', async () => ({ ranAt: Date.now() })),
  probe('gone-probe', async () => ({ ranAt: Date.now() })),
  probe('slow-probe', async (context) => {
    const start = Date.now();
    // The job's own work: it takes longer than the interval and longer than the lock's lifetime.
    await delay(SLOW_RUN_MS, undefined, { signal: context.signal });
    slowRuns.push({ start, end: Date.now() });
    return { start };
  }),
];

let database: TestDatabase;
let redis: Redis;
let queues: Queues;
const config = () => testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, SCHEDULE_LOCK_TTL_MS: '1000' });
const startWorkers = () => startTestWorkers({ db: database.db, config: config(), servedQueues: ['maintenance'], definitions });
const sync = (calendar: CalendarEntry[], on: Queues = queues) =>
  syncSchedules({ queues: on, calendar, queueOf: () => 'maintenance', logger, db: database.db });

async function runsOf(job: string) {
  return database.db.selectFrom('maintenance_logs').selectAll().where('job_name', '=', job).orderBy('id').execute();
}

/** Waits until the scheduler's pending run is at least `slots` intervals overdue: no worker ran across them. */
async function waitUntilOverdue(id: string, slots: number, interval: number) {
  return waitFor(
    `${slots} missed slots of ${id}`,
    async () => {
      const scheduler = await queues.maintenance.getJobScheduler(id);
      return scheduler?.next && Date.now() - scheduler.next >= slots * interval ? scheduler.next : undefined;
    },
    { timeoutMs: 30_000 },
  );
}

beforeAll(async () => {
  database = await createTestDatabase('scheduled_runs');
  redis = createRedis(TEST_REDIS_URL, 'producer');
  queues = createQueues(redis, prefix);
});

afterAll(async () => {
  await closeQueues(queues);
  await removeRedisKeys(redis, prefix);
  redis.disconnect();
  await database?.drop();
});

describe('missed runs', () => {
  it('runs once, marked late, after workers return', async () => {
    const every = 2000;
    await sync([{ job: 'tick-probe', every, description: 'every 2 s' }]);
    let workers: TestWorkers[] = [await startWorkers()];
    await waitFor('two on-time runs', async () => ((await runsOf('tick-probe')).length >= 2 ? true : undefined));
    await Promise.all(workers.map((pool) => pool.close()));
    const before = (await runsOf('tick-probe')).length;

    const overdueSlot = await waitUntilOverdue('tick-probe', 3, every);
    // An API process restarting during the outage leaves the overdue run in place.
    const report = await sync([{ job: 'tick-probe', every, description: 'every 2 s' }]);
    expect(report.unchanged).toEqual(['tick-probe']);
    workers = [await startWorkers(), await startWorkers()];
    try {
      await waitFor('the late run and two more', async () => ((await runsOf('tick-probe')).length >= before + 3 ? true : undefined));
    } finally {
      await Promise.all(workers.map((pool) => pool.close()));
    }

    const after = (await runsOf('tick-probe')).slice(before);
    const summaries = after.map((row) => row.summary as { late?: boolean; missedSlots?: number; firstMissedSlot?: string });
    expect(summaries[0]).toMatchObject({ late: true, firstMissedSlot: new Date(overdueSlot).toISOString() });
    expect(summaries[0]!.missedSlots).toBeGreaterThanOrEqual(4);
    expect(after[0]!.type).toBe('routine');
    // One run for the whole outage: no other run stands for the missed slots.
    expect(summaries.slice(1).filter((summary) => summary.firstMissedSlot === summaries[0]!.firstMissedSlot)).toEqual([]);
    expect(summaries.slice(1).filter((summary) => (summary.missedSlots ?? 0) >= 3)).toEqual([]);
    expect(new Set(after.map((row) => row.job_id)).size).toBe(after.length);
  }, 60_000);

  it('enqueues one missed run when an API start changes the pattern', async () => {
    const every = 2000;
    await sync([{ job: 'cron-probe', pattern: '*/2 * * * * *', description: 'every 2 s' }]);
    let workers = await startWorkers();
    await waitFor('an on-time run', async () => ((await runsOf('cron-probe')).length >= 1 ? true : undefined));
    await workers.close();
    const before = (await runsOf('cron-probe')).length;
    const overdueSlot = await waitUntilOverdue('cron-probe', 3, every);

    // A restart with the same pattern keeps the overdue run for BullMQ to run when a worker returns.
    const unchanged = await sync([{ job: 'cron-probe', pattern: '*/2 * * * * *', description: 'every 2 s' }]);
    expect(unchanged.unchanged).toEqual(['cron-probe']);
    expect(await queues.maintenance.getJob(`repeat:cron-probe:${overdueSlot}`)).toBeDefined();

    // Two API processes start at once with a changed pattern; the upsert would drop the overdue run.
    const secondRedis = createRedis(TEST_REDIS_URL, 'producer');
    const secondQueues = createQueues(secondRedis, prefix);
    const changed: CalendarEntry[] = [{ job: 'cron-probe', pattern: '0 0 3 * * *', description: 'daily 03:00' }];
    const reports = await Promise.all([sync(changed), sync(changed, secondQueues)]);
    await closeQueues(secondQueues);
    secondRedis.disconnect();

    expect(reports.map((report) => report.caughtUp)).toEqual(expect.arrayContaining([['cron-probe'], []]));
    const missed = await queues.maintenance.getJob(missedRunJobId('cron-probe', overdueSlot));
    expect(missed?.data.schedule).toMatchObject({ trigger: 'missed', slot: overdueSlot });
    const waiting = await queues.maintenance.getJobs(['waiting', 'delayed']);
    expect(waiting.filter((job) => job.name === 'cron-probe').map((job) => job.id)).toEqual(
      expect.arrayContaining([missedRunJobId('cron-probe', overdueSlot)]),
    );
    expect(waiting.filter((job) => String(job.id).startsWith('missed-'))).toHaveLength(1);

    workers = await startWorkers();
    try {
      await waitFor('the missed run', async () => ((await runsOf('cron-probe')).length > before ? true : undefined));
    } finally {
      await workers.close();
    }
    const [row] = (await runsOf('cron-probe')).slice(before);
    expect(row).toMatchObject({ type: 'routine', performed_by: 'scheduler', job_id: missedRunJobId('cron-probe', overdueSlot) });
    expect(row!.summary).toMatchObject({ late: true, firstMissedSlot: new Date(overdueSlot).toISOString() });
    expect((row!.summary as { missedSlots: number }).missedSlots).toBeGreaterThanOrEqual(4);
  }, 60_000);
});

describe('overlap', () => {
  it('skips and counts slots while a run goes on', async () => {
    const entry: CalendarEntry = { job: 'slow-probe', every: 1000, description: 'every second' };
    // Two worker processes: without the lock, the second would start a copy at the next slot.
    const pools = [await startWorkers(), await startWorkers()];
    try {
      await applySchedule({ queue: queues.maintenance, entry, schedule: { id: 'slow-probe', every: 1000, tz: 'UTC', paused: false }, logger });
      await waitFor(
        'two runs and three skipped slots',
        async () => (slowRuns.length >= 2 && ((await readSkipCounts(redis, prefix)).get('slow-probe') ?? 0) >= 3 ? true : undefined),
        { timeoutMs: 30_000 },
      );
      await queues.maintenance.removeJobScheduler('slow-probe');
    } finally {
      await Promise.all(pools.map((pool) => pool.close()));
    }

    const ordered = [...slowRuns].sort((a, b) => a.start - b.start);
    for (let index = 1; index < ordered.length; index += 1) {
      expect(ordered[index]!.start, `run ${index} starts after run ${index - 1} ends`).toBeGreaterThanOrEqual(ordered[index - 1]!.end);
    }
    // Each run outlived the 1000 ms lock twice over, so only renewal kept the other worker out.
    for (const run of ordered) expect(run.end - run.start).toBeGreaterThan(2000);
    const completed = await queues.maintenance.getJobs(['completed']);
    const skipped = completed.filter((job) => job.name === 'slow-probe' && job.returnvalue?.reason === 'previous run still running');
    expect(skipped.length).toBe((await readSkipCounts(redis, prefix)).get('slow-probe'));
    expect(skipped[0]!.returnvalue).toMatchObject({ skipped: true, runningJob: expect.stringMatching(/^maintenance:repeat:slow-probe:\d+$/) });
    expect((await runsOf('slow-probe')).length).toBe(slowRuns.length);
  }, 60_000);

  it('runs again once a killed holder lock expires', async () => {
    const lock = scheduleKeys(prefix).runLock('quick-probe');
    // A worker that was killed mid-run: its lock is never renewed or released.
    await redis.set(lock, 'maintenance:killed', 'PX', 1500);
    const data = { payload: {}, requestedBy: 'test', schedule: { id: 'quick-probe', trigger: 'run-now' } };
    const workers = await startWorkers();
    try {
      const blocked = await queues.maintenance.add('quick-probe', data);
      await waitFor('the blocked run', async () => ((await blocked.getState()) === 'completed' ? true : undefined));
      await waitFor('the lock to expire', async () => ((await redis.exists(lock)) === 0 ? true : undefined));
      const next = await queues.maintenance.add('quick-probe', data);
      await waitFor('the next run', async () => ((await next.getState()) === 'completed' ? true : undefined));

      expect((await queues.maintenance.getJob(String(blocked.id)))?.returnvalue).toMatchObject({ skipped: true });
      const rows = await runsOf('quick-probe');
      expect(rows.map((row) => row.job_id)).toEqual([String(next.id)]);
      expect(await redis.exists(lock)).toBe(0);
    } finally {
      await workers.close();
    }
  });
});

describe('removed or paused schedule', () => {
  it('skips a due run whose scheduler is gone', async () => {
    const entry: CalendarEntry = { job: 'gone-probe', every: 60_000, description: 'every minute' };
    // An interval scheduler puts its first run straight into the waiting list.
    await applySchedule({ queue: queues.maintenance, entry, schedule: { id: 'gone-probe', every: 60_000, tz: 'UTC', paused: false }, logger });
    const [due] = (await queues.maintenance.getJobs(['waiting'])).filter((job) => job.repeatJobKey === 'gone-probe');
    expect(due).toBeDefined();
    // As when a worker took the run just before the scheduler was removed: the job itself stays.
    await queues.maintenance.removeJobScheduler('gone-probe');

    const workers = await startWorkers();
    try {
      await waitFor('the due run to finish', async () => ((await due!.getState()) === 'completed' ? true : undefined));
    } finally {
      await workers.close();
    }
    expect((await queues.maintenance.getJob(String(due!.id)))?.returnvalue).toEqual({ skipped: true, reason: 'schedule paused or removed' });
    expect(await runsOf('gone-probe')).toEqual([]);
  });

  it('pause removes the pending runs', async () => {
    const entry: CalendarEntry = { job: 'gone-probe', pattern: '0 0 3 * * *', description: 'daily 03:00' };
    const schedule = { id: 'gone-probe', pattern: '0 0 3 * * *', tz: 'UTC', paused: false };
    await applySchedule({ queue: queues.maintenance, entry, schedule, logger });
    const pendingBefore = (await queues.maintenance.getJobs(['delayed'])).filter((job) => job.repeatJobKey === 'gone-probe');
    expect(pendingBefore).toHaveLength(1);

    const outcome = await applySchedule({ queue: queues.maintenance, entry, schedule: { ...schedule, paused: true }, logger });

    expect(outcome).toEqual(['paused']);
    const pending = await queues.maintenance.getJobs(['delayed', 'waiting', 'prioritized']);
    expect(pending.filter((job) => job.repeatJobKey === 'gone-probe')).toEqual([]);
    expect(await queues.maintenance.getJobScheduler('gone-probe')).toBeUndefined();
  });
});
