import { Type } from '@sinclair/typebox';
import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineJob, type JobDefinition } from '../../src/jobs/contract.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { queueSettings } from '../../src/queues/queues.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('scale_up');
let database: TestDatabase;
let app: FastifyInstance;
let events: QueueEvents;
const pools: TestWorkers[] = [];

// Jobs of this probe hold their slot until the test releases them, so the
// number running at once shows the concurrency the workers really apply.
let running = 0;
let holding: (() => void)[] = [];
let stopped = false;
/** Lets every probe running now finish. */
function releaseRunning() {
  const waiting = holding;
  holding = [];
  for (const resolve of waiting) resolve();
}
const holdProbe = defineJob({
  name: 'hold-probe',
  queue: 'health',
  description: 'Holds its slot until released',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  logRuns: false,
  async run() {
    running += 1;
    try {
      if (!stopped) await new Promise<void>((resolve) => holding.push(resolve));
    } finally {
      running -= 1;
    }
    return {};
  },
});
const definitions = [...jobDefinitions, holdProbe] as JobDefinition[];

async function settingsWorkers() {
  const response = await app.inject({ method: 'GET', url: '/api/settings' });
  expect(response.statusCode, response.body).toBe(200);
  return response.json().workers;
}

beforeAll(async () => {
  database = await createTestDatabase('scale_up');
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix });
  app = await buildTestApp({ config, logger: false });
  events = new QueueEvents('maintenance', { connection: { url: config.REDIS_URL }, prefix });
  await events.waitUntilReady();
  pools.push(await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance', 'health'], definitions }));
  pools.push(await startTestWorkers({ db: database.db, config, servedQueues: ['health', 'email'], definitions }));
  await Promise.all(pools.map((pool) => pool.control.ready));
});

afterAll(async () => {
  stopped = true;
  releaseRunning();
  await Promise.all(pools.map((pool) => pool.close()));
  await events?.close();
  await app?.close();
  await database?.drop();
  await removeQueuePrefix(prefix);
});

describe('scale-up', () => {
  it('lists workers with default concurrency', async () => {
    const workers = await settingsWorkers();
    expect(workers.health).toEqual({ perWorker: queueSettings.health.concurrency, workers: 2, total: 2 * queueSettings.health.concurrency });
    expect(workers.email).toEqual({ perWorker: queueSettings.email.concurrency, workers: 1, total: queueSettings.email.concurrency });
    expect(workers.backups.workers).toBe(0);
  });

  it('runs more jobs at once after scaling', async () => {
    const base = queueSettings.health.concurrency;
    // A BullMQ worker whose slots are all taken waits for a job to finish before it
    // looks at its concurrency again, so the higher value shows once the running ones end.
    for (let index = 0; index < 6 * base; index += 1) {
      await app.queues.health.add('hold-probe', { payload: {}, requestedBy: 'test' });
    }
    await waitFor(`${2 * base} probes running`, () => (running === 2 * base ? true : undefined));

    const result = await runJobThroughApi(app, { maintenance: events }, 'scale-up', { queue: 'health', concurrency: 2 * base });
    expect(result).toMatchObject({ queue: 'health', concurrencyPerWorker: 2 * base, workers: 2, totalBefore: 2 * base, totalAfter: 4 * base, notApplied: [] });
    for (const pool of pools) {
      const health = pool.workers.find((worker) => worker.name === 'health');
      expect(health?.concurrency).toBe(2 * base);
    }
    releaseRunning();
    await waitFor(`${4 * base} probes running`, () => (running === 4 * base && holding.length === 4 * base ? true : undefined));
    expect(await settingsWorkers()).toMatchObject({ health: { perWorker: 2 * base, workers: 2, total: 4 * base } });

    releaseRunning();
    await waitFor('probes finished', async () => (running === 0 && (await app.queues.health.getActiveCount()) === 0 ? true : undefined));
  });

  it('applies stored concurrency to new workers', async () => {
    await runJobThroughApi(app, { maintenance: events }, 'scale-up', { queue: 'email', concurrency: 3 });
    const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix });
    const late = await startTestWorkers({ db: database.db, config, servedQueues: ['email'], definitions });
    pools.push(late);
    await late.control.ready;
    expect(late.workers[0]!.concurrency).toBe(3);
    expect(await settingsWorkers()).toMatchObject({ email: { perWorker: 3, workers: 2, total: 6 } });

    await late.close();
    expect((await settingsWorkers()).email).toMatchObject({ workers: 1, total: 3 });
  });

  it('leaves other queues unchanged', async () => {
    const before = await settingsWorkers();
    const result = await runJobThroughApi(app, { maintenance: events }, 'scale-up', { queue: 'maintenance', concurrency: 1 });
    expect(result).toMatchObject({ queue: 'maintenance', workers: 1, totalAfter: 1 });
    const after = await settingsWorkers();
    expect(after.maintenance).toEqual({ perWorker: 1, workers: 1, total: 1 });
    expect(after.health).toEqual(before.health);
    expect(after.email).toEqual(before.email);
  });

  it.each([
    [{ queue: 'backups', concurrency: 2 }, /data\.queue.*health, maintenance, email/],
    [{ queue: 'health', concurrency: 0 }, /data\.concurrency: expected integer to be greater or equal to 1 \(got 0\)/],
    [{ queue: 'health', concurrency: 101 }, /data\.concurrency: expected integer to be less or equal to 100 \(got 101\)/],
    [{ queue: 'health' }, /data\.concurrency/],
  ])('rejects %j with 400', async (data, message) => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/scale-up', payload: { data } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(message);
  });
});
