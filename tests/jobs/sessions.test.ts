import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { isTokenRefused } from '../../src/jobs/sessions/token-rules.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('sessions');
const HOUR = 3_600_000;
let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let crewUser: number;
let adminUser: number;

const runJob = (name: string, data: Record<string, unknown> = {}) => runJobThroughApi(app, { maintenance: events }, name, data);

const ago = (hours: number) => new Date(Date.now() - hours * HOUR);

beforeAll(async () => {
  database = await createTestDatabase('sessions');
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, SESSION_GRACE_HOURS: '24' });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
});

beforeEach(async () => {
  await sql`truncate user_sessions, users, crews, maintenance_logs restart identity cascade`.execute(database.db);
  await sql`update platform_settings set tokens_valid_after = null`.execute(database.db);
  const crew = await database.db.insertInto('crews').values({ name: 'MV Nordic Star deck crew', vessel: 'MV Nordic Star' }).returning('id').executeTakeFirstOrThrow();
  const users = await database.db
    .insertInto('users')
    .values([
      { email: 'deckhand@fleet.example', full_name: 'Deck Hand', role: 'crew', crew_id: crew.id },
      { email: 'captain@fleet.example', full_name: 'Ship Captain', role: 'admin' },
    ])
    .returning('id')
    .execute();
  crewUser = users[0]!.id;
  adminUser = users[1]!.id;
  await database.db
    .insertInto('user_sessions')
    .values([
      { user_id: crewUser, user_agent: 'live-active', expires_at: new Date(Date.now() + HOUR), last_seen_at: new Date(Date.now() - 60_000) },
      { user_id: crewUser, user_agent: 'live-no-expiry', expires_at: null, last_seen_at: ago(5) },
      { user_id: adminUser, user_agent: 'live-admin', expires_at: new Date(Date.now() + HOUR), last_seen_at: ago(30) },
      { user_id: crewUser, user_agent: 'expired-long-ago', expires_at: ago(48) },
      { user_id: crewUser, user_agent: 'expired-recently', expires_at: ago(1) },
      { user_id: adminUser, user_agent: 'revoked-long-ago', expires_at: new Date(Date.now() + HOUR), revoked_at: ago(30) },
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

const agents = async () =>
  (await database.db.selectFrom('user_sessions').select('user_agent').orderBy('user_agent').execute()).map((row) => row.user_agent);

describe('clean-sessions', () => {
  it('deletes sessions ended past the grace period', async () => {
    const dryRun = await runJob('clean-sessions', { dryRun: true });
    expect(dryRun).toMatchObject({ dryRun: true, sessions: 2 });
    expect(await agents()).toHaveLength(6);

    const result = await runJob('clean-sessions', { batchSize: 1 });

    expect(result).toMatchObject({ dryRun: false, sessions: 2, batches: 2 });
    expect(await agents()).toEqual(['expired-recently', 'live-active', 'live-admin', 'live-no-expiry']);
  });
});

describe('active-sessions', () => {
  it('counts live sessions by role, crew and activity', async () => {
    const result = await runJob('active-sessions');

    expect(result).toEqual({
      liveSessions: 3,
      users: 2,
      activeWithin: { '15m': 1, '1h': 1, '24h': 2 },
      byRole: { admin: 1, crew: 2 },
      byCrew: { 'MV Nordic Star deck crew': 2, '(no crew)': 1 },
    });
  });
});

describe('force-logout-all', () => {
  it('revokes sessions and refuses earlier tokens', async () => {
    const issuedSecondBefore = Math.floor(Date.now() / 1000) - 1;

    const dryRun = await runJob('force-logout-all', { dryRun: true });
    expect(dryRun).toEqual({ dryRun: true, sessions: 5 });
    const untouched = await database.db.selectFrom('platform_settings').select('tokens_valid_after').executeTakeFirstOrThrow();
    expect(untouched.tokens_valid_after).toBeNull();

    const result = await runJob('force-logout-all', { batchSize: 2 });

    expect(result).toMatchObject({ dryRun: false, sessionsRevoked: 5, batches: 3 });
    const unrevoked = await database.db.selectFrom('user_sessions').select('id').where('revoked_at', 'is', null).execute();
    expect(unrevoked).toEqual([]);
    const settings = await app.inject({ method: 'GET', url: '/api/settings' });
    const tokensValidAfter = new Date(settings.json().tokensValidAfter);
    expect(isTokenRefused(issuedSecondBefore, tokensValidAfter)).toBe(true);
    expect(isTokenRefused(Math.ceil(tokensValidAfter.getTime() / 1000) + 1, tokensValidAfter)).toBe(false);
    expect(settings.json().updatedBy).toBe('bootstrap-admin');
    const log = await database.db.selectFrom('maintenance_logs').selectAll().where('job_name', '=', 'force-logout-all').orderBy('id').execute();
    expect(log.map((row) => row.type)).toEqual(['emergency', 'emergency']);
  });
});

describe('token rule', () => {
  const cutoff = new Date('2026-12-04T12:00:00.400Z');
  const cases: Array<[string, number, Date | null, boolean]> = [
    ['a second before', Date.parse('2026-12-04T11:59:59Z') / 1000, cutoff, true],
    ['the same second', Date.parse('2026-12-04T12:00:00Z') / 1000, cutoff, true],
    ['a second after', Date.parse('2026-12-04T12:00:01Z') / 1000, cutoff, false],
    ['no cutoff set', Date.parse('2026-12-04T11:00:00Z') / 1000, null, false],
  ];
  for (const [name, iat, after, refused] of cases) {
    it(`${refused ? 'refuses' : 'accepts'} a token issued ${name}`, () => {
      expect(isTokenRefused(iat, after)).toBe(refused);
    });
  }
});
