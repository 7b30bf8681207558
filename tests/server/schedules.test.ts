import { getNextMillis } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { calendar } from '../../src/queues/calendar.js';
import { scheduleKeys } from '../../src/queues/schedule-locks.js';
import { syncSchedules } from '../../src/queues/schedule-sync.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('schedules_api');
const logger = pino({ level: 'silent' });
let database: TestDatabase;
let app: FastifyInstance;

const config = () => testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix });

/** The start-up sync of an API process, as src/server/main.ts runs it. */
const startUpSync = (api: FastifyInstance) =>
  syncSchedules({ queues: api.queues, calendar, queueOf: (job) => api.registry.queueOf(job), logger, db: api.db });

const scheduler = (api: FastifyInstance, id: string) => api.queues[api.registry.queueOf(id)].getJobScheduler(id);

beforeAll(async () => {
  database = await createTestDatabase('schedules_api');
  app = await buildTestApp({ config: config(), logger: false });
  await startUpSync(app);
});

afterAll(async () => {
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('GET /api/schedules', () => {
  it('shows default and override side by side', async () => {
    await app.inject({ method: 'PUT', url: '/api/schedules/process-email-queue', payload: { pattern: '*/15 * * * *' } });

    const response = await app.inject({ method: 'GET', url: '/api/schedules' });

    expect(response.statusCode).toBe(200);
    const schedule = response.json().find((entry: { id: string }) => entry.id === 'process-email-queue');
    expect(schedule).toMatchObject({
      pattern: '*/15 * * * *',
      tz: 'UTC',
      paused: false,
      default: { pattern: '*/10 * * * *', every: null, tz: 'UTC' },
      override: { pattern: '*/15 * * * *', every: null, paused: false },
      skippedOverlaps: 0,
    });
    expect(new Date(schedule.nextRun).getUTCMinutes() % 15).toBe(0);
    const untouched = response.json().find((entry: { id: string }) => entry.id === 'dispatch-alerts');
    expect(untouched).toMatchObject({ every: 60_000, override: null, default: { every: 60_000 } });
  });

  it('reports the skip counter', async () => {
    await app.redis.hset(scheduleKeys(prefix).skipped, 'dispatch-alerts', 3);

    const response = await app.inject({ method: 'GET', url: '/api/schedules/dispatch-alerts' });

    expect(response.json().skippedOverlaps).toBe(3);
  });
});

describe('PUT /api/schedules/:id', () => {
  it('changes pattern and time zone, with history', async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/api/schedules/token-cleanup',
      payload: { pattern: '30 2 * * *', tz: 'America/New_York' },
    });

    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ pattern: '30 2 * * *', tz: 'America/New_York' });
    const current = await scheduler(app, 'token-cleanup');
    expect(current).toMatchObject({ pattern: '30 2 * * *', tz: 'America/New_York' });
    expect(current!.next).toBe(getNextMillis(Date.now(), { pattern: '30 2 * * *', tz: 'America/New_York' }));

    const history = await app.inject({ method: 'GET', url: '/api/schedules/token-cleanup/history' });
    expect(history.json()[0]).toMatchObject({
      action: 'update',
      changedBy: response.json().override.updatedBy,
      before: null,
      after: { pattern: '30 2 * * *', tz: 'America/New_York', every: null, paused: false },
    });
  });

  it('resets an override to the calendar default', async () => {
    await app.inject({ method: 'PUT', url: '/api/schedules/security-audit', payload: { pattern: '0 7 15 * *', tz: 'Europe/Oslo' } });
    expect(await scheduler(app, 'security-audit')).toMatchObject({ pattern: '0 7 15 * *', tz: 'Europe/Oslo' });

    const reset = await app.inject({ method: 'POST', url: '/api/schedules/security-audit/reset' });

    expect(reset.statusCode, reset.body).toBe(200);
    expect(reset.json()).toMatchObject({ pattern: '0 8 15 * *', tz: 'UTC', override: null });
    expect(await scheduler(app, 'security-audit')).toMatchObject({ pattern: '0 8 15 * *', tz: 'UTC' });
    const history = (await app.inject({ method: 'GET', url: '/api/schedules/security-audit/history' })).json();
    expect(history[0]).toMatchObject({ action: 'reset', before: { pattern: '0 7 15 * *', tz: 'Europe/Oslo' }, after: null });

    const again = await app.inject({ method: 'POST', url: '/api/schedules/security-audit/reset' });
    expect(again.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/schedules/security-audit/history' })).json()).toHaveLength(history.length);
  });

  it('switches a pattern schedule to an interval', async () => {
    const response = await app.inject({ method: 'PUT', url: '/api/schedules/process-email-queue', payload: { every: 600_000 } });

    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ pattern: null, every: 600_000 });
    expect(await scheduler(app, 'process-email-queue')).toMatchObject({ every: 600_000 });
    const history = (await app.inject({ method: 'GET', url: '/api/schedules/process-email-queue/history' })).json();
    expect(history[0]).toMatchObject({ before: { pattern: '*/15 * * * *' }, after: { pattern: null, every: 600_000 } });
  });

  const rejected: Array<[string, Record<string, unknown>, RegExp]> = [
    ['bad pattern field', { pattern: '61 * * * *' }, /^body\.pattern "61 \* \* \* \*" is invalid: Constraint error, got value 61/],
    ['unknown word', { pattern: 'daily' }, /^body\.pattern "daily" is invalid: /],
    ['pattern every 5 s', { pattern: '*/5 * * * * *' }, /^body\.pattern .* fires 5000 ms apart/],
    ['short interval', { every: 5000 }, /^body\.every 5000 ms is shorter than the minimum of 10000 ms/],
    ['unknown zone', { tz: 'Europe/Atlantis' }, /^body\.tz "Europe\/Atlantis" is not an IANA time zone/],
    ['pattern and interval', { pattern: '0 4 * * *', every: 60_000 }, /^body\.pattern and body\.every are exclusive/],
  ];
  for (const [label, payload, message] of rejected) {
    it(`rejects ${label} with 400`, async () => {
      const before = await scheduler(app, 'token-cleanup');

      const response = await app.inject({ method: 'PUT', url: '/api/schedules/token-cleanup', payload });

      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('INVALID_SCHEDULE');
      expect(response.json().message).toMatch(message);
      expect(await scheduler(app, 'token-cleanup')).toEqual(before);
    });
  }

  it('rejects an empty body and unknown fields', async () => {
    const empty = await app.inject({ method: 'PUT', url: '/api/schedules/token-cleanup', payload: {} });
    const unknown = await app.inject({ method: 'PUT', url: '/api/schedules/token-cleanup', payload: { cron: '0 4 * * *' } });

    expect(empty.statusCode).toBe(400);
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toMatch(/body has unknown field "cron"/);
  });

  it('answers 404 naming the schedules', async () => {
    const response = await app.inject({ method: 'PUT', url: '/api/schedules/backup-everything', payload: { every: 60_000 } });

    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('SCHEDULE_NOT_FOUND');
    expect(response.json().message).toContain('token-cleanup, process-email-queue, dispatch-alerts');
    expect(response.json().message).toContain('GET /api/schedules');
  });
});

describe('pause and resume', () => {
  it('pauses, stays paused across a restart, resumes', async () => {
    const paused = await app.inject({ method: 'POST', url: '/api/schedules/dispatch-alerts/pause' });

    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json()).toMatchObject({ paused: true, nextRun: null });
    expect(await scheduler(app, 'dispatch-alerts')).toBeUndefined();
    const due = await app.queues.email.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(due.filter((job) => job.repeatJobKey === 'dispatch-alerts')).toEqual([]);

    // A second API process on the same database and prefix starts and syncs the calendar.
    const restarted = await buildTestApp({ config: config(), logger: false });
    try {
      const report = await startUpSync(restarted);
      expect(report.paused).toContain('dispatch-alerts');
      expect(await scheduler(restarted, 'dispatch-alerts')).toBeUndefined();
      const listed = (await restarted.inject({ method: 'GET', url: '/api/schedules/dispatch-alerts' })).json();
      expect(listed).toMatchObject({ paused: true, nextRun: null, override: { paused: true } });
    } finally {
      await restarted.close();
    }

    const resumed = await app.inject({ method: 'POST', url: '/api/schedules/dispatch-alerts/resume' });

    expect(resumed.statusCode).toBe(200);
    expect(resumed.json()).toMatchObject({ paused: false, every: 60_000 });
    expect(await scheduler(app, 'dispatch-alerts')).toMatchObject({ every: 60_000 });
    const history = (await app.inject({ method: 'GET', url: '/api/schedules/dispatch-alerts/history' })).json();
    expect(history.map((row: { action: string }) => row.action)).toEqual(['resume', 'pause']);
  });

  it('records nothing when already paused', async () => {
    await app.inject({ method: 'POST', url: '/api/schedules/dispatch-alerts/pause' });
    await app.inject({ method: 'POST', url: '/api/schedules/dispatch-alerts/pause' });

    const history = (await app.inject({ method: 'GET', url: '/api/schedules/dispatch-alerts/history' })).json();
    expect(history.map((row: { action: string }) => row.action)).toEqual(['pause', 'resume', 'pause']);
    await app.inject({ method: 'POST', url: '/api/schedules/dispatch-alerts/resume' });
  });
});

describe('restart', () => {
  it('keeps a changed pattern', async () => {
    await app.inject({ method: 'PUT', url: '/api/schedules/token-cleanup', payload: { pattern: '15 4 * * *', tz: 'Europe/Oslo' } });

    const restarted = await buildTestApp({ config: config(), logger: false });
    try {
      const report = await startUpSync(restarted);

      expect(report.unchanged).toContain('token-cleanup');
      expect(await scheduler(restarted, 'token-cleanup')).toMatchObject({ pattern: '15 4 * * *', tz: 'Europe/Oslo' });
    } finally {
      await restarted.close();
    }
  });
});

describe('GET /api/schedules/:id/preview', () => {
  it('lists fire times across spring-forward in New York', async () => {
    await app.inject({ method: 'PUT', url: '/api/schedules/token-cleanup', payload: { pattern: '30 2 * * *', tz: 'America/New_York' } });

    const response = await app.inject({ method: 'GET', url: '/api/schedules/token-cleanup/preview?count=3&from=2026-03-06T12:00:00Z' });

    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ pattern: '30 2 * * *', tz: 'America/New_York', from: '2026-03-06T12:00:00.000Z' });
    expect(response.json().fireTimes).toEqual([
      { at: '2026-03-07T07:30:00.000Z', local: '2026-03-07 02:30:00 GMT-5' },
      { at: '2026-03-08T07:30:00.000Z', local: '2026-03-08 03:30:00 GMT-4' },
      { at: '2026-03-09T06:30:00.000Z', local: '2026-03-09 02:30:00 GMT-4' },
    ]);
  });

  it('lists 01:30 once across fall-back in New York', async () => {
    await app.inject({ method: 'PUT', url: '/api/schedules/token-cleanup', payload: { pattern: '30 1 * * *' } });

    const response = await app.inject({ method: 'GET', url: '/api/schedules/token-cleanup/preview?count=3&from=2026-10-31T12:00:00Z' });

    expect(response.json().fireTimes).toEqual([
      { at: '2026-11-01T05:30:00.000Z', local: '2026-11-01 01:30:00 GMT-4' },
      { at: '2026-11-02T06:30:00.000Z', local: '2026-11-02 01:30:00 GMT-5' },
      { at: '2026-11-03T06:30:00.000Z', local: '2026-11-03 01:30:00 GMT-5' },
    ]);
  });

  it('starts an interval at its pending run', async () => {
    const pending = await scheduler(app, 'dispatch-alerts');

    const response = await app.inject({ method: 'GET', url: '/api/schedules/dispatch-alerts/preview?count=3' });

    const times = response.json().fireTimes.map((time: { at: string }) => Date.parse(time.at));
    expect(times).toEqual([pending!.next, pending!.next! + 60_000, pending!.next! + 120_000]);
  });

  it('bounds count', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/schedules/token-cleanup/preview?count=5000' });

    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(/querystring\.count must be <= 400/);
  });
});

describe('POST /api/schedules/:id/run', () => {
  it('runs once, logged as scheduled with the caller', async () => {
    const workers = await startTestWorkers({
      db: database.db,
      config: config(),
      servedQueues: ['maintenance'],
      definitions: jobDefinitions,
      calendar,
    });
    try {
      const response = await app.inject({ method: 'POST', url: '/api/schedules/token-cleanup/run' });

      expect(response.statusCode, response.body).toBe(202);
      const { id, queue } = response.json();
      const row = await waitFor('the maintenance_logs row of the run', () =>
        database.db.selectFrom('maintenance_logs').selectAll().where('job_id', '=', id).executeTakeFirst(),
      );
      const job = await app.queues[queue as 'maintenance'].getJob(id);
      expect(row).toMatchObject({ job_name: 'token-cleanup', type: 'scheduled', result: 'success' });
      expect(row.performed_by).toBe(job!.data.requestedBy);
      expect(row.performed_by).not.toBe('scheduler');
    } finally {
      await workers.close();
    }
  });

  it('answers 409 while a run holds the lock', async () => {
    await app.redis.set(scheduleKeys(prefix).runLock('token-cleanup'), 'maintenance:42', 'PX', 10_000);
    try {
      const response = await app.inject({ method: 'POST', url: '/api/schedules/token-cleanup/run' });

      expect(response.statusCode).toBe(409);
      expect(response.json()).toMatchObject({ code: 'SCHEDULE_RUNNING' });
      expect(response.json().message).toContain('maintenance:42');
    } finally {
      await app.redis.del(scheduleKeys(prefix).runLock('token-cleanup'));
    }
  });
});
