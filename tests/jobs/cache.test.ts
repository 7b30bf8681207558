import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCachePrefix, clearPrefix } from '../../src/jobs/cache/scan.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('cache');
// Next to the queue prefix but outside the BullMQ namespace `${prefix}:`.
const CACHE = `${prefix}-cache:`;
const API_CACHE = `${CACHE}api:`;
const OTHER = `${prefix}-other:`;
const CACHE_KEYS = 90_000;
const API_CACHE_KEYS = 5_000;
const OTHER_KEYS = 5_000;
const TTL_SECONDS = 600;

let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let redis: Redis;

async function enqueue(target: FastifyInstance, name: string, data: Record<string, unknown> = {}) {
  const response = await target.inject({ method: 'POST', url: `/api/jobs/${name}`, payload: { data } });
  expect(response.statusCode).toBe(202);
  const job = await target.queues.maintenance.getJob(response.json().id);
  expect(job).toBeDefined();
  return job!;
}

async function runJob(name: string, data: Record<string, unknown> = {}) {
  const job = await enqueue(app, name, data);
  return job.waitUntilFinished(events, 30_000);
}

/** Counts keys under `keyPrefix` with SCAN, independently of the code under test. */
async function countKeys(keyPrefix: string): Promise<number> {
  let count = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 5000);
    cursor = next;
    count += keys.length;
  } while (cursor !== '0');
  return count;
}

async function writeKeys(keyPrefix: string, count: number): Promise<void> {
  for (let start = 0; start < count; start += 10_000) {
    const pipeline = redis.pipeline();
    for (let i = start; i < Math.min(count, start + 10_000); i += 1) pipeline.set(`${keyPrefix}${i}`, `value ${i}`);
    await pipeline.exec();
  }
}

/** Deletes every key that starts with `keyPrefix`. */
async function removeKeys(keyPrefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

beforeAll(async () => {
  database = await createTestDatabase('cache');
  const config = testConfig({
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    CACHE_PREFIX: CACHE,
    API_CACHE_PREFIX: API_CACHE,
    CACHE_TTL_SECONDS: String(TTL_SECONDS),
  });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  if (redis) {
    // `${prefix}` also covers the cache, API cache and other keys, which all start with it.
    await removeKeys(prefix);
    redis.disconnect();
  }
  await database?.drop();
});

describe('cache prefix check', () => {
  const cases: Array<[string, boolean]> = [
    ['', false],
    ['shipshape', false],
    ['ship', false],
    ['shipshape:', false],
    ['shipshape:cache:', false],
    ['cache:', true],
    ['shipshape-cache:', true],
    ['shipshapes:', true],
  ];
  for (const [cachePrefix, accepted] of cases) {
    it(`${accepted ? 'accepts' : 'rejects'} "${cachePrefix}" next to queue prefix "shipshape"`, () => {
      const check = () => checkCachePrefix('CACHE_PREFIX', cachePrefix, 'shipshape');
      if (accepted) expect(check).not.toThrow();
      else expect(check).toThrow(/CACHE_PREFIX/);
    });
  }
});

describe('clearing 100,000 keys', () => {
  let queueJobId: string;

  beforeAll(async () => {
    await writeKeys(`${CACHE}item:`, CACHE_KEYS);
    await writeKeys(`${API_CACHE}route:`, API_CACHE_KEYS);
    await writeKeys(OTHER, OTHER_KEYS);
    // No worker serves the backups queue, so this job and its keys stay under the queue prefix.
    const job = await app.queues.backups.add('cache-probe', { payload: {}, requestedBy: 'test' });
    queueJobId = job.id!;
  }, 120_000);

  it('dry run counts and deletes nothing', async () => {
    const result = await runJob('clear-cache', { dryRun: true });

    expect(result).toMatchObject({ dryRun: true, prefix: CACHE, keys: CACHE_KEYS + API_CACHE_KEYS, skippedQueueKeys: 0 });
    expect(result.deleted).toBeUndefined();
    expect(await countKeys(CACHE)).toBe(CACHE_KEYS + API_CACHE_KEYS);
  });

  it('pattern narrows the dry run', async () => {
    const result = await runJob('clear-cache', { dryRun: true, pattern: 'api:' });

    expect(result).toMatchObject({ prefix: API_CACHE, keys: API_CACHE_KEYS });
    expect(await countKeys(API_CACHE)).toBe(API_CACHE_KEYS);
  });

  it('pattern with glob characters is rejected', async () => {
    for (const pattern of ['item:*', 'item?', 'item[0]']) {
      const response = await app.inject({ method: 'POST', url: '/api/jobs/clear-cache', payload: { data: { pattern } } });
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('INVALID_PAYLOAD');
    }
  });

  it('clear-api-cache removes only its prefix', async () => {
    const result = await runJob('clear-api-cache');

    expect(result).toMatchObject({ dryRun: false, prefix: API_CACHE, deleted: API_CACHE_KEYS });
    // A key that SCAN returns twice while Redis resizes its table adds to a batch, never to `deleted`.
    expect(result.batches).toBeGreaterThanOrEqual(API_CACHE_KEYS / 1000);
    expect(await countKeys(API_CACHE)).toBe(0);
    expect(await countKeys(CACHE)).toBe(CACHE_KEYS);
    expect(await countKeys(OTHER)).toBe(OTHER_KEYS);
  });

  it('clear-cache removes only the cache prefix', async () => {
    const queueKeysBefore = await countKeys(`${prefix}:backups:`);

    const job = await enqueue(app, 'clear-cache');
    const result = await job.waitUntilFinished(events, 60_000);

    expect(result).toMatchObject({ dryRun: false, prefix: CACHE, deleted: CACHE_KEYS, skippedQueueKeys: 0 });
    expect(result.batches).toBeGreaterThanOrEqual(CACHE_KEYS / 1000);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(await countKeys(CACHE)).toBe(0);
    expect(await countKeys(OTHER)).toBe(OTHER_KEYS);
    expect(await countKeys(`${prefix}:backups:`)).toBe(queueKeysBefore);
    expect(await redis.exists(`${prefix}:backups:${queueJobId}`)).toBe(1);
    expect(await app.queues.backups.getJob(queueJobId)).toBeDefined();
    const finished = await app.queues.maintenance.getJob(job.id!);
    expect(finished!.progress).toEqual({ deleted: CACHE_KEYS, batches: result.batches });
  });

  it('skips queue keys the prefix would match', async () => {
    const queueKeys = await countKeys(`${prefix}:`);

    const report = await clearPrefix(redis, { prefix: `${prefix}:`, queuePrefix: prefix, dryRun: false });

    expect(report).toMatchObject({ matched: 0, deleted: 0, batches: 0 });
    expect(report.skippedQueueKeys).toBeGreaterThanOrEqual(queueKeys);
    expect(await redis.exists(`${prefix}:backups:${queueJobId}`)).toBe(1);
  });
});

describe('overlapping CACHE_PREFIX', () => {
  const overlapPrefix = uniqueName('cache_overlap');
  let overlapApp: FastifyInstance;
  let overlapWorkers: TestWorkers;
  let overlapEvents: QueueEvents;

  beforeAll(async () => {
    const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: overlapPrefix, CACHE_PREFIX: `${overlapPrefix}:cache:` });
    overlapApp = await buildTestApp({ config, logger: false });
    overlapWorkers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
    overlapEvents = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix: overlapPrefix });
    await overlapEvents.waitUntilReady();
  });

  afterAll(async () => {
    await overlapEvents?.close();
    await overlapWorkers?.close();
    await overlapApp?.close();
    await removeQueuePrefix(overlapPrefix);
  });

  it('fails clear-cache without retries', async () => {
    await redis.set(`${overlapPrefix}:cache:kept`, 'value');
    const job = await enqueue(overlapApp, 'clear-cache');

    await expect(job.waitUntilFinished(overlapEvents, 30_000)).rejects.toThrow(
      `CACHE_PREFIX "${overlapPrefix}:cache:" overlaps QUEUE_PREFIX "${overlapPrefix}"`,
    );
    const failed = await overlapApp.queues.maintenance.getJob(job.id!);
    expect(failed!.attemptsMade).toBe(1);
    expect(await redis.get(`${overlapPrefix}:cache:kept`)).toBe('value');
  });
});

describe('rebuild-cache', () => {
  let deckCrew: number;
  let engineCrew: number;

  beforeAll(async () => {
    const crews = await database.db
      .insertInto('crews')
      .values([
        { name: 'MV Nordic Star deck crew', vessel: 'MV Nordic Star' },
        { name: 'MV Nordic Star engine crew', vessel: 'MV Nordic Star' },
      ])
      .returning('id')
      .execute();
    deckCrew = crews[0]!.id;
    engineCrew = crews[1]!.id;
    const users = await database.db
      .insertInto('users')
      .values([
        { email: 'deckhand@fleet.example', full_name: 'Deck Hand', role: 'crew', crew_id: deckCrew },
        { email: 'bosun@fleet.example', full_name: 'Bo Sun', role: 'crew', crew_id: deckCrew },
        { email: 'oiler@fleet.example', full_name: 'Oil Er', role: 'crew', crew_id: engineCrew },
        { email: 'office@fleet.example', full_name: 'Office Clerk', role: 'manager' },
      ])
      .returning('id')
      .execute();
    const [deckhand, bosun, oiler, clerk] = users.map((user) => user.id) as [number, number, number, number];
    await database.db
      .insertInto('training_progress')
      .values([
        { user_id: deckhand, module_id: 'safety', status: 'completed', progress_percent: 100 },
        { user_id: deckhand, module_id: 'mooring', status: 'in_progress', progress_percent: 50 },
        { user_id: bosun, module_id: 'safety', status: 'completed', progress_percent: 100 },
        { user_id: bosun, module_id: 'mooring', status: 'not_started', progress_percent: 0 },
        { user_id: oiler, module_id: 'safety', status: 'in_progress', progress_percent: 30 },
        // A user without a crew counts for no crew.
        { user_id: clerk, module_id: 'safety', status: 'completed', progress_percent: 100 },
      ])
      .execute();
    await database.db
      .insertInto('quiz_attempts')
      .values([
        { user_id: deckhand, quiz_id: 'safety', score: 80, passed: true },
        { user_id: deckhand, quiz_id: 'safety', score: 40, passed: false },
        { user_id: bosun, quiz_id: 'safety', score: 90, passed: true },
        { user_id: clerk, quiz_id: 'safety', score: 10, passed: false },
      ])
      .execute();
  });

  const readJson = async (key: string) => JSON.parse((await redis.get(key)) ?? 'null');

  it('writes the aggregates of both crews', async () => {
    const result = await runJob('rebuild-cache');

    expect(result).toMatchObject({ crews: 2, keysWritten: 4, ttlSeconds: TTL_SECONDS });
    expect(await readJson(`${CACHE}crew:${deckCrew}:training`)).toMatchObject({
      crewId: deckCrew,
      members: 2,
      modulesCompleted: 2,
      modulesTotal: 4,
      averageProgressPercent: 62.5,
    });
    expect(await readJson(`${CACHE}crew:${deckCrew}:quiz`)).toMatchObject({
      crewId: deckCrew,
      attempts: 3,
      passed: 2,
      passRate: 0.6667,
      averageScore: 70,
    });
    expect(await readJson(`${CACHE}crew:${engineCrew}:training`)).toMatchObject({
      crewId: engineCrew,
      members: 1,
      modulesCompleted: 0,
      modulesTotal: 1,
      averageProgressPercent: 30,
    });
    expect(await readJson(`${CACHE}crew:${engineCrew}:quiz`)).toMatchObject({
      crewId: engineCrew,
      attempts: 0,
      passed: 0,
      passRate: null,
      averageScore: null,
    });
  });

  it('sets the TTL on every key', async () => {
    for (const crew of [deckCrew, engineCrew]) {
      for (const kind of ['training', 'quiz']) {
        const ttl = await redis.ttl(`${CACHE}crew:${crew}:${kind}`);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(TTL_SECONDS);
      }
    }
  });
});

describe('cache-stats', () => {
  it('counts keys and reads the hit ratio', async () => {
    await writeKeys(`${API_CACHE}route:`, 3);
    // One hit and one miss, so the server's counters are not both zero.
    await redis.get(`${API_CACHE}route:0`);
    await redis.get(`${API_CACHE}route:missing`);

    const result = await runJob('cache-stats');

    // The four keys rebuild-cache wrote, plus the API cache keys inside the cache prefix.
    expect(result.cache).toMatchObject({ prefix: CACHE, keys: 7, skippedQueueKeys: 0 });
    expect(result.cache.memory.sampledKeys).toBe(7);
    expect(result.cache.memory.estimatedTotalBytes).toBeGreaterThan(0);
    expect(result.apiCache).toMatchObject({ prefix: API_CACHE, keys: 3 });
    expect(result.apiCache.memory.sampledKeys).toBe(3);
    expect(result.apiCacheInsideCache).toBe(true);
    expect(result.hitRatio.ratio).toBeGreaterThan(0);
    expect(result.hitRatio.ratio).toBeLessThanOrEqual(1);
    expect(result.hitRatio.scope).toMatch(/server-wide/);
  });
});
