import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { estimateQuantile, LatencyRecorder, LATENCY_BUCKETS_MS, latencyKey, readLatency } from '../../src/metrics/latency-history.js';
import { saveStates } from '../../src/jobs/health/store.js';
import type { ComponentState } from '../../src/jobs/health/types.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('api_performance');
const HOUR_MS = 3_600_000;
let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;

/** Bucket counts with `count` requests in the bucket whose upper bound is `boundMs`. */
function bucketsWith(entries: [boundMs: number, count: number][]): number[] {
  const buckets = LATENCY_BUCKETS_MS.map(() => 0);
  for (const [bound, count] of entries) buckets[LATENCY_BUCKETS_MS.indexOf(bound as (typeof LATENCY_BUCKETS_MS)[number])]! += count;
  return buckets;
}

beforeAll(async () => {
  database = await createTestDatabase('api_performance');
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix });
  app = await buildTestApp({ config, logger: false });
  events = new QueueEvents('maintenance', { connection: { url: config.REDIS_URL }, prefix });
  await events.waitUntilReady();
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
});

afterAll(async () => {
  await workers?.close();
  await events?.close();
  await app?.close();
  await database?.drop();
  await removeQueuePrefix(prefix);
});

describe('estimateQuantile', () => {
  it.each([
    // Ten requests between 10 and 25 ms: the median lies halfway through that bucket.
    [bucketsWith([[25, 10]]), 0.5, 17.5],
    [bucketsWith([[5, 90], [1000, 10]]), 0.5, 2.8],
    [bucketsWith([[5, 90], [1000, 10]]), 0.95, 750],
    [bucketsWith([[5, 90], [1000, 10]]), 0.99, 950],
    // The last bucket has no upper bound, so its lower bound is the estimate.
    [bucketsWith([[Number.POSITIVE_INFINITY, 3]]), 0.5, 10_000],
  ])('estimates quantile %#', (buckets, quantile, expected) => {
    expect(estimateQuantile(buckets, quantile)).toBe(expected);
  });

  it('returns null without requests', () => {
    expect(estimateQuantile(bucketsWith([]), 0.5)).toBeNull();
  });
});

describe('latency history', () => {
  it('adds flushed counts per hour', async () => {
    const recorder = new LatencyRecorder();
    const hour = new Date(Date.UTC(2026, 0, 5, 10));
    const historyPrefix = `${prefix}:history`;
    recorder.record('GET /a', 3, 200);
    recorder.record('GET /a', 30, 503);
    await recorder.flush(app.redis, historyPrefix, new Date(hour.getTime() + 60_000));
    recorder.record('GET /a', 3, 200);
    await recorder.flush(app.redis, historyPrefix, new Date(hour.getTime() + HOUR_MS));

    const oneHour = await readLatency(app.redis, historyPrefix, hour, hour);
    expect(oneHour.get('GET /a')).toEqual({ endpoint: 'GET /a', buckets: bucketsWith([[5, 1], [50, 1]]), errors: 1, sumMs: 33 });
    const twoHours = await readLatency(app.redis, historyPrefix, hour, new Date(hour.getTime() + HOUR_MS));
    expect(twoHours.get('GET /a')?.buckets).toEqual(bucketsWith([[5, 2], [50, 1]]));
    expect(await app.redis.ttl(latencyKey(historyPrefix, hour))).toBeGreaterThan(7 * 24 * 3600);
  });

  it('keeps counts a failed flush could not save', async () => {
    const recorder = new LatencyRecorder();
    recorder.record('GET /b', 3, 200);
    const broken = app.redis.duplicate({ lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    await expect(recorder.flush(broken, `${prefix}:lost`)).rejects.toThrow();
    broken.disconnect();

    const hour = new Date();
    await recorder.flush(app.redis, `${prefix}:lost`, hour);
    expect((await readLatency(app.redis, `${prefix}:lost`, hour, hour)).get('GET /b')?.buckets).toEqual(bucketsWith([[5, 1]]));
  });
});

describe('api-performance', () => {
  it('reports endpoints the API served, with percentiles and trend', async () => {
    // The window before: GET /api/settings took about 400 ms per request.
    const earlier = new LatencyRecorder();
    for (let index = 0; index < 20; index += 1) earlier.record('GET /api/settings', 400, 200);
    await earlier.flush(app.redis, prefix, new Date(Date.now() - 30 * HOUR_MS));

    for (let index = 0; index < 12; index += 1) {
      expect((await app.inject({ method: 'GET', url: '/api/settings' })).statusCode).toBe(200);
    }
    for (let index = 0; index < 3; index += 1) {
      expect((await app.inject({ method: 'GET', url: '/api/no-such-route' })).statusCode).toBe(404);
    }
    await app.latencyRecorder.flush(app.redis, prefix);

    const result = await runJobThroughApi(app, { maintenance: events }, 'api-performance', { hours: 24 });
    const settings = result.endpoints.find((entry: { endpoint: string }) => entry.endpoint === 'GET /api/settings');
    expect(settings).toMatchObject({ requests: 12, errors: 0, errorPercent: 0 });
    expect(settings.p50Ms).toBeGreaterThan(0);
    expect(settings.p95Ms).toBeGreaterThanOrEqual(settings.p50Ms);
    expect(settings.p99Ms).toBeGreaterThanOrEqual(settings.p95Ms);
    expect(settings.trend).toMatchObject({ direction: 'faster' });
    expect(settings.trend.previousP95Ms).toBeGreaterThan(250);
    const unmatched = result.endpoints.find((entry: { endpoint: string }) => entry.endpoint === 'GET unmatched');
    expect(unmatched).toMatchObject({ requests: 3 });
    expect(result.window.hours).toBe(24);
  });

  it('filters endpoints by text', async () => {
    const result = await runJobThroughApi(app, { maintenance: events }, 'api-performance', { endpoint: '/api/settings' });
    expect(result.endpoints.map((entry: { endpoint: string }) => entry.endpoint)).toEqual(['GET /api/settings']);
  });

  it('reports percentiles of checked URLs from health samples', async () => {
    const sample = (url: string, ms: number, hoursAgo: number) => sql`
      insert into health_check_history (component, kind, status, measurements, checked_at)
      values ('api', 'sample', 'pass',
        ${JSON.stringify([{ measurement: 'responseTime', componentId: url, observedValue: ms, observedUnit: 'ms', status: 'pass', time: new Date().toISOString() }])}::jsonb,
        now() - ${hoursAgo} * interval '1 hour')
    `.execute(database.db);
    for (const [index, ms] of [10, 20, 30, 40, 50].entries()) await sample('http://127.0.0.1:9/health', ms, index + 1);
    for (const ms of [200, 220]) await sample('http://127.0.0.1:9/health', ms, 30);

    const result = await runJobThroughApi(app, { maintenance: events }, 'api-performance', {});
    expect(result.checkedUrls).toEqual([
      {
        url: 'http://127.0.0.1:9/health',
        samples: 5,
        failures: 0,
        p50Ms: 30,
        p95Ms: 48,
        maxMs: 50,
        trend: { previousP95Ms: 219, changePercent: -78.1, direction: 'faster' },
      },
    ]);
  });

  it.each([
    [{ hours: 0 }, /data\.hours/],
    [{ hours: 169 }, /data\.hours/],
    [{ endpoint: '' }, /data\.endpoint/],
    [{ window: 3 }, /window/],
  ])('rejects %j with 400', async (data, message) => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/api-performance', payload: { data } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toMatch(message);
  });
});

describe('optimize-routes', () => {
  it('ranks endpoints by time spent and advises on slow ones', async () => {
    const recorder = new LatencyRecorder();
    for (let index = 0; index < 1000; index += 1) recorder.record('GET /api/busy', 20, 200);
    for (let index = 0; index < 10; index += 1) recorder.record('POST /api/slow', 3000, index < 2 ? 500 : 200);
    await recorder.flush(app.redis, prefix);

    const result = await runJobThroughApi(app, { maintenance: events }, 'optimize-routes', { hours: 1 });
    expect(result.changed).toBe(false);
    expect(result.routes[0]).toMatchObject({ rank: 1, endpoint: 'POST /api/slow', requests: 10, totalSeconds: 30, errorPercent: 20 });
    expect(result.routes[0].advice.join(' ')).toMatch(/p95 is .* ms \(over 500 ms\)/);
    expect(result.routes[0].advice.join(' ')).toMatch(/20% of requests failed/);
    expect(result.routes[1]).toMatchObject({ rank: 2, endpoint: 'GET /api/busy', requests: 1000, totalSeconds: 20, advice: [] });
  });

  it('says when pg_stat_statements is not available', async () => {
    const result = await runJobThroughApi(app, { maintenance: events }, 'optimize-routes', {});
    // The shared test server does not preload pg_stat_statements.
    expect(result.databaseQueries.statements).toEqual([]);
    expect(result.databaseQueries.notAvailable).toMatch(/pg_stat_statements/);
    expect(result.databaseQueries.fix).toMatch(/shared_preload_libraries/);
  });
});

describe('performance-analysis service sections', () => {
  function state(component: string, measurement: string, value: number): ComponentState {
    const time = new Date().toISOString();
    return {
      component,
      status: 'pass',
      since: time,
      output: null,
      measurements: [{ measurement, observedValue: value, observedUnit: 'percent', status: 'pass', time }],
      checkedAt: time,
      observed: 'pass',
      observedCount: 1,
      lastSampleAt: null,
      lastCriticalAt: null,
    };
  }

  it('reports resources against thresholds and API response times', async () => {
    await saveStates(app.redis, prefix, [state('cpu', 'utilization', 85), state('memory', 'utilization', 50), state('database', 'connectionUtilization', 12)]);
    const recorder = new LatencyRecorder();
    for (let index = 0; index < 5; index += 1) recorder.record('GET /api/weekly', 700, 200);
    await recorder.flush(app.redis, prefix);

    const result = await runJobThroughApi(app, { maintenance: events }, 'performance-analysis', {});
    expect(result.resources).toEqual([
      expect.objectContaining({ resource: 'cpu', percent: 85, thresholdPercent: 70, status: 'over' }),
      expect.objectContaining({ resource: 'memory', percent: 50, thresholdPercent: 80, status: 'under' }),
      expect.objectContaining({ resource: 'db_connections', percent: 12, thresholdPercent: 80, status: 'under' }),
      { resource: 'storage', percent: null, thresholdPercent: 85, status: 'not measured', measuredAt: null },
    ]);
    expect(result.resourcesOverThreshold).toEqual(['cpu']);
    expect(result.apiResponseTimes.windowHours).toBe(168);
    expect(result.apiResponseTimes.endpoints[0]).toMatchObject({ endpoint: 'POST /api/slow' });
    expect(result.apiResponseTimes.endpoints.map((entry: { endpoint: string }) => entry.endpoint)).toContain('GET /api/weekly');
  });
});
