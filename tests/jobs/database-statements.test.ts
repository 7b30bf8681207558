import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Db } from '../../src/db/database.js';
import { ensureDatabase, migrateToLatest } from '../../src/db/migrate.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

// pg_stat_statements needs shared_preload_libraries, which the shared server
// must keep as it is: these tests run on a private cluster of their own.
const prefix = uniqueName('database_statements');
let cluster: PgCluster;
let url: string;
let db: Db;
let client: pg.Client;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;

async function timingColumnsOfView(): Promise<string[]> {
  const { rows } = await client.query<{ column_name: string }>(
    `select column_name from information_schema.columns
      where table_name = 'pg_stat_statements' and column_name in ('total_time', 'mean_time', 'total_exec_time', 'mean_exec_time')
      order by column_name`,
  );
  return rows.map((row) => row.column_name);
}

/** Runs statements that pg_stat_statements then lists; pg_sleep makes one of them measurably slow. */
async function produceStatements(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await client.query('select pg_sleep(0.02)');
    await client.query('select count(*) from users');
  }
}

beforeAll(async () => {
  cluster = await startPgCluster({ conf: ["shared_preload_libraries = 'pg_stat_statements'"] });
  url = `${cluster.url}/shipshape_statements`;
  await ensureDatabase(url);
  db = createDatabase(url, { max: 5, applicationName: 'test-database-statements' });
  await migrateToLatest(db);
  client = new pg.Client({ connectionString: url });
  await client.connect();

  const config = testConfig({ DATABASE_URL: url, QUEUE_PREFIX: prefix });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await client?.end();
  await db?.destroy();
  await removeQueuePrefix(prefix);
  await cluster?.stop();
});

describe('pg_stat_statements on a server that preloads it', () => {
  it('reads the execution-time columns of the default extension version', async () => {
    await client.query('create extension pg_stat_statements');
    expect(await timingColumnsOfView()).toEqual(['mean_exec_time', 'total_exec_time']);
    await produceStatements();

    const result = await runJobThroughApi(app, { maintenance: events }, 'slow-queries', { minTotalMs: 0, limit: 50 });

    expect(result.slowQueries.installed).toBe(true);
    expect(result.slowQueries.timingColumns).toBe('total_exec_time');
    expect(result.slowQueries.extensionVersion).toBe('1.10');
    const sleep = result.slowQueries.queries.find((row: { query: string }) => row.query.includes('pg_sleep'));
    expect(sleep).toBeDefined();
    expect(sleep.calls).toBe(3);
    expect(sleep.totalMs).toBeGreaterThanOrEqual(60);
    expect(sleep.meanMs).toBeGreaterThanOrEqual(20);
    const totals = result.slowQueries.queries.map((row: { totalMs: number }) => row.totalMs);
    expect(totals).toEqual([...totals].sort((a, b) => b - a));
  });

  it('reads the pre-1.8 columns when the extension is created at version 1.7', async () => {
    await client.query('drop extension pg_stat_statements');
    await client.query(`create extension pg_stat_statements version '1.7'`);
    expect(await timingColumnsOfView()).toEqual(['mean_time', 'total_time']);
    await produceStatements();

    const result = await runJobThroughApi(app, { maintenance: events }, 'performance-analysis', { minTotalMs: 0 });

    expect(result.slowQueries.installed).toBe(true);
    expect(result.slowQueries.extensionVersion).toBe('1.7');
    expect(result.slowQueries.timingColumns).toBe('total_time');
    // 1.7 has no pg_stat_statements_info, so the start of the figures is unknown.
    expect(result.slowQueries.statsSince).toBeNull();
    const sleep = result.slowQueries.queries.find((row: { query: string }) => row.query.includes('pg_sleep'));
    expect(sleep.totalMs).toBeGreaterThanOrEqual(60);
  });

  it('applies the limit and the total-time threshold', async () => {
    const limited = await runJobThroughApi(app, { maintenance: events }, 'slow-queries', { minTotalMs: 0, limit: 1 });
    expect(limited.slowQueries.queries).toHaveLength(1);

    const none = await runJobThroughApi(app, { maintenance: events }, 'slow-queries', { minTotalMs: 3_600_000 });
    expect(none.slowQueries.installed).toBe(true);
    expect(none.slowQueries.queries).toEqual([]);
  });
});
