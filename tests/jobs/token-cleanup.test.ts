import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cleanupTokens, type TokenCleanupOptions } from '../../src/jobs/sessions/token-cleanup.js';
import pg from 'pg';
import { connectionSettings } from '../../src/db/database.js';
import { createTestDatabase, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const NOW = new Date('2026-06-15T03:00:00.000Z');
const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (offsetMs: number) => new Date(NOW.getTime() + offsetMs);

let database: TestDatabase;
let userId: number;

const options = (overrides: Partial<TokenCleanupOptions> = {}): TokenCleanupOptions => ({
  now: NOW,
  batchSize: 3,
  auditRetentionDays: 90,
  sessionGraceHours: 24,
  dryRun: false,
  ...overrides,
});

beforeAll(async () => {
  database = await createTestDatabase('token_cleanup');
});

afterAll(async () => {
  await database?.drop();
});

beforeEach(async () => {
  await sql`truncate token_blacklist, user_sessions, audit_logs, audit_logs_archive, users, crews restart identity cascade`.execute(
    database.db,
  );
  const user = await database.db
    .insertInto('users')
    .values({ email: 'bosun@example.com', full_name: 'Ada Bosun', role: 'crew' })
    .returning('id')
    .executeTakeFirstOrThrow();
  userId = user.id;
});

async function remainingJtis(): Promise<string[]> {
  const rows = await database.db.selectFrom('token_blacklist').select('jti').orderBy('jti').execute();
  return rows.map((row) => row.jti);
}

describe('token blacklist cleanup', () => {
  const cases: Array<{ jti: string; expiresAt: Date | null; removed: boolean }> = [
    { jti: 'expired-a-year-ago', expiresAt: at(-365 * DAY), removed: true },
    { jti: 'expired-one-second-ago', expiresAt: at(-SECOND), removed: true },
    { jti: 'expires-exactly-now', expiresAt: at(0), removed: true },
    { jti: 'expires-in-one-second', expiresAt: at(SECOND), removed: false },
    { jti: 'expires-next-week', expiresAt: at(7 * DAY), removed: false },
    { jti: 'no-expiry', expiresAt: null, removed: false },
  ];

  it('removes exactly the expired entries', async () => {
    await database.db
      .insertInto('token_blacklist')
      .values(cases.map((entry) => ({ jti: entry.jti, user_id: userId, reason: 'logout', expires_at: entry.expiresAt })))
      .execute();

    const result = await cleanupTokens(database.db, options());

    const kept = cases.filter((entry) => !entry.removed).map((entry) => entry.jti).sort();
    expect(await remainingJtis()).toEqual(kept);
    expect(result.steps.token_blacklist.rows).toBe(cases.filter((entry) => entry.removed).length);
  });

  it('walks many batches without skipping rows', async () => {
    // Interleave expired and live rows so every batch contains both kinds.
    const rows = Array.from({ length: 40 }, (_, index) => ({
      jti: `token-${String(index).padStart(2, '0')}`,
      user_id: userId,
      reason: 'logout',
      expires_at: index % 3 === 0 ? at(DAY) : at(-DAY),
    }));
    await database.db.insertInto('token_blacklist').values(rows).execute();

    const result = await cleanupTokens(database.db, options({ batchSize: 4 }));

    const live = rows.filter((_, index) => index % 3 === 0).map((row) => row.jti);
    expect(await remainingJtis()).toEqual(live);
    expect(result.steps.token_blacklist.rows).toBe(40 - live.length);
    expect(result.steps.token_blacklist.batches).toBeGreaterThan(5);
  });
});

describe('concurrent application update', () => {
  it('keeps a token whose expiry was extended mid-batch', async () => {
    await database.db
      .insertInto('token_blacklist')
      .values([
        { jti: 'extended', reason: 'logout', expires_at: at(-DAY) },
        { jti: 'expired', reason: 'logout', expires_at: at(-DAY) },
      ])
      .execute();
    const application = new pg.Client(connectionSettings(database.url));
    await application.connect();
    try {
      // The application extends the entry and holds its row lock, so the
      // cleanup selects the old version and its DELETE waits for the lock.
      await application.query('begin');
      await application.query(`update token_blacklist set expires_at = $1 where jti = 'extended'`, [at(DAY)]);
      const cleanup = cleanupTokens(database.db, options({ batchSize: 10 }));
      await waitFor('the cleanup to wait on the row lock', async () => {
        const { rows } = await sql<{ waiting: number }>`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'
        `.execute(database.db);
        return rows[0]!.waiting > 0 ? true : undefined;
      });
      await application.query('commit');

      const result = await cleanup;

      expect(await remainingJtis()).toEqual(['extended']);
      expect(result.steps.token_blacklist.rows).toBe(1);
    } finally {
      await application.end();
    }
  });
});

describe('session cleanup', () => {
  const grace = 24 * HOUR;
  const cases: Array<{ agent: string; expiresAt: Date | null; revokedAt: Date | null; removed: boolean }> = [
    { agent: 'expired-long-ago', expiresAt: at(-30 * DAY), revokedAt: null, removed: true },
    { agent: 'expired-grace-plus-one-second', expiresAt: at(-grace - SECOND), revokedAt: null, removed: true },
    { agent: 'expired-exactly-grace-ago', expiresAt: at(-grace), revokedAt: null, removed: true },
    { agent: 'expired-within-grace', expiresAt: at(-grace + SECOND), revokedAt: null, removed: false },
    { agent: 'live', expiresAt: at(DAY), revokedAt: null, removed: false },
    { agent: 'revoked-long-ago', expiresAt: at(DAY), revokedAt: at(-10 * DAY), removed: true },
    { agent: 'revoked-within-grace', expiresAt: at(DAY), revokedAt: at(-HOUR), removed: false },
    { agent: 'revoked-no-expiry', expiresAt: null, revokedAt: at(-10 * DAY), removed: true },
    { agent: 'no-expiry-not-revoked', expiresAt: null, revokedAt: null, removed: false },
  ];

  it('removes expired and revoked sessions past the grace period', async () => {
    await database.db
      .insertInto('user_sessions')
      .values(cases.map((entry) => ({ user_id: userId, user_agent: entry.agent, expires_at: entry.expiresAt, revoked_at: entry.revokedAt })))
      .execute();

    const result = await cleanupTokens(database.db, options());

    const rows = await database.db.selectFrom('user_sessions').select('user_agent').orderBy('user_agent').execute();
    const kept = cases.filter((entry) => !entry.removed).map((entry) => entry.agent).sort();
    expect(rows.map((row) => row.user_agent)).toEqual(kept);
    expect(result.steps.user_sessions.rows).toBe(cases.length - kept.length);
  });
});

describe('audit log archive', () => {
  async function insertAuditRows(ageDays: number[]): Promise<void> {
    await database.db
      .insertInto('audit_logs')
      .values(ageDays.map((days, index) => ({
        user_id: userId,
        action: `action-${index}`,
        details: JSON.stringify({ index }),
        ip_address: '10.0.0.1',
        created_at: at(-days * DAY),
      })))
      .execute();
  }

  it('moves rows past retention, keeps the rest', async () => {
    await insertAuditRows([400, 200, 91, 90, 89, 1]);

    const result = await cleanupTokens(database.db, options());

    const live = await database.db.selectFrom('audit_logs').select('action').orderBy('id').execute();
    const archived = await database.db.selectFrom('audit_logs_archive').selectAll().orderBy('id').execute();
    // 90 days exactly is not older than the retention period, so it stays.
    expect(live.map((row) => row.action)).toEqual(['action-3', 'action-4', 'action-5']);
    expect(archived.map((row) => row.action)).toEqual(['action-0', 'action-1', 'action-2']);
    expect(archived[0]?.details).toEqual({ index: 0 });
    expect(archived[0]?.ip_address).toBe('10.0.0.1');
    expect(archived[0]?.created_at.toISOString()).toBe(at(-400 * DAY).toISOString());
    expect(result.steps.audit_logs.rows).toBe(3);
  });

  it('fails a batch instead of dropping a duplicate', async () => {
    await insertAuditRows([400]);
    const row = await database.db.selectFrom('audit_logs').selectAll().executeTakeFirstOrThrow();
    await database.db.insertInto('audit_logs_archive').values({ ...row, details: JSON.stringify(row.details) }).execute();

    await expect(cleanupTokens(database.db, options())).rejects.toThrow(/duplicate key/);

    const live = await database.db.selectFrom('audit_logs').select('id').execute();
    expect(live.map((entry) => entry.id)).toEqual([row.id]);
  });
});

describe('dry run', () => {
  it('reports the counts and changes nothing', async () => {
    await database.db
      .insertInto('token_blacklist')
      .values([
        { jti: 'old', reason: 'logout', expires_at: at(-DAY) },
        { jti: 'live', reason: 'logout', expires_at: at(DAY) },
      ])
      .execute();
    await database.db.insertInto('user_sessions').values({ user_id: userId, expires_at: at(-10 * DAY) }).execute();
    await database.db.insertInto('audit_logs').values({ action: 'old', created_at: at(-100 * DAY) }).execute();
    const snapshot = async () => ({
      tokens: await database.db.selectFrom('token_blacklist').selectAll().orderBy('id').execute(),
      sessions: await database.db.selectFrom('user_sessions').selectAll().orderBy('id').execute(),
      audit: await database.db.selectFrom('audit_logs').selectAll().orderBy('id').execute(),
      archive: await database.db.selectFrom('audit_logs_archive').selectAll().orderBy('id').execute(),
    });
    const before = await snapshot();

    const result = await cleanupTokens(database.db, options({ dryRun: true }));

    expect(await snapshot()).toEqual(before);
    expect(result.dryRun).toBe(true);
    expect(result.steps.token_blacklist.rows).toBe(1);
    expect(result.steps.user_sessions.rows).toBe(1);
    expect(result.steps.audit_logs.rows).toBe(1);
  });
});

describe('abort signal', () => {
  it('stops between batches', async () => {
    await database.db
      .insertInto('token_blacklist')
      .values(Array.from({ length: 20 }, (_, index) => ({ jti: `t${index}`, reason: 'logout', expires_at: at(-DAY) })))
      .execute();
    const controller = new AbortController();

    const run = cleanupTokens(database.db, options({
      batchSize: 5,
      signal: controller.signal,
      onBatch: (_step, rows) => {
        if (rows >= 10) controller.abort(new Error('stop requested'));
      },
    }));

    await expect(run).rejects.toThrow('stop requested');
    expect(await remainingJtis()).toHaveLength(10);
  });
});
