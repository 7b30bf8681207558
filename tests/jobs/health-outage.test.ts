import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Db } from '../../src/db/database.js';
import { ensureDatabase, migrateToLatest } from '../../src/db/migrate.js';
import { healthKeys, loadStates, readPending } from '../../src/jobs/health/store.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.js';
import { PG_BIN, startPgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const run = promisify(execFile);
const prefix = uniqueName('health_outage');

let cluster: PgCluster;
let db: Db;
let smtp: TestSmtpServer;
let target: Server;
let folder: string;
let workers: TestWorkers;
let redis: Redis;
let queues: Queues;
let events: QueueEvents;

/** Runs pg_ctl on the private cluster, as the postgres account when the tests run as root. */
async function pgCtl(...args: string[]): Promise<void> {
  const path = join(PG_BIN, 'pg_ctl');
  if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', path, ...args]);
  else await run(path, args);
}

async function runHealthCheck(): Promise<Record<string, unknown>> {
  const job = await queues.health.add('health-check', { payload: {}, requestedBy: 'scheduler' });
  return job.waitUntilFinished(events, 30_000);
}

const critical = () => smtp.received.filter((message) => message.raw.includes('[CRITICAL] health-check: database'));

beforeAll(async () => {
  cluster = await startPgCluster();
  const url = `${cluster.url}/shipshape_health_outage`;
  await ensureDatabase(url);
  db = createDatabase(url, { max: 5, connectionTimeoutMillis: 2000 });
  await migrateToLatest(db);

  smtp = await startSmtpServer();
  folder = await mkdtemp(join(tmpdir(), 'shipshape-health-outage-'));
  target = createServer((_request, response) => response.writeHead(200).end());
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const config = testConfig({
    DATABASE_URL: url,
    QUEUE_PREFIX: prefix,
    SMTP_URL: smtp.url,
    HEALTH_CHECK_URLS: `http://127.0.0.1:${(target.address() as AddressInfo).port}/health`,
    HEALTH_CHECK_TIMEOUT_MS: '2000',
    HEALTH_CONFIRM_RUNS: '2',
    HEALTH_CPU_MAX_PERCENT: '100',
    HEALTH_MEMORY_MAX_PERCENT: '100',
    HEALTH_STORAGE_MAX_PERCENT: '100',
    HEALTH_DB_CONNECTIONS_MAX_PERCENT: '100',
    STORAGE_DIR: join(folder, 'storage'),
    ALERT_ESCALATION: 'oncall@localhost:0,techlead@localhost:15',
  });

  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  queues = createQueues(redis, prefix);
  events = new QueueEvents('health', { connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix });
  await events.waitUntilReady();
  workers = await startTestWorkers({ db, config, servedQueues: ['health', 'email'], definitions: jobDefinitions });
}, 180_000);

afterAll(async () => {
  await workers?.close();
  await events?.close();
  if (queues) await closeQueues(queues);
  redis?.disconnect();
  await db?.destroy().catch(() => {});
  if (target) await new Promise((resolve) => target.close(resolve));
  await smtp?.stop();
  await cluster?.stop();
  await removeQueuePrefix(prefix);
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('health-check while Postgres is down', () => {
  it('passes while the database runs', async () => {
    const summary = await runHealthCheck();

    expect(summary.status).toMatchObject({ database: 'pass', api: 'pass', email: 'pass', storage: 'pass' });
    expect(summary.writtenToPostgres).toBe(true);
  });

  it('emails the database alert directly when Postgres stops', async () => {
    await pgCtl('stop', '-D', cluster.dataDir, '-m', 'fast', '-w');

    const first = await runHealthCheck();
    expect(first.observed).toMatchObject({ database: 'fail' });
    expect(first.status).toMatchObject({ database: 'pass' });
    expect(first.writtenToPostgres).toBe(false);

    const second = await runHealthCheck();
    expect(second.status).toMatchObject({ database: 'fail', api: 'pass' });
    expect(second.emailedDirectly).toBe(1);
    await waitFor('the direct alert email', () => (critical().length === 1 ? true : undefined));
    expect(critical()[0]!.to).toEqual(['oncall@localhost']);

    const pending = await readPending(redis, prefix, 1000);
    const alert = pending.find((write) => write.type === 'alert' && write.action.type === 'raise');
    expect(alert).toMatchObject({ type: 'alert', action: { key: 'health:database:fail', severity: 'critical' } });
    expect(alert).toHaveProperty('emailedAt');
  });

  it('keeps running and does not email again', async () => {
    const summary = await runHealthCheck();

    expect(summary.status).toMatchObject({ database: 'fail' });
    expect(summary.emailedDirectly).toBe(0);
    expect(critical()).toHaveLength(1);
    expect((await loadStates(redis, prefix)).get('database')).toMatchObject({ status: 'fail', observed: 'fail', observedCount: 3 });
  });

  it('writes the state back once Postgres returns', async () => {
    await pgCtl('start', '-D', cluster.dataDir, '-l', join(dirname(cluster.dataDir), 'restart.log'), '-w', '-t', '60');

    const summary = await runHealthCheck();
    expect(summary.observed).toMatchObject({ database: 'pass' });
    expect(summary.status).toMatchObject({ database: 'fail' });
    expect(summary.writtenToPostgres).toBe(true);
    expect(summary.pendingWritesFlushed).toBeGreaterThan(0);
    expect(await redis.llen(healthKeys(prefix).pending)).toBe(0);

    const state = await db.selectFrom('health_check_state').selectAll().where('component', '=', 'database').executeTakeFirstOrThrow();
    expect(state.status).toBe('fail');
    const change = await db.selectFrom('health_check_history').selectAll().where('component', '=', 'database').where('kind', '=', 'change').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(change).toMatchObject({ status: 'fail', previous_status: 'pass' });
    expect(change.output).toMatch(/ECONNREFUSED/);

    // The alert that went out directly is on record as notified, and no second email was queued.
    const alerts = await db.selectFrom('alerts').selectAll().where('dedup_key', '=', 'health:database:fail').execute();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', status: 'open', escalation_level: 1 });
    expect(alerts[0]!.notified_at).not.toBeNull();
    expect(await db.selectFrom('email_queue').select('id').execute()).toHaveLength(0);
  });

  it('resolves the alert on the next passing run', async () => {
    const summary = await runHealthCheck();

    expect(summary.status).toMatchObject({ database: 'pass' });
    const alert = await db.selectFrom('alerts').selectAll().where('dedup_key', '=', 'health:database:fail').executeTakeFirstOrThrow();
    expect(alert.status).toBe('resolved');
    await waitFor('the resolved email', () => (smtp.received.some((message) => message.raw.includes('[RESOLVED] health-check: database')) ? true : undefined));
    expect(critical()).toHaveLength(1);
  });
});
