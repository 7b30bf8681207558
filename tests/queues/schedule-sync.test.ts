import { CronExpressionParser } from 'cron-parser';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { calendar, type CalendarEntry } from '../../src/queues/calendar.js';
import { createRedis } from '../../src/queues/connection.js';
import { closeQueues, createQueues, queueNames, type Queues } from '../../src/queues/queues.js';
import { syncSchedules } from '../../src/queues/schedule-sync.js';
import { JobRegistry, jobDefinitions } from '../../src/jobs/registry.js';
import { removeRedisKeys, TEST_REDIS_URL, uniqueName } from '../helpers/services.js';

const logger = pino({ level: 'silent' });
const prefix = uniqueName('schedule_sync');
const registry = new JobRegistry(jobDefinitions, calendar);

// Five API processes: five connections, five sets of Queue objects.
let connections: Redis[] = [];
let apis: Queues[] = [];

const sync = (queues: Queues, entries: readonly CalendarEntry[]) =>
  syncSchedules({ queues, calendar: entries, queueOf: () => 'maintenance', logger });

async function schedulersOf(queues: Queues) {
  const all = await Promise.all(queueNames.map((name) => queues[name].getJobSchedulers(0, -1)));
  return all.flat();
}

/** Jobs a scheduler has produced that have not run yet: delayed ones, and `every` ones already due. */
async function pendingJobsOf(queues: Queues) {
  const all = await Promise.all(queueNames.map((name) => queues[name].getJobs(['delayed', 'waiting', 'prioritized'], 0, -1)));
  return all.flat();
}

beforeAll(() => {
  connections = Array.from({ length: 5 }, () => createRedis(TEST_REDIS_URL, 'producer'));
  apis = connections.map((connection) => createQueues(connection, prefix));
});

beforeEach(async () => {
  await removeRedisKeys(connections[0]!, prefix);
});

afterAll(async () => {
  await removeRedisKeys(connections[0]!, prefix);
  await Promise.all(apis.map(closeQueues));
  connections.forEach((connection) => connection.disconnect());
});

describe('schedule sync', () => {
  const entries: CalendarEntry[] = [
    { job: 'nightly-a', pattern: '0 3 * * *', description: 'daily 03:00' },
    { job: 'weekly-b', pattern: '0 9 * * 1', description: 'Mondays 09:00' },
    { job: 'every-c', every: 30_000, description: 'every 30 s' },
  ];

  it('leaves one scheduler per entry after five concurrent syncs', async () => {
    await Promise.all(apis.map((queues) => sync(queues, entries)));

    const schedulers = await schedulersOf(apis[0]!);
    expect(schedulers.map((scheduler) => scheduler.key).sort()).toEqual(['every-c', 'nightly-a', 'weekly-b']);
    const pending = await pendingJobsOf(apis[0]!);
    const perScheduler = new Map<string, number>();
    for (const job of pending) perScheduler.set(job.name, (perScheduler.get(job.name) ?? 0) + 1);
    expect(Object.fromEntries(perScheduler)).toEqual({ 'nightly-a': 1, 'weekly-b': 1, 'every-c': 1 });
  });

  it('keeps only the new pattern after a change', async () => {
    await sync(apis[0]!, entries);
    const changed: CalendarEntry[] = [{ job: 'nightly-a', pattern: '30 4 * * *', description: 'daily 04:30' }, ...entries.slice(1)];

    await Promise.all(apis.map((queues) => sync(queues, changed)));

    const scheduler = (await schedulersOf(apis[0]!)).find((candidate) => candidate.key === 'nightly-a');
    expect(scheduler?.pattern).toBe('30 4 * * *');
    const nightly = (await pendingJobsOf(apis[0]!)).filter((job) => job.name === 'nightly-a');
    expect(nightly).toHaveLength(1);
    const runAt = new Date(nightly[0]!.timestamp + nightly[0]!.delay);
    expect(runAt.getUTCHours()).toBe(4);
    expect(runAt.getUTCMinutes()).toBe(30);
  });

  it('removes schedulers that left the calendar', async () => {
    await sync(apis[0]!, entries);

    const report = await sync(apis[1]!, entries.slice(0, 1));

    expect(report.removed.sort()).toEqual(['every-c', 'weekly-b']);
    expect((await schedulersOf(apis[0]!)).map((scheduler) => scheduler.key)).toEqual(['nightly-a']);
    expect((await pendingJobsOf(apis[0]!)).map((job) => job.name)).toEqual(['nightly-a']);
  });

  it('schedules in UTC with the scheduler id as job name', async () => {
    await sync(apis[0]!, entries);

    const schedulers = await schedulersOf(apis[0]!);
    for (const scheduler of schedulers) {
      expect(scheduler.tz).toBe('UTC');
      expect(scheduler.template?.data).toEqual({ payload: {}, requestedBy: 'scheduler' });
    }
  });
});

describe('runbook calendar', () => {
  // The runbook's times, as the next three fire times after a fixed instant.
  const expected: Record<string, string[]> = {
    'token-cleanup': ['2026-03-01T03:00:00.000Z', '2026-03-02T03:00:00.000Z', '2026-03-03T03:00:00.000Z'],
    'process-email-queue': ['2026-02-28T12:10:00.000Z', '2026-02-28T12:20:00.000Z', '2026-02-28T12:30:00.000Z'],
    'dispatch-alerts': ['2026-02-28T12:01:00.000Z', '2026-02-28T12:02:00.000Z', '2026-02-28T12:03:00.000Z'],
  };
  const from = new Date('2026-02-28T12:00:00.000Z');

  it('has expected fire times for every entry', () => {
    expect(calendar.map((entry) => entry.job).sort()).toEqual(Object.keys(expected).sort());
  });

  for (const entry of calendar) {
    it(`fires ${entry.job} at the runbook times`, () => {
      const fires = entry.pattern
        ? CronExpressionParser.parse(entry.pattern, { currentDate: from, tz: 'UTC' }).take(3).map((date) => date.toISOString())
        : [1, 2, 3].map((step) => new Date(Math.floor(from.getTime() / entry.every!) * entry.every! + step * entry.every!).toISOString());
      expect(fires).toEqual(expected[entry.job]);
    });
  }

  it('syncs the real calendar with matching next runs', async () => {
    await sync(apis[0]!, calendar);

    const schedulers = await schedulersOf(apis[0]!);
    expect(schedulers.map((scheduler) => scheduler.key).sort()).toEqual(calendar.map((entry) => entry.job).sort());
    for (const scheduler of schedulers) {
      const entry = calendar.find((candidate) => candidate.job === scheduler.key)!;
      expect(registry.get(entry.job)).toBeDefined();
      if (!entry.pattern) continue;
      const next = CronExpressionParser.parse(entry.pattern, { currentDate: new Date(), tz: 'UTC' }).next().getTime();
      expect(scheduler.next).toBe(next);
    }
  });
});
