import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { calendar } from '../../src/queues/calendar.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import type { WorkerPool } from '../../src/jobs/worker.js';
import { startTestWorkers } from '../helpers/workers.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniqueName('api');

interface JobStatus {
  id: string;
  state: string;
  result: { steps: Record<string, { rows: number }> };
  progress: unknown;
  logs: string[];
  requestedBy: string;
  finishedAt: string | null;
}
let database: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  database = await createTestDatabase('api');
  app = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }), logger: false });
});

afterAll(async () => {
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('job catalog', () => {
  it('lists token-cleanup with its schema and schedule', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/jobs' });

    expect(response.statusCode).toBe(200);
    const tokenCleanup = response.json().find((job: { name: string }) => job.name === 'token-cleanup');
    expect(tokenCleanup).toMatchObject({
      queue: 'maintenance',
      destructive: true,
      schedule: { pattern: '0 3 * * *' },
    });
    expect(Object.keys(tokenCleanup.payloadSchema.properties)).toContain('dryRun');
  });
});

describe('enqueue', () => {
  it('returns 202 with the id and status URL', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup', payload: { data: { dryRun: true } } });

    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body.statusUrl).toBe(`/api/jobs/token-cleanup/${body.id}`);
    const job = await app.queues.maintenance.getJob(body.id);
    expect(job?.data).toEqual({ payload: { dryRun: true }, requestedBy: 'bootstrap-admin' });
  });

  it('accepts a POST without a body', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup' });

    expect(response.statusCode).toBe(202);
  });

  it('delays a run by the given milliseconds', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup', payload: { delay: 60_000 } });

    expect(response.statusCode).toBe(202);
    expect(response.json().state).toBe('delayed');
    const status = await app.inject({ method: 'GET', url: response.json().statusUrl });
    expect(status.json().state).toBe('delayed');
  });

  it('rejects an unknown job with the known names', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/sink-the-ship' });

    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('JOB_NOT_FOUND');
    expect(response.json().message).toContain('token-cleanup');
  });

  const invalid: Array<{ name: string; payload: unknown; code: string; mentions: string }> = [
    { name: 'wrong payload type', payload: { data: { batchSize: 'ten' } }, code: 'INVALID_PAYLOAD', mentions: 'data.batchSize' },
    { name: 'payload out of range', payload: { data: { batchSize: 0 } }, code: 'INVALID_PAYLOAD', mentions: 'data.batchSize' },
    { name: 'unknown payload field', payload: { data: { dropTables: true } }, code: 'INVALID_PAYLOAD', mentions: 'data.dropTables' },
    { name: 'negative delay', payload: { delay: -5 }, code: 'VALIDATION_FAILED', mentions: 'delay' },
    { name: 'unknown body field', payload: { when: 'now' }, code: 'VALIDATION_FAILED', mentions: 'when' },
    { name: 'data not an object', payload: { data: [1, 2] }, code: 'VALIDATION_FAILED', mentions: 'data' },
  ];
  for (const testCase of invalid) {
    it(`rejects ${testCase.name} with 400`, async () => {
      const response = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup', payload: testCase.payload as object });

      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe(testCase.code);
      expect(response.json().message).toContain(testCase.mentions);
    });
  }

  it('rejects query parameters instead of ignoring them', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup?dryRun=true' });

    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('querystring has unknown field "dryRun"');
  });

  const wrongTypes: Array<[string, string]> = [
    ['delay as string', '{"delay":"10"}'],
    ['delay as boolean', '{"delay":true}'],
    ['null body', 'null'],
  ];
  for (const [name, body] of wrongTypes) {
    it(`rejects ${name} without coercion`, async () => {
      const response = await app.inject({
        method: 'POST',
        url: '/api/jobs/token-cleanup',
        headers: { 'content-type': 'application/json' },
        payload: body,
      });

      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('VALIDATION_FAILED');
    });
  }

  it('rejects deeply nested data with 400', async () => {
    const nested = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const response = await app.inject({
      method: 'POST',
      url: '/api/jobs/token-cleanup',
      headers: { 'content-type': 'application/json' },
      payload: `{"data":{"x":${nested}}}`,
    });

    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('INVALID_PAYLOAD');
    expect(response.json().message.length).toBeLessThan(300);
  });

  it('rejects a body over 64 KiB with 413', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup', payload: { data: { note: 'x'.repeat(70_000) } } });

    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('answers bad URLs in the error shape', async () => {
    const long = await app.inject({ method: 'GET', url: `/api/jobs/${'a'.repeat(5000)}/1` });
    const encoded = await app.inject({ method: 'GET', url: '/api/jobs/%zz/1' });

    for (const response of [long, encoded]) {
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect(response.statusCode).toBeLessThan(500);
      expect(response.json().code).toBe('BAD_REQUEST');
      expect(response.body.length).toBeLessThan(400);
    }
  });

  it('rejects malformed JSON with 400', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/jobs/token-cleanup',
      headers: { 'content-type': 'application/json' },
      payload: '{"data":',
    });

    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('BAD_REQUEST');
    expect(response.body).not.toContain('at ');
  });

  it('rejects a bad job name pattern with 400', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/Token_Cleanup' });

    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('name');
  });
});

describe('job status', () => {
  let workers: WorkerPool | undefined;

  afterAll(async () => {
    await workers?.close();
  });

  it('returns 404 for an unknown run id', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/jobs/token-cleanup/999999' });

    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('JOB_RUN_NOT_FOUND');
  });

  it('shows result, progress and log lines once a worker ran it', async () => {
    await database.db
      .insertInto('token_blacklist')
      .values([
        { jti: 'expired', reason: 'logout', expires_at: new Date(Date.now() - 3_600_000) },
        { jti: 'live', reason: 'logout', expires_at: new Date(Date.now() + 3_600_000) },
      ])
      .execute();
    // Runs enqueued by the tests above would run first and take the expired row.
    await app.queues.maintenance.drain(true);
    workers = await startTestWorkers({
      db: database.db,
      config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }),
      servedQueues: ['maintenance'],
      definitions: jobDefinitions,
    });
    const enqueued = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup', payload: { data: { batchSize: 1 } } });
    const statusUrl: string = enqueued.json().statusUrl;

    const status = await waitFor('the job to complete', async () => {
      const response = await app.inject({ method: 'GET', url: statusUrl });
      const body: JobStatus = response.json();
      return body.state === 'completed' ? body : undefined;
    });

    expect(status.result.steps.token_blacklist?.rows).toBe(1);
    expect(status.progress).toMatchObject({ step: 'token_blacklist' });
    expect(status.logs).toContain('token_blacklist: deleted 1 rows');
    expect(status.requestedBy).toBe('bootstrap-admin');
    expect(status.finishedAt).not.toBeNull();
    const jtis = await database.db.selectFrom('token_blacklist').select('jti').execute();
    expect(jtis).toEqual([{ jti: 'live' }]);
    const log = await database.db.selectFrom('maintenance_logs').selectAll().where('job_id', '=', status.id).execute();
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ type: 'scheduled', result: 'success', performed_by: 'bootstrap-admin', job_name: 'token-cleanup' });
  });
});

describe('maintenance logs', () => {
  it('lists rows newest first with filters', async () => {
    const row = (jobName: string, type: 'routine' | 'scheduled', result: 'success' | 'failure', createdAt: string) => ({
      type,
      action: `run ${jobName}`,
      performed_by: type === 'routine' ? 'scheduler' : 'bootstrap-admin',
      duration: '1500 milliseconds',
      result,
      job_name: jobName,
      job_id: `${jobName}-${createdAt}`,
      queue: 'maintenance',
      attempt: 1,
      created_at: createdAt,
    });
    await database.db.deleteFrom('maintenance_logs').execute();
    await database.db
      .insertInto('maintenance_logs')
      .values([
        row('token-cleanup', 'routine', 'success', '2026-11-01T03:00:00Z'),
        row('token-cleanup', 'scheduled', 'failure', '2026-11-02T10:00:00Z'),
        row('test-email', 'scheduled', 'success', '2026-11-03T10:00:00Z'),
      ])
      .execute();

    const all = await app.inject({ method: 'GET', url: '/api/maintenance-logs' });
    const failures = await app.inject({ method: 'GET', url: '/api/maintenance-logs?result=failure' });
    const routine = await app.inject({ method: 'GET', url: '/api/maintenance-logs?type=routine&job=token-cleanup&performedBy=scheduler' });
    const window = await app.inject({ method: 'GET', url: '/api/maintenance-logs?from=2026-11-02T00:00:00Z&to=2026-11-03T00:00:00Z' });
    const firstPage = await app.inject({ method: 'GET', url: '/api/maintenance-logs?limit=2' });
    const secondPage = await app.inject({ method: 'GET', url: `/api/maintenance-logs?limit=2&before=${firstPage.json().nextBefore}` });

    expect(all.json().items.map((item: { jobName: string }) => item.jobName)).toEqual(['test-email', 'token-cleanup', 'token-cleanup']);
    expect(all.json().items[0].duration).toBe('00:00:01.5');
    expect(failures.json().items).toHaveLength(1);
    expect(failures.json().items[0].result).toBe('failure');
    expect(routine.json().items).toHaveLength(1);
    expect(routine.json().items[0].createdAt).toBe('2026-11-01T03:00:00.000Z');
    expect(window.json().items.map((item: { createdAt: string }) => item.createdAt)).toEqual(['2026-11-02T10:00:00.000Z']);
    expect(firstPage.json().items).toHaveLength(2);
    expect(secondPage.json().items).toHaveLength(1);
    expect(secondPage.json().nextBefore).toBeNull();
  });

  const invalid: Array<[string, string]> = [
    ['unknown type', '/api/maintenance-logs?type=weekly'],
    ['bad timestamp', '/api/maintenance-logs?from=yesterday'],
    ['reversed range', '/api/maintenance-logs?from=2026-11-03T00:00:00Z&to=2026-11-01T00:00:00Z'],
    ['unknown filter', '/api/maintenance-logs?who=me'],
  ];
  for (const [name, url] of invalid) {
    it(`rejects ${name} with 400`, async () => {
      const response = await app.inject({ method: 'GET', url });

      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('VALIDATION_FAILED');
    });
  }
});

describe('schedules', () => {
  it('lists each scheduler with its next run', async () => {
    const { syncSchedules } = await import('../../src/queues/schedule-sync.js');
    await syncSchedules({ queues: app.queues, calendar, queueOf: (job) => app.registry.queueOf(job), logger: pino({ level: 'silent' }) });

    const response = await app.inject({ method: 'GET', url: '/api/schedules' });

    expect(response.statusCode).toBe(200);
    const schedule = response.json().find((entry: { id: string }) => entry.id === 'token-cleanup');
    expect(schedule).toMatchObject({ id: 'token-cleanup', queue: 'maintenance', pattern: '0 3 * * *', tz: 'UTC' });
    expect(new Date(schedule.nextRun).getUTCHours()).toBe(3);
  });
});

describe('health', () => {
  it('reports liveness', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/health+json');
  });

  it('reports readiness of Postgres and Redis', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/ready' });

    expect(response.statusCode).toBe(200);
    expect(response.json().status).toBe('pass');
    expect(response.json().checks['postgres:responseTime'][0].status).toBe('pass');
    expect(response.json().checks['redis:responseTime'][0].status).toBe('pass');
  });

  it('fails readiness when Postgres is unreachable', async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    const broken = await buildTestApp({
      config: testConfig({ DATABASE_URL: 'postgres://127.0.0.1:1/shipshape', QUEUE_PREFIX: prefix }),
      logger: false,
    });
    try {
      const response = await broken.inject({ method: 'GET', url: '/health/ready' });

      expect(response.statusCode).toBe(503);
      expect(response.headers['content-type']).toContain('application/health+json');
      expect(response.json().status).toBe('fail');
      expect(response.json().checks['postgres:responseTime'][0].status).toBe('fail');
      expect(response.json().checks['redis:responseTime'][0].status).toBe('pass');
    } finally {
      await broken.close();
    }
  });
});

describe('Redis unreachable', () => {
  it('answers 503 instead of hanging', async () => {
    const broken = await buildTestApp({
      config: testConfig({ DATABASE_URL: database.url, REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: prefix }),
      logger: false,
    });
    try {
      for (const [method, url] of [['POST', '/api/jobs/token-cleanup'], ['GET', '/api/jobs/token-cleanup/1'], ['GET', '/api/schedules']] as const) {
        const response = await broken.inject({ method, url });

        expect(response.statusCode).toBe(503);
        expect(response.json().code).toBe('SERVICE_UNAVAILABLE');
        expect(response.json().error).toBe('Service Unavailable');
      }
      const ready = await broken.inject({ method: 'GET', url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().checks['redis:responseTime'][0].status).toBe('fail');
    } finally {
      await broken.close();
    }
  });
});

describe('Bull Board and docs', () => {
  it('serves Bull Board with the four queues', async () => {
    const page = await app.inject({ method: 'GET', url: '/admin/queues' });
    const queues = await app.inject({ method: 'GET', url: '/admin/queues/api/queues' });

    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const names = queues.json().queues.map((queue: { name: string }) => queue.name).sort();
    expect(names).toEqual(['backups', 'email', 'health', 'maintenance']);
  });

  it('serves the OpenAPI document', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/json' });

    expect(response.statusCode).toBe(200);
    expect(Object.keys(response.json().paths)).toContain('/api/jobs/{name}');
  });

  it('answers an unknown route with a JSON 404', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/nothing-here' });

    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('NOT_FOUND');
  });
});
