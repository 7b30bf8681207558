import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionSettings, type Db } from '../../src/db/database.js';
import type { Database } from '../../src/db/schema.js';
import { LOCKDOWN_MESSAGE } from '../../src/jobs/emergency/lockdown.js';
import { WRITABLE_SESSION_OPTIONS, writableConnectionSettings } from '../../src/jobs/emergency/settings-state.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_POSTGRES_URL, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('emergency');
const READ_ONLY_TRANSACTION = '25006';
let database: TestDatabase;
let writable: Db;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;

// The same bigint parsing as Shipshape's pools, so ids are numbers here too.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (value: string) => Number.parseInt(value, 10);
    return pg.types.getTypeParser(oid, format);
  },
};

async function enqueue(name: string, data: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: `/api/jobs/${name}`, payload: { data } });
}

async function runJob(name: string, data: Record<string, unknown> = {}) {
  const response = await enqueue(name, data);
  expect(response.statusCode, response.body).toBe(202);
  const job = await app.queues.maintenance.getJob(response.json().id);
  return job!.waitUntilFinished(events, 30_000);
}

async function settings() {
  const response = await app.inject({ method: 'GET', url: '/api/settings' });
  expect(response.statusCode).toBe(200);
  return response.json();
}

/** Opens a connection the way any other client would, without Shipshape's startup options. */
async function ordinaryClient(): Promise<pg.Client> {
  const client = new pg.Client({ ...connectionSettings(database.url), application_name: 'emergency-test-ordinary' });
  await client.connect();
  return client;
}

const insertLogRow = (note: string) => sql`
  insert into maintenance_logs (type, action, performed_by, duration, result, notes, job_name, job_id, queue, attempt)
  values ('emergency', 'write check', 'test', '0 seconds', 'success', ${note}, 'write-check', ${note}, 'maintenance', 1)
`;

async function ordinaryWriteError(): Promise<string | null> {
  const client = await ordinaryClient();
  try {
    const compiled = insertLogRow('ordinary').compile(writable);
    await client.query(compiled.sql, [...compiled.parameters]);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  database = await createTestDatabase('emergency');
  const pool = new pg.Pool({ ...writableConnectionSettings(database.url), max: 5, application_name: 'emergency-test-writable', types });
  writable = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: writable, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
});

afterAll(async () => {
  // The database default outlives every connection: reset it before anything else.
  if (database) {
    const admin = new pg.Client(connectionSettings(`${TEST_POSTGRES_URL}/postgres`));
    await admin.connect();
    try {
      await admin.query(`alter database ${pg.escapeIdentifier(database.name)} reset default_transaction_read_only`);
    } finally {
      await admin.end();
    }
  }
  await events?.close();
  await workers?.close();
  await app?.close();
  await writable?.destroy();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('test-db', () => {
  it('reports connection and server figures', async () => {
    const result = await runJob('test-db');

    expect(result.database).toBe(database.name);
    expect(result.serverVersion).toMatch(/^\d+(\.\d+)?/);
    expect(result.connectMs).toBeGreaterThanOrEqual(0);
    expect(result.roundTripMs.samples).toBe(3);
    expect(result.roundTripMs.min).toBeLessThanOrEqual(result.roundTripMs.max);
    expect(result.temporaryTableMs).toBeGreaterThanOrEqual(0);
    expect(result.maxConnections).toBeGreaterThan(0);
    expect(result.connections).toBeGreaterThanOrEqual(1);
    expect(result.connectionsPercentUsed).toBeGreaterThan(0);
    expect(result.connectionsPercentUsed).toBeLessThanOrEqual(100);
    expect(result.databaseDefaultReadOnly).toBe(false);
  });
});

describe('readonly-mode', () => {
  it('stops ordinary writes and keeps writable sessions', async () => {
    expect(WRITABLE_SESSION_OPTIONS).toBe('-c default_transaction_read_only=off');
    expect(await ordinaryWriteError()).toBeNull();

    const on = await runJob('readonly-mode', { on: true });

    expect(on.before).toMatchObject({ readOnly: false, newConnectionReadOnly: false });
    expect(on.after).toMatchObject({ readOnly: true, newConnectionReadOnly: true, updatedBy: 'bootstrap-admin' });
    expect(await ordinaryWriteError()).toBe(READ_ONLY_TRANSACTION);
    // A fresh pool connection with the startup option, opened after the change.
    const fresh = new pg.Pool({ ...writableConnectionSettings(database.url), max: 1, types });
    try {
      const compiled = insertLogRow('writable').compile(writable);
      await expect(fresh.query(compiled.sql, [...compiled.parameters])).resolves.toMatchObject({ rowCount: 1 });
    } finally {
      await fresh.end();
    }
    expect((await settings()).readOnly).toBe(true);
    const testDb = await runJob('test-db');
    expect(testDb.databaseDefaultReadOnly).toBe(true);

    const off = await runJob('readonly-mode', { off: true });

    expect(off.before).toMatchObject({ readOnly: true, newConnectionReadOnly: true });
    expect(off.after).toMatchObject({ readOnly: false, newConnectionReadOnly: false });
    expect(await ordinaryWriteError()).toBeNull();
    expect((await settings()).readOnly).toBe(false);
  });
});

describe('maintenance-mode', () => {
  it('sets and clears message and end time', async () => {
    const until = new Date(Date.now() + 3_600_000).toISOString();

    const on = await runJob('maintenance-mode', { on: true, message: 'Engine room upgrade', until });

    expect(on.before.maintenanceMode).toBe(false);
    expect(on.after).toMatchObject({ maintenanceMode: true, maintenanceMessage: 'Engine room upgrade', maintenanceUntil: until });
    expect((await settings()).maintenanceMode).toEqual({ enabled: true, message: 'Engine room upgrade', until });

    const off = await runJob('maintenance-mode', { off: true });

    expect(off.before.maintenanceMode).toBe(true);
    expect((await settings()).maintenanceMode).toEqual({ enabled: false, message: null, until: null });
  });
});

describe('enable-rate-limit', () => {
  it('sets and removes the limit', async () => {
    const on = await runJob('enable-rate-limit', { perMinute: 120 });
    expect(on.before.rateLimitPerMinute).toBeNull();
    expect((await settings()).rateLimitPerMinute).toBe(120);

    const off = await runJob('enable-rate-limit', { off: true });
    expect(off.before.rateLimitPerMinute).toBe(120);
    expect((await settings()).rateLimitPerMinute).toBeNull();
  });
});

describe('block-ip', () => {
  it('stores the network and extends expiry', async () => {
    const first = await runJob('block-ip', { address: '198.51.100.7/24', reason: 'credential stuffing', expiresInHours: 2 });

    expect(first.before).toBeNull();
    expect(first.after).toMatchObject({ network: '198.51.100.0/24', reason: 'credential stuffing', blockedBy: 'bootstrap-admin' });

    const shorter = await runJob('block-ip', { address: '198.51.100.0/24', reason: 'still attacking', expiresInHours: 1 });
    expect(shorter.after.expiresAt).toBe(first.after.expiresAt);
    expect(shorter.after.reason).toBe('still attacking');
    const endless = await runJob('block-ip', { address: '2001:db8::1', reason: 'scanner' });
    expect(endless.after).toMatchObject({ network: '2001:db8::1/128', expiresAt: null });

    const blocked = (await settings()).blockedIps;
    expect(blocked.active).toBe(2);
    expect(blocked.latest.map((block: { network: string }) => block.network)).toEqual(['2001:db8::1/128', '198.51.100.0/24']);
  });
});

describe('lockdown', () => {
  it('logs everyone out and raises one critical alert', async () => {
    const user = await writable
      .insertInto('users')
      .values({ email: 'bosun@fleet.example', full_name: 'Bo Sun', role: 'crew' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await writable
      .insertInto('user_sessions')
      .values([{ user_id: user.id }, { user_id: user.id, expires_at: new Date(Date.now() + 3_600_000) }])
      .execute();

    const dryRun = await runJob('lockdown', { on: true, dryRun: true });
    expect(dryRun).toMatchObject({ dryRun: true, sessionsToRevoke: 2 });

    const on = await runJob('lockdown', { on: true });

    expect(on).toMatchObject({ dryRun: false, sessionsRevoked: 2, alertCreated: true });
    expect(on.before.lockdown).toBe(false);
    expect(on.after).toMatchObject({ lockdown: true, maintenanceMode: true, maintenanceMessage: LOCKDOWN_MESSAGE });
    const live = await writable.selectFrom('user_sessions').select('id').where('revoked_at', 'is', null).execute();
    expect(live).toEqual([]);
    const current = await settings();
    expect(current.lockdown).toBe(true);
    expect(current.maintenanceMode.enabled).toBe(true);
    expect(current.tokensValidAfter).not.toBeNull();
    const alerts = await writable.selectFrom('alerts').selectAll().execute();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', source: 'lockdown', status: 'open' });

    const off = await runJob('lockdown', { off: true });

    expect(off).toMatchObject({ dryRun: false, alertResolved: true });
    expect(off.after).toMatchObject({ lockdown: false, maintenanceMode: false, maintenanceMessage: null });
    const lifted = await settings();
    expect(lifted.lockdown).toBe(false);
    expect(lifted.maintenanceMode.enabled).toBe(false);
  });
});

describe('invalid payloads', () => {
  const cases: Array<[string, string, Record<string, unknown>, string]> = [
    ['readonly both', 'readonly-mode', { on: true, off: true }, 'data.on'],
    ['readonly neither', 'readonly-mode', {}, 'data.off'],
    ['readonly false', 'readonly-mode', { on: false }, 'data.on'],
    ['maintenance both', 'maintenance-mode', { on: true, off: true }, 'data.on'],
    ['maintenance neither', 'maintenance-mode', { message: 'x' }, 'data.on'],
    ['maintenance past until', 'maintenance-mode', { on: true, until: '2020-01-01T00:00:00Z' }, 'data.until'],
    ['maintenance bad until', 'maintenance-mode', { on: true, until: 'tomorrow' }, 'data.until'],
    ['maintenance long message', 'maintenance-mode', { on: true, message: 'x'.repeat(501) }, 'data.message'],
    ['message with off', 'maintenance-mode', { off: true, message: 'x' }, 'data.message'],
    ['rate limit both', 'enable-rate-limit', { perMinute: 10, off: true }, 'data.off'],
    ['rate limit zero', 'enable-rate-limit', { perMinute: 0 }, 'data.perMinute'],
    ['lockdown neither', 'lockdown', {}, 'data.on'],
    ['block bad cidr', 'block-ip', { address: '10.0.0.0/33', reason: 'x' }, 'data.address'],
    ['block not an ip', 'block-ip', { address: 'example.org', reason: 'x' }, 'data.address'],
    ['block no reason', 'block-ip', { address: '10.0.0.1' }, 'data.reason'],
  ];
  for (const [label, job, data, field] of cases) {
    it(`rejects ${label}`, async () => {
      const response = await enqueue(job, data);

      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('INVALID_PAYLOAD');
      expect(response.json().message.toLowerCase()).toContain(field.toLowerCase());
    });
  }
});

describe('maintenance log', () => {
  it('has an emergency row for every job', async () => {
    const rows = await writable
      .selectFrom('maintenance_logs')
      .select(['job_name', 'type', 'result'])
      .where('job_name', '<>', 'write-check')
      .execute();

    const names = new Set(rows.map((row) => row.job_name));
    expect([...names].sort()).toEqual(
      ['block-ip', 'enable-rate-limit', 'lockdown', 'maintenance-mode', 'readonly-mode', 'test-db'].sort(),
    );
    expect(rows.every((row) => row.type === 'emergency')).toBe(true);
    expect(rows.filter((row) => row.result !== 'success')).toEqual([]);
  });
});
