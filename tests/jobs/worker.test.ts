import { Type } from '@sinclair/typebox';
import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defineJob, type JobDefinition } from '../../src/jobs/contract.js';
import { JobRegistry, RegistryError } from '../../src/jobs/registry.js';
import type { WorkerPool } from '../../src/jobs/worker.js';
import { startTestWorkers } from '../helpers/workers.js';
import { createRedis } from '../../src/queues/connection.js';
import { createTestDatabase, removeRedisKeys, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const flaky = defineJob({
  name: 'flaky-probe',
  queue: 'maintenance',
  description: 'Fails on its first attempt',
  payload: Type.Object({ failTimes: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    if (context.job.attempt <= payload.failTimes) throw new Error(`probe failure on attempt ${context.job.attempt}`);
    return { attempt: context.job.attempt };
  },
});

const waitsForAbort = defineJob({
  name: 'abortable-probe',
  queue: 'maintenance',
  description: 'Runs until its abort signal fires',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context) {
    await context.progress(10);
    await new Promise((_, reject) => {
      context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
    });
    return {};
  },
});

const emergency = defineJob({
  name: 'emergency-probe',
  queue: 'maintenance',
  description: 'An emergency action',
  payload: Type.Object({}),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run() {
    return { done: true };
  },
});

const definitions = [flaky, waitsForAbort, emergency] as JobDefinition[];

describe('job registry', () => {
  it('accepts consistent definitions', () => {
    const registry = new JobRegistry(definitions, [{ job: 'flaky-probe', every: 60_000, description: 'each minute', payload: { failTimes: 0 } }]);

    expect(registry.names()).toEqual(['flaky-probe', 'abortable-probe', 'emergency-probe']);
    expect(registry.queueOf('flaky-probe')).toBe('maintenance');
  });

  it('rejects a duplicate name', () => {
    expect(() => new JobRegistry([flaky, flaky] as JobDefinition[], [])).toThrow(/"flaky-probe" is defined twice/);
  });

  it('rejects a name that is not kebab-case', () => {
    const badName = { ...flaky, name: 'Flaky_Probe' } as JobDefinition;
    expect(() => new JobRegistry([badName], [])).toThrow(RegistryError);
  });

  it('rejects a calendar entry without a job', () => {
    expect(() => new JobRegistry(definitions, [{ job: 'ghost-job', pattern: '0 3 * * *', description: 'nightly' }])).toThrow(
      /calendar entry "ghost-job" has no job definition/,
    );
  });

  it('rejects a calendar payload the schema rejects', () => {
    expect(() => new JobRegistry(definitions, [{ job: 'flaky-probe', every: 1000, description: 'often', payload: {} }])).toThrow(
      /calendar payload of "flaky-probe" is invalid: data.failTimes/,
    );
  });

  it('rejects a destructive job without dryRun', () => {
    const destructive = { ...emergency, destructive: true } as JobDefinition;
    expect(() => new JobRegistry([destructive], [])).toThrow(/has no dryRun field/);
  });
});

describe('worker runs', () => {
  const prefix = uniqueName('worker');
  let database: TestDatabase;
  let connection: Redis;
  let queue: Queue;
  let events: QueueEvents;
  let pool: WorkerPool;

  const start = (shutdownTimeoutMs = 5000) =>
    startTestWorkers({
      db: database.db,
      config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }),
      servedQueues: ['maintenance'],
      definitions,
      shutdownTimeoutMs,
    });

  const logsOf = (jobId: string | undefined) =>
    database.db.selectFrom('maintenance_logs').selectAll().where('job_id', '=', String(jobId)).orderBy('id').execute();

  beforeAll(async () => {
    database = await createTestDatabase('worker');
    connection = createRedis(TEST_REDIS_URL, 'worker');
    queue = new Queue('maintenance', { connection, prefix });
    events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
    await events.waitUntilReady();
  });

  beforeEach(async () => {
    pool = await start();
  });

  afterAll(async () => {
    await pool?.close();
    await events?.close();
    await queue?.close();
    await removeRedisKeys(connection, prefix);
    connection?.disconnect();
    await database?.drop();
  });

  it('records a failed attempt and the retry that succeeded', async () => {
    const job = await queue.add('flaky-probe', { payload: { failTimes: 1 }, requestedBy: 'tester' }, { attempts: 2, backoff: 0 });

    const result = await job.waitUntilFinished(events, 20_000);

    expect(result).toEqual({ attempt: 2 });
    const rows = await logsOf(job.id);
    expect(rows.map((row) => [row.attempt, row.result])).toEqual([[1, 'failure'], [2, 'success']]);
    expect(rows[0]?.notes).toBe('probe failure on attempt 1');
    expect(rows[1]).toMatchObject({ type: 'scheduled', performed_by: 'tester', action: 'Fails on its first attempt' });
    await pool.close();
  });

  it('marks the job failed after the last attempt', async () => {
    const job = await queue.add('flaky-probe', { payload: { failTimes: 5 }, requestedBy: 'tester' }, { attempts: 2, backoff: 0 });

    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow('probe failure on attempt 2');

    const rows = await logsOf(job.id);
    expect(rows.map((row) => row.result)).toEqual(['failure', 'failure']);
    await pool.close();
  });

  it('fails an invalid payload without retrying', async () => {
    const job = await queue.add('flaky-probe', { payload: { failTimes: 'often' }, requestedBy: 'tester' }, { attempts: 3, backoff: 0 });

    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/Invalid payload: data.failTimes/);

    const stored = await queue.getJob(String(job.id));
    expect(stored?.attemptsMade).toBe(1);
    expect(await logsOf(job.id)).toHaveLength(1);
    await pool.close();
  });

  it('fails job data without the envelope', async () => {
    // What a script calling queue.add directly, or Bull Board's "add job", would enqueue.
    const job = await queue.add('flaky-probe', { failTimes: 0 }, { attempts: 3, backoff: 0 });

    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/Job data must be \{"payload"/);

    expect((await queue.getJob(String(job.id)))?.attemptsMade).toBe(1);
    await pool.close();
  });

  it('fails an unknown job name without retrying', async () => {
    const job = await queue.add('no-such-job', { payload: {}, requestedBy: 'tester' }, { attempts: 3, backoff: 0 });

    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/Unknown job "no-such-job"/);

    expect((await queue.getJob(String(job.id)))?.attemptsMade).toBe(1);
    await pool.close();
  });

  it('logs emergency and scheduler runs with their types', async () => {
    const emergencyJob = await queue.add('emergency-probe', { payload: {}, requestedBy: 'captain' });
    await emergencyJob.waitUntilFinished(events, 20_000);
    await queue.upsertJobScheduler('flaky-probe', { every: 60_000 }, {
      name: 'flaky-probe',
      data: { payload: { failTimes: 0 }, requestedBy: 'scheduler' },
    });

    const routine = await waitFor('a routine maintenance log row', async () => {
      const rows = await database.db.selectFrom('maintenance_logs').selectAll().where('type', '=', 'routine').execute();
      return rows[0];
    });

    expect((await logsOf(emergencyJob.id))[0]).toMatchObject({ type: 'emergency', performed_by: 'captain' });
    expect(routine).toMatchObject({ job_name: 'flaky-probe', performed_by: 'scheduler', result: 'success' });
    await queue.removeJobScheduler('flaky-probe');
    await pool.close();
  });

  it('hands a running job back on shutdown timeout', async () => {
    await pool.close();
    pool = await start(200);
    const job = await queue.add('abortable-probe', { payload: {}, requestedBy: 'tester' }, { attempts: 3 });
    await waitFor('the job to start', async () => ((await queue.getJob(String(job.id)))?.progress === 10 ? true : undefined));

    await pool.close();

    const stored = await queue.getJob(String(job.id));
    expect(await stored?.getState()).toBe('waiting');
    expect(stored?.attemptsMade).toBe(0);
    const rows = await logsOf(job.id);
    expect(rows[0]?.notes).toContain('interrupted by worker shutdown');
    await stored?.remove();
  });
});

describe('two installations on one Redis and one Postgres server', () => {
  it('keep their jobs and logs apart', async () => {
    const installations = await Promise.all(['alpha', 'bravo'].map(async (label) => {
      const database = await createTestDatabase(`install_${label}`);
      const prefix = uniqueName(`install_${label}`);
      const connection = createRedis(TEST_REDIS_URL, 'producer');
      const pool = await startTestWorkers({
        db: database.db,
        config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }),
        servedQueues: ['maintenance'],
        definitions,
      });
      return { database, prefix, connection, pool, queue: new Queue('maintenance', { connection, prefix }) };
    }));
    const [alpha, bravo] = installations as [typeof installations[0], typeof installations[0]];
    try {
      const events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix: alpha.prefix });
      await events.waitUntilReady();
      const job = await alpha.queue.add('emergency-probe', { payload: {}, requestedBy: 'alpha' });
      await job.waitUntilFinished(events, 20_000);
      await events.close();

      const alphaRows = await alpha.database.db.selectFrom('maintenance_logs').select('performed_by').execute();
      const bravoRows = await bravo.database.db.selectFrom('maintenance_logs').select('performed_by').execute();
      expect(alphaRows).toEqual([{ performed_by: 'alpha' }]);
      expect(bravoRows).toEqual([]);
      expect(await bravo.queue.getJobCounts('completed', 'waiting', 'failed')).toEqual({ completed: 0, waiting: 0, failed: 0 });
    } finally {
      for (const installation of installations) {
        await installation.pool.close();
        await installation.queue.close();
        await removeRedisKeys(installation.connection, installation.prefix);
        installation.connection.disconnect();
        await installation.database.drop();
      }
    }
  });
});
