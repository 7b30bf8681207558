import { QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDatabase } from '../../src/db/seed.js';
import { ATTACK_IPS, BURST_IP, NIGHT_ACTION_HOUR, OLD_BURST_IP, plantAdminNightAction } from '../../src/db/seed-security.js';
import { databaseNow } from '../../src/db/clock.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { parseWorkingHours } from '../../src/jobs/security/admin-hours.js';
import { parseAllowlist } from '../../src/jobs/security/security-review.js';
import { calendar } from '../../src/queues/calendar.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('security');
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let nightActionId: number;
let victim: string;

const run = (name: string, data: Record<string, unknown> = {}) => runJobThroughApi(app, { maintenance: events }, name, data);

async function alertKeys(): Promise<string[]> {
  const rows = await database.db.selectFrom('alerts').select('dedup_key').orderBy('dedup_key').execute();
  return rows.map((row) => row.dedup_key);
}

/** Admin actions of the past week outside 07-19 UTC, computed in JavaScript from the rows themselves. */
async function offHoursOracle(): Promise<number[]> {
  const now = await databaseNow({ db: database.db });
  const rows = await database.db
    .selectFrom('audit_logs')
    .innerJoin('users', 'users.id', 'audit_logs.user_id')
    .select(['audit_logs.id', 'audit_logs.created_at'])
    .where('users.role', '=', 'admin')
    .execute();
  return rows
    .filter((row) => row.created_at.getTime() >= now.getTime() - 7 * DAY_MS)
    .filter((row) => row.created_at.getUTCHours() < 7 || row.created_at.getUTCHours() >= 19)
    .map((row) => row.id)
    .sort((a, b) => a - b);
}

/** Inserts `count` failed logins from `ip` over ten minutes, ending one hour ago. */
async function insertBurst(ip: string, count: number) {
  const rows = Array.from({ length: count }, (_, index) => ({
    email: `probe${index % 3}@fleetmail.example`,
    ip_address: ip,
    success: false,
    failure_reason: 'invalid_password',
    attempted_at: new Date(Date.now() - HOUR_MS - index * 20_000),
  }));
  await database.db.insertInto('login_attempts').values(rows).execute();
}

beforeAll(async () => {
  database = await createTestDatabase('security');
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();

  await seedDatabase(database.db, { scale: 1, seed: 11 });
  nightActionId = (await plantAdminNightAction(database.db, { now: new Date() }))!;
  const attacked = await database.db
    .selectFrom('login_attempts')
    .select('email')
    .where(sql<boolean>`ip_address <<= '198.51.100.0/24'::inet`)
    .executeTakeFirstOrThrow();
  victim = attacked.email;
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('security seed', () => {
  it('is the same for the same seed and now', async () => {
    const now = new Date('2030-01-07T12:00:00.000Z');
    const dump = async () => {
      const attempts = await database.db.selectFrom('login_attempts').selectAll().orderBy('id').execute();
      const alerts = await database.db.selectFrom('security_alerts').selectAll().orderBy('id').execute();
      return JSON.stringify([attempts, alerts]);
    };
    const scratch = await createTestDatabase('security_seed');
    try {
      await seedDatabase(scratch.db, { scale: 1, seed: 5, now });
      const first = await scratch.db.selectFrom('login_attempts').selectAll().orderBy('id').execute();
      await seedDatabase(scratch.db, { scale: 1, seed: 5, now });
      const second = await scratch.db.selectFrom('login_attempts').selectAll().orderBy('id').execute();
      expect(JSON.stringify(second)).toBe(JSON.stringify(first));
      expect(first.length).toBeGreaterThan(100);
      await seedDatabase(scratch.db, { scale: 1, seed: 6, now });
      const other = await scratch.db.selectFrom('login_attempts').selectAll().orderBy('id').execute();
      expect(JSON.stringify(other)).not.toBe(JSON.stringify(first));
    } finally {
      await scratch.drop();
    }
    expect(await dump()).toContain(BURST_IP);
  });

  it('plants the admin action at 03:00 UTC', async () => {
    const row = await database.db.selectFrom('audit_logs').select(['created_at', 'action']).where('id', '=', nightActionId).executeTakeFirstOrThrow();
    expect(row.created_at.getUTCHours()).toBe(NIGHT_ACTION_HOUR);
    expect(row.action).toBe('admin.user_updated');
  });
});

describe('security-review', () => {
  it('dry run finds the planted patterns and blocks nothing', async () => {
    const result = await run('security-review', { dryRun: true });

    expect(result.dryRun).toBe(true);
    expect(result.ipBursts.map((burst: { ip: string }) => burst.ip)).toEqual([BURST_IP]);
    expect(result.ipBursts[0].maxInWindow).toBe(40);
    expect(result.accountBursts).toEqual([]);
    expect(result.manyIpAccounts.map((account: { account: string }) => account.account)).toEqual([victim]);
    expect(result.manyIpAccounts[0].ips).toBeGreaterThanOrEqual(ATTACK_IPS);
    expect(result.wouldBlock).toEqual([BURST_IP]);
    expect(result.blocked).toEqual([]);
    expect(result.alertsRaised).toBe(0);
    expect(JSON.stringify(result)).not.toContain(OLD_BURST_IP);

    const blocks = await database.db.selectFrom('blocked_ips').selectAll().execute();
    expect(blocks).toEqual([]);
    expect(await alertKeys()).toEqual([]);
  });

  it('reports admin actions outside working hours', async () => {
    const result = await run('security-review', { dryRun: true });
    const expected = await offHoursOracle();

    expect(expected).toContain(nightActionId);
    expect(result.offHoursAdminActions).toBe(expected.length);
    expect(result.offHoursActions.map((action: { id: number }) => action.id).sort((a: number, b: number) => a - b)).toEqual(expected);
  });

  it('lists the unresolved security alerts of the week', async () => {
    const result = await run('security-review', { dryRun: true });
    const planted = await database.db
      .selectFrom('security_alerts')
      .select('id')
      .where('alert_type', 'in', ['impossible_travel', 'credential_stuffing'])
      .orderBy('id')
      .execute();

    expect(planted).toHaveLength(2);
    expect(result.securityAlerts.open.map((alert: { id: number }) => alert.id).sort()).toEqual(planted.map((row) => row.id).sort());
    expect(result.securityAlerts.total).toBeGreaterThanOrEqual(7);
    expect(result.failedLogins.failed).toBeGreaterThan(40);
    expect(result.failedLogins.topIps[0]).toEqual({ ip: BURST_IP, failures: 40 });
  });

  it('blocks the bursting IP with an expiry and raises alerts', async () => {
    const result = await run('security-review');
    const now = await databaseNow({ db: database.db });

    expect(result.blocked).toEqual([expect.objectContaining({ ip: BURST_IP, network: `${BURST_IP}/32` })]);
    const blocks = await database.db.selectFrom('blocked_ips').selectAll().execute();
    expect(blocks).toHaveLength(1);
    expect(blocks[0]!.network).toBe(`${BURST_IP}/32`);
    expect(blocks[0]!.blocked_by).toBe('security-review');
    const expiresInHours = (blocks[0]!.expires_at!.getTime() - now.getTime()) / HOUR_MS;
    expect(expiresInHours).toBeGreaterThan(167.9);
    expect(expiresInHours).toBeLessThanOrEqual(168);

    const keys = await alertKeys();
    expect(keys).toEqual(
      [
        `security-review:failed-login-burst:ip:${BURST_IP}`,
        `security-review:many-ips:${victim}`,
        'security-review:unresolved-security-alerts',
        ...result.offHoursAdmins.map((admin: { account: string }) => `security-review:admin-off-hours:${admin.account}`),
      ].sort(),
    );
    expect(result.alertsRaised).toBe(keys.length);
  });

  it('never blocks allow-listed addresses', async () => {
    await insertBurst('127.0.0.1', 25);
    await insertBurst('::1', 25);

    const result = await run('security-review');

    const bursts = new Map(result.ipBursts.map((burst: { ip: string; allowlisted: boolean; alreadyBlocked: boolean }) => [burst.ip, burst]));
    expect(bursts.get('127.0.0.1')).toMatchObject({ allowlisted: true });
    expect(bursts.get('::1')).toMatchObject({ allowlisted: true });
    expect(bursts.get(BURST_IP)).toMatchObject({ allowlisted: false, alreadyBlocked: true });
    expect(result.skippedAllowlisted.sort()).toEqual(['127.0.0.1', '::1']);
    expect(result.blocked).toEqual([]);

    const { rows } = await sql<{ count: number }>`
      select count(*)::int as count from blocked_ips where network >>= '127.0.0.1'::inet or network >>= '::1'::inet
    `.execute(database.db);
    expect(rows[0]!.count).toBe(0);
    expect(await database.db.selectFrom('blocked_ips').selectAll().execute()).toHaveLength(1);
  });

  it('renews an expired block', async () => {
    await database.db.updateTable('blocked_ips').set({ expires_at: new Date(Date.now() - HOUR_MS) }).execute();

    const result = await run('security-review');
    const now = await databaseNow({ db: database.db });

    expect(result.blocked.map((block: { ip: string }) => block.ip)).toEqual([BURST_IP]);
    const blocks = await database.db.selectFrom('blocked_ips').selectAll().execute();
    expect(blocks).toHaveLength(1);
    const expiresInHours = (blocks[0]!.expires_at!.getTime() - now.getTime()) / HOUR_MS;
    expect(expiresInHours).toBeGreaterThan(167.9);
  });

  it('rejects an invalid payload', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/security-review', payload: { data: { days: 0 } } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('days');
  });
});

describe('security-review settings', () => {
  it('parses the allow-list', () => {
    expect(parseAllowlist({ SECURITY_ALLOWLIST: '127.0.0.0/8, ::1/128,10.1.2.3' })).toEqual(['127.0.0.0/8', '::1/128', '10.1.2.3']);
    expect(() => parseAllowlist({ SECURITY_ALLOWLIST: '127.0.0.0/8,10.0.0.0/33' })).toThrow('10.0.0.0/33');
  });

  it('parses working hours', () => {
    expect(parseWorkingHours('07-19')).toEqual({ start: 7, end: 19 });
    expect(parseWorkingHours('22-06')).toEqual({ start: 22, end: 6 });
    expect(parseWorkingHours('0-24')).toEqual({ start: 0, end: 0 });
    expect(() => parseWorkingHours('7to19')).toThrow('SECURITY_ADMIN_HOURS');
  });
});

describe('security-audit', () => {
  it('flags dormant accounts and deletes nothing', async () => {
    const crew = await database.db.selectFrom('crews').select('id').orderBy('id').executeTakeFirstOrThrow();
    const sleeper = await database.db
      .insertInto('users')
      .values({ email: 'sleeper@fleetmail.example', full_name: 'Sleeping Sailor', role: 'crew', crew_id: crew.id, last_login_at: new Date(Date.now() - 200 * DAY_MS), created_at: new Date(Date.now() - 400 * DAY_MS) })
      .returning('id')
      .executeTakeFirstOrThrow();
    const drifter = await database.db
      .insertInto('users')
      .values({ email: 'drifter@fleetmail.example', full_name: 'Crewless Sailor', role: 'crew', crew_id: null, last_login_at: new Date(), password_changed_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const usersBefore = await database.db.selectFrom('users').selectAll().orderBy('id').execute();

    const result = await run('security-audit');

    const { rows: expected } = await sql<{ id: number }>`
      select id from users where is_active and coalesce(last_login_at, created_at) <
        now() - make_interval(days => case when role = 'admin' then 30 else 90 end)
      order by id
    `.execute(database.db);
    expect(expected.map((row) => row.id)).toContain(sleeper.id);
    expect(result.dormant.map((account: { id: number }) => account.id).sort((a: number, b: number) => a - b)).toEqual(expected.map((row) => row.id));
    expect(result.dormantAccounts).toBe(expected.length);

    const checks = Object.fromEntries(result.checklist.map((item: { check: string; failing: number }) => [item.check, item.failing]));
    expect(checks['accounts-with-crew']).toBe(1);
    expect(checks['dormant-accounts']).toBe(expected.length);
    expect(Object.keys(checks).sort()).toEqual(['accounts-with-crew', 'admin-recent-login', 'dormant-accounts', 'password-age']);
    expect(result.checklist.find((item: { check: string }) => item.check === 'accounts-with-crew').passed).toBe(false);
    expect(result.adminAccess.byAction['admin.user_updated']).toBeGreaterThanOrEqual(1);
    const byRole = Object.fromEntries(result.permissions.map((row: { role: string; users: number }) => [row.role, row.users]));
    expect(byRole.crew + byRole.manager + byRole.admin).toBe(usersBefore.length);

    const usersAfter = await database.db.selectFrom('users').selectAll().orderBy('id').execute();
    expect(usersAfter).toEqual(usersBefore);
    expect(usersAfter.map((user) => user.id)).toContain(drifter.id);
    expect(await alertKeys()).toEqual(expect.arrayContaining(['security-audit:accounts-with-crew', 'security-audit:dormant-accounts']));
  });
});

describe('security calendar', () => {
  const nextFires = (job: string, from: string, count: number) => {
    const entry = calendar.find((candidate) => candidate.job === job);
    expect(entry?.pattern, job).toBeDefined();
    const expression = CronExpressionParser.parse(entry!.pattern!, { tz: 'UTC', currentDate: new Date(from) });
    return Array.from({ length: count }, () => expression.next().toDate().toISOString());
  };

  it('reviews on Mondays at 09:00', () => {
    expect(nextFires('security-review', '2026-12-04T12:00:00Z', 3)).toEqual(['2026-12-07T09:00:00.000Z', '2026-12-14T09:00:00.000Z', '2026-12-21T09:00:00.000Z']);
  });

  it('audits on the 15th', () => {
    expect(nextFires('security-audit', '2026-12-04T12:00:00Z', 3)).toEqual(['2026-12-15T08:00:00.000Z', '2027-01-15T08:00:00.000Z', '2027-02-15T08:00:00.000Z']);
  });
});
