import { CronExpressionParser } from 'cron-parser';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { calendar, type CalendarEntry } from '../../src/queues/calendar.js';
import { createRedis } from '../../src/queues/connection.js';
import { closeQueues, createQueues, queueNames, type Queues } from '../../src/queues/queues.js';
import { syncSchedules } from '../../src/queues/schedule-sync.js';
import { JobRegistry, jobDefinitions } from '../../src/jobs/registry.js';
import { changeOverride } from '../../src/queues/schedule-overrides.js';
import { createTestDatabase, removeRedisKeys, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';

const logger = pino({ level: 'silent' });
const prefix = uniqueName('schedule_sync');
const registry = new JobRegistry(jobDefinitions, calendar);

// Five API processes: five connections, five sets of Queue objects.
let connections: Redis[] = [];
let apis: Queues[] = [];
let database: TestDatabase;

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

beforeAll(async () => {
  database = await createTestDatabase('schedule_sync');
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
  await database?.drop();
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

describe('schedule sync with overrides', () => {
  const entries: CalendarEntry[] = [
    { job: 'nightly-a', pattern: '0 3 * * *', description: 'daily 03:00' },
    { job: 'every-c', every: 30_000, description: 'every 30 s' },
  ];
  const syncWithOverrides = (queues: Queues) =>
    syncSchedules({ queues, calendar: entries, queueOf: () => 'maintenance', logger, db: database.db });

  beforeEach(async () => {
    await database.db.deleteFrom('schedule_overrides').execute();
  });

  it('applies a stored pattern and time zone', async () => {
    await changeOverride(database.db, 'nightly-a', 'update', { pattern: '45 6 * * *', tz: 'Asia/Tokyo' }, 'ops');

    await Promise.all(apis.map(syncWithOverrides));

    const scheduler = (await schedulersOf(apis[0]!)).find((candidate) => candidate.key === 'nightly-a');
    expect(scheduler).toMatchObject({ pattern: '45 6 * * *', tz: 'Asia/Tokyo' });
    const nightly = (await pendingJobsOf(apis[0]!)).filter((job) => job.name === 'nightly-a');
    expect(nightly).toHaveLength(1);
    // 06:45 in Tokyo (UTC+9, no daylight saving) is 21:45 UTC.
    expect(new Date(nightly[0]!.timestamp + nightly[0]!.delay).toISOString()).toMatch(/T21:45:00\.000Z$/);
  });

  it('leaves a paused entry without scheduler or pending run', async () => {
    await syncWithOverrides(apis[0]!);
    await changeOverride(database.db, 'every-c', 'pause', { paused: true }, 'ops');

    const reports = await Promise.all(apis.map(syncWithOverrides));

    expect(reports.every((report) => report.paused.includes('every-c'))).toBe(true);
    expect((await schedulersOf(apis[0]!)).map((scheduler) => scheduler.key)).toEqual(['nightly-a']);
    expect((await pendingJobsOf(apis[0]!)).map((job) => job.name)).toEqual(['nightly-a']);
  });

  it('writes once when five processes sync the same change', async () => {
    await syncWithOverrides(apis[0]!);
    await changeOverride(database.db, 'every-c', 'update', { every: 45_000 }, 'ops');

    const reports = await Promise.all(apis.map(syncWithOverrides));

    expect(reports.filter((report) => report.upserted.includes('every-c'))).toHaveLength(1);
    expect(reports.filter((report) => report.unchanged.includes('every-c'))).toHaveLength(4);
    expect((await pendingJobsOf(apis[0]!)).filter((job) => job.name === 'every-c')).toHaveLength(1);
  });
});

describe('runbook calendar', () => {
  // The runbook's times, as the next three fire times after a fixed instant.
  const expected: Record<string, string[]> = {
    'token-cleanup': ['2026-03-01T03:00:00.000Z', '2026-03-02T03:00:00.000Z', '2026-03-03T03:00:00.000Z'],
    'process-email-queue': ['2026-02-28T12:10:00.000Z', '2026-02-28T12:20:00.000Z', '2026-02-28T12:30:00.000Z'],
    'dispatch-alerts': ['2026-02-28T12:01:00.000Z', '2026-02-28T12:02:00.000Z', '2026-02-28T12:03:00.000Z'],
    'health-check': ['2026-02-28T12:00:30.000Z', '2026-02-28T12:01:00.000Z', '2026-02-28T12:01:30.000Z'],
    'metrics-update': ['2026-02-28T12:01:00.000Z', '2026-02-28T12:02:00.000Z', '2026-02-28T12:03:00.000Z'],
    'backup-database': ['2026-03-01T01:00:00.000Z', '2026-03-02T01:00:00.000Z', '2026-03-03T01:00:00.000Z'],
    'verify-backup': ['2026-03-01T04:00:00.000Z', '2026-03-02T04:00:00.000Z', '2026-03-03T04:00:00.000Z'],
    // 2026-02-28 is a Saturday, so March 1 is the first Sunday of March.
    'full-backup': ['2026-03-01T02:00:00.000Z', '2026-04-05T02:00:00.000Z', '2026-05-03T02:00:00.000Z'],
    'performance-analysis': ['2026-03-04T10:00:00.000Z', '2026-03-11T10:00:00.000Z', '2026-03-18T10:00:00.000Z'],
    'security-review': ['2026-03-02T09:00:00.000Z', '2026-03-09T09:00:00.000Z', '2026-03-16T09:00:00.000Z'],
    'security-audit': ['2026-03-15T08:00:00.000Z', '2026-04-15T08:00:00.000Z', '2026-05-15T08:00:00.000Z'],
    'storage-cleanup': ['2026-03-06T02:00:00.000Z', '2026-03-13T02:00:00.000Z', '2026-03-20T02:00:00.000Z'],
    'certificate-check': ['2026-03-01T06:00:00.000Z', '2026-04-01T06:00:00.000Z', '2026-05-01T06:00:00.000Z'],
    'dependency-audit': ['2026-03-31T06:00:00.000Z', '2026-04-28T06:00:00.000Z', '2026-05-26T06:00:00.000Z'],
    'weekly-report': ['2026-03-02T10:00:00.000Z', '2026-03-09T10:00:00.000Z', '2026-03-16T10:00:00.000Z'],
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
