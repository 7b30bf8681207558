import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { createMailer } from '../../src/jobs/email/mailer.js';
import { runHealthCheck } from '../../src/jobs/health/run-health-check.js';
import { loadStates } from '../../src/jobs/health/store.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { closeQueues, createQueues, type Queues } from '../../src/queues/queues.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('health_alerts');
const COMPONENTS = ['api', 'cpu', 'database', 'email', 'memory', 'storage'];

let database: TestDatabase;
let smtp: TestSmtpServer;
let target: Server;
let healthy = true;
let folder: string;
let config: Config;
let workers: TestWorkers;
let redis: Redis;
let queues: Queues;
let events: QueueEvents;

/** Runs health-check through the health queue and a real worker, as the calendar does. */
async function runThroughWorker(): Promise<Record<string, unknown>> {
  const job = await queues.health.add('health-check', { payload: {}, requestedBy: 'scheduler' });
  return job.waitUntilFinished(events, 30_000);
}

/** Runs health-check in this process with settings of the test's choice, on the same Redis state and database. */
async function runDirect(overrides: Record<string, string>): Promise<Record<string, unknown>> {
  const settings = { ...config, ...testConfig({ ...baseSettings(), ...overrides }) };
  const mailer = createMailer(settings);
  try {
    return await runHealthCheck({ db: database.db, redis, mailer, config: settings, logger: pino({ level: 'silent' }), emailQueue: queues.email });
  } finally {
    mailer.close();
  }
}

const alertsOf = (key: string) => database.db.selectFrom('alerts').selectAll().where('dedup_key', '=', key).orderBy('id').execute();
const alertEmails = async () => (await database.db.selectFrom('email_queue').select(['subject']).where('source', '=', 'alert').orderBy('id').execute()).map((row) => row.subject);
const received = (subject: string) => smtp.received.filter((message) => message.raw.includes(subject));

function baseSettings(): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    SMTP_URL: smtp.url,
    HEALTH_CHECK_URLS: `http://127.0.0.1:${(target.address() as AddressInfo).port}/health`,
    HEALTH_CHECK_TIMEOUT_MS: '2000',
    HEALTH_CONFIRM_RUNS: '2',
    HEALTH_FLAP_WINDOW_MINUTES: '30',
    HEALTH_SAMPLE_MINUTES: '5',
    // CPU and memory of a shared test machine are not under test here.
    HEALTH_CPU_MAX_PERCENT: '100',
    HEALTH_MEMORY_MAX_PERCENT: '100',
    HEALTH_STORAGE_MAX_PERCENT: '100',
    HEALTH_DB_CONNECTIONS_MAX_PERCENT: '100',
    STORAGE_DIR: join(folder, 'storage'),
    ALERT_ESCALATION: 'oncall@localhost:0,techlead@localhost:15',
  };
}

beforeAll(async () => {
  database = await createTestDatabase('health_alerts');
  smtp = await startSmtpServer();
  folder = await mkdtemp(join(tmpdir(), 'shipshape-health-alerts-'));
  target = createServer((_request, response) => response.writeHead(healthy ? 200 : 500).end());
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  config = testConfig(baseSettings());

  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  queues = createQueues(redis, prefix);
  events = new QueueEvents('health', { connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix });
  await events.waitUntilReady();
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['health', 'email'], definitions: jobDefinitions });
});

afterAll(async () => {
  await workers?.close();
  await events?.close();
  await closeQueues(queues);
  redis?.disconnect();
  await new Promise((resolve) => target.close(resolve));
  await smtp.stop();
  await removeQueuePrefix(prefix);
  await rm(folder, { recursive: true, force: true });
  await database.drop();
});

describe('health-check state and alerts', () => {
  it('records every component on the first run', async () => {
    const summary = await runThroughWorker();

    expect(summary.status).toEqual(Object.fromEntries(COMPONENTS.map((component) => [component, 'pass'])));
    const states = await database.db.selectFrom('health_check_state').selectAll().orderBy('component').execute();
    expect(states.map((state) => state.component)).toEqual(COMPONENTS);
    expect(states.every((state) => state.status === 'pass')).toBe(true);
    const changes = await database.db.selectFrom('health_check_history').selectAll().where('kind', '=', 'change').execute();
    expect(changes).toHaveLength(COMPONENTS.length);
    expect(changes.every((change) => change.previous_status === null)).toBe(true);
    expect((await loadStates(redis, prefix)).size).toBe(COMPONENTS.length);
  });

  it('writes no maintenance_logs row per run', async () => {
    await runThroughWorker();

    const rows = await database.db.selectFrom('maintenance_logs').select('id').where('job_name', '=', 'health-check').execute();
    expect(rows).toHaveLength(0);
  });

  it('raises one critical alert when pass turns to fail', async () => {
    healthy = false;
    await runThroughWorker();
    expect(await alertsOf('health:api:fail')).toHaveLength(0);
    expect((await loadStates(redis, prefix)).get('api')).toMatchObject({ status: 'pass', observed: 'fail', observedCount: 1 });

    await runThroughWorker();
    const [alert] = await alertsOf('health:api:fail');
    expect(alert).toMatchObject({ severity: 'critical', status: 'open', source: 'health-check', escalation_level: 1 });
    expect(alert!.message).toContain('HTTP 500');
    await waitFor('the critical alert email', () => (received('[CRITICAL] health-check: api').length === 1 ? true : undefined));

    for (let run = 0; run < 3; run += 1) await runThroughWorker();
    const alerts = await alertsOf('health:api:fail');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.occurrences).toBe(1);
    expect((await alertEmails()).filter((subject) => subject.startsWith('[CRITICAL]'))).toHaveLength(1);
  });

  it('resolves the alert when the component passes again', async () => {
    healthy = true;
    await runThroughWorker();
    expect((await alertsOf('health:api:fail'))[0]!.status).toBe('open');

    await runThroughWorker();
    expect((await alertsOf('health:api:fail'))[0]).toMatchObject({ status: 'resolved', resolved_by: 'health-check' });
    await waitFor('the resolved email', () => (received('[RESOLVED] health-check: api').length === 1 ? true : undefined));
    const change = await database.db.selectFrom('health_check_history').selectAll().where('component', '=', 'api').where('kind', '=', 'change').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(change).toMatchObject({ status: 'pass', previous_status: 'fail' });
  });

  it('sends nothing for ten flips', async () => {
    const emailsBefore = await alertEmails();
    const alertsBefore = await database.db.selectFrom('alerts').select('id').execute();

    for (let flip = 0; flip < 10; flip += 1) {
      healthy = !healthy;
      await runThroughWorker();
    }

    expect(await alertEmails()).toEqual(emailsBefore);
    expect(await database.db.selectFrom('alerts').select('id').execute()).toHaveLength(alertsBefore.length);
    expect((await loadStates(redis, prefix)).get('api')!.status).toBe('pass');
    healthy = true;
  });

  it('raises a repeat failure within the flap window as high', async () => {
    const emailsBefore = await alertEmails();
    healthy = false;
    await runThroughWorker();
    await runThroughWorker();

    const alerts = await alertsOf('health:api:fail');
    expect(alerts).toHaveLength(2);
    expect(alerts[1]).toMatchObject({ severity: 'high', status: 'open', notified_at: null });
    expect(alerts[1]!.message).toContain('flapping');
    // High alerts wait for the digest of dispatch-alerts instead of an email of their own.
    expect(await alertEmails()).toEqual(emailsBefore);

    healthy = true;
    await runThroughWorker();
    await runThroughWorker();
    expect((await alertsOf('health:api:fail'))[1]!.status).toBe('resolved');
    expect(await alertEmails()).toEqual(emailsBefore);
  });

  it('warns with a high alert above a resource threshold', async () => {
    await runDirect({ HEALTH_MEMORY_MAX_PERCENT: '0.01' });
    await runDirect({ HEALTH_MEMORY_MAX_PERCENT: '0.01' });

    const state = (await loadStates(redis, prefix)).get('memory')!;
    expect(state.status).toBe('warn');
    expect(state.output).toMatch(/memory use is [\d.]+%, above 0.01%/);
    const [alert] = await alertsOf('health:memory:warn');
    expect(alert).toMatchObject({ severity: 'high', status: 'open' });

    await runDirect({});
    await runDirect({});
    expect((await alertsOf('health:memory:warn'))[0]!.status).toBe('resolved');
  });

  it('samples each component once per sample window', async () => {
    const samples = await database.db.selectFrom('health_check_history').select('id').where('component', '=', 'api').where('kind', '=', 'sample').execute();

    // Every run so far happened within one five-minute window.
    expect(samples).toHaveLength(1);
  });

  it('keeps the history within its row cap over many runs', async () => {
    for (let run = 0; run < 25; run += 1) {
      await runDirect({ HEALTH_SAMPLE_MINUTES: '0', HEALTH_HISTORY_MAX_ROWS: '10' });
      const { count } = await database.db.selectFrom('health_check_history').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
      expect(count).toBeLessThanOrEqual(10);
    }

    const rows = await database.db.selectFrom('health_check_history').selectAll().orderBy('id').execute();
    expect(rows).toHaveLength(10);
    // The newest rows stay: every one is a sample of the last runs.
    expect(rows.every((row) => row.kind === 'sample')).toBe(true);
  });
});

describe('requested health-check runs', () => {
  it('fails when a component fails', async () => {
    healthy = false;
    const job = await queues.health.add('health-check', { payload: {}, requestedBy: 'alice' });
    await expect(job.waitUntilFinished(events, 30_000)).rejects.toThrow(/health check failed: api: GET http:\/\/127\.0\.0\.1:\d+\/health returned HTTP 500/);
    healthy = true;
  });

  it('completes when every component passes', async () => {
    healthy = true;
    const job = await queues.health.add('health-check', { payload: {}, requestedBy: 'alice' });
    const summary = await job.waitUntilFinished(events, 30_000);
    expect(summary.observed.api).toBe('pass');
  });
});
