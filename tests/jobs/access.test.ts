import { createHash } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('access');
const DAY = 24 * 3_600_000;
let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let crewId: number;

const runJob = (name: string, data: Record<string, unknown> = {}) => runJobThroughApi(app, { maintenance: events }, name, data);

const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

beforeAll(async () => {
  database = await createTestDatabase('access');
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, ADMIN_DORMANT_DAYS: '30' });
  app = await buildTestApp({ config, logger: false });
  // No email worker: the reset emails stay queued, where the test reads them.
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
});

beforeEach(async () => {
  await sql`truncate users, crews, user_sessions, password_reset_tokens, email_queue restart identity cascade`.execute(database.db);
  const crew = await database.db.insertInto('crews').values({ name: 'MT Baltic Dawn engine crew', vessel: 'MT Baltic Dawn' }).returning('id').executeTakeFirstOrThrow();
  crewId = crew.id;
  await database.db
    .insertInto('users')
    .values([
      { email: 'master@fleet.example', full_name: 'Active Admin', role: 'admin', last_login_at: daysAgo(1), created_at: daysAgo(400) },
      { email: 'old.admin@fleet.example', full_name: 'Dormant Admin', role: 'admin', last_login_at: daysAgo(45), created_at: daysAgo(400) },
      { email: 'never@fleet.example', full_name: 'Never Admin', role: 'admin', last_login_at: null, created_at: daysAgo(60) },
      { email: 'oiler@fleet.example', full_name: 'Engine Oiler', role: 'crew', crew_id: crewId, last_login_at: daysAgo(120), created_at: daysAgo(400) },
      { email: 'wiper@fleet.example', full_name: 'Engine Wiper', role: 'crew', crew_id: crewId, last_login_at: daysAgo(2), created_at: daysAgo(400) },
      { email: 'gone@fleet.example', full_name: 'Former Crew', role: 'crew', crew_id: crewId, is_active: false, last_login_at: daysAgo(300), created_at: daysAgo(400) },
    ])
    .execute();
  await database.db
    .insertInto('user_sessions')
    .values([
      { user_id: 4, expires_at: new Date(Date.now() + DAY) },
      { user_id: 5, expires_at: new Date(Date.now() + DAY) },
      { user_id: 5, expires_at: new Date(Date.now() + DAY) },
      { user_id: 1, expires_at: new Date(Date.now() + DAY) },
    ])
    .execute();
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('audit-admins', () => {
  it('flags dormant and never-logged-in admins', async () => {
    const result = await runJob('audit-admins');

    expect(result).toMatchObject({ dormantDays: 30, admins: 3, active: 3, dormant: 2, neverLoggedIn: 1 });
    const byEmail = Object.fromEntries(result.accounts.map((account: { email: string; dormant: boolean }) => [account.email, account.dormant]));
    expect(byEmail).toEqual({ 'master@fleet.example': false, 'old.admin@fleet.example': true, 'never@fleet.example': true });
  });
});

describe('inactive-users', () => {
  it('counts active users without a recent login', async () => {
    const result = await runJob('inactive-users', { days: 90 });

    expect(result).toMatchObject({ days: 90, total: 1, byRole: { crew: 1 } });
    expect(result.users.map((user: { email: string }) => user.email)).toEqual(['oiler@fleet.example']);
  });

  it('counts never-logged-in accounts from creation', async () => {
    const result = await runJob('inactive-users', { days: 30, role: 'admin' });

    expect(result.byRole).toEqual({ admin: 2 });
  });
});

describe('reset-passwords', () => {
  it('resets a crew and stores only hashes', async () => {
    const dryRun = await runJob('reset-passwords', { crewId, dryRun: true });
    expect(dryRun).toEqual({ dryRun: true, users: 2 });

    const result = await runJob('reset-passwords', { crewId });

    expect(result).toMatchObject({ dryRun: false, users: 2, sessionsRevoked: 3, emailsQueued: 2 });
    const flagged = await database.db.selectFrom('users').select('email').where('password_reset_required', '=', true).orderBy('email').execute();
    expect(flagged.map((user) => user.email)).toEqual(['oiler@fleet.example', 'wiper@fleet.example']);
    const live = await database.db.selectFrom('user_sessions').select('user_id').where('revoked_at', 'is', null).execute();
    expect(live).toEqual([{ user_id: 1 }]);

    const emails = await database.db.selectFrom('email_queue').select(['recipient', 'body_text', 'source']).orderBy('recipient').execute();
    expect(emails.map((email) => email.recipient)).toEqual(['oiler@fleet.example', 'wiper@fleet.example']);
    const tokens = await database.db.selectFrom('password_reset_tokens').select(['user_id', 'token_hash']).orderBy('user_id').execute();
    for (const [index, email] of emails.entries()) {
      const token = /token=([A-Za-z0-9_-]+)/.exec(email.body_text)?.[1];
      expect(token).toBeDefined();
      expect(tokens[index]?.token_hash).toBe(createHash('sha256').update(token!).digest('hex'));
      expect(tokens[index]?.token_hash).not.toContain(token!);
    }
    expect(await app.queues.email.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });

  it('skips users already waiting on a rerun', async () => {
    await runJob('reset-passwords', { userIds: [4] });

    const again = await runJob('reset-passwords', { userIds: [4, 5] });

    expect(again).toMatchObject({ users: 1, emailsQueued: 1 });
    const emails = await database.db.selectFrom('email_queue').select('recipient').orderBy('id').execute();
    expect(emails.map((email) => email.recipient)).toEqual(['oiler@fleet.example', 'wiper@fleet.example']);
  });

  const rejected: Array<[string, Record<string, unknown>, string]> = [
    ['no selector', {}, 'exactly one of data.role'],
    ['two selectors', { role: 'crew', crewId: 1 }, 'exactly one of data.role'],
    ['all without confirmation', { all: true }, 'data.confirm'],
    ['all with a wrong confirmation', { all: true, confirm: 'yes' }, 'RESET ALL USERS'],
    ['unknown role', { role: 'captain' }, 'data.role'],
  ];
  for (const [name, data, mentions] of rejected) {
    it(`rejects ${name} with 400`, async () => {
      const response = await app.inject({ method: 'POST', url: '/api/jobs/reset-passwords', payload: { data } });

      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('INVALID_PAYLOAD');
      expect(response.json().message).toContain(mentions);
    });
  }

  it('resets everyone with the confirmation', async () => {
    const result = await runJob('reset-passwords', { all: true, confirm: 'RESET ALL USERS' });

    expect(result).toMatchObject({ users: 5, emailsQueued: 5 });
  });
});
