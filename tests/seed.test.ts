import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDatabase, type Db } from '../src/db/database.js';
import { countUnseededUsers, SEEDED_TABLES, seedDatabase, type SeededTable } from '../src/db/seed.js';
import { createTestDatabase, type TestDatabase } from './helpers/services.js';

const DAY_MS = 86_400_000;

let database: TestDatabase;
let db: Db;

beforeAll(async () => {
  database = await createTestDatabase('seed');
  db = database.db;
});

afterAll(async () => {
  await database?.drop();
});

/**
 * Returns an md5 of every row of `table` in id order, with each timestamp
 * written as seconds relative to `now`, so two seeds made at different
 * instants compare equal when their rows match relative to their own `now`.
 */
async function tableChecksum(table: SeededTable, now: Date): Promise<string | null> {
  const { rows: columns } = await sql<{ column_name: string; data_type: string }>`
    select column_name, data_type from information_schema.columns
    where table_schema = current_schema() and table_name = ${table}
    order by ordinal_position
  `.execute(db);
  const reference = sql`${now.toISOString()}::timestamptz`;
  const fields = columns.map((column) =>
    column.data_type === 'timestamp with time zone'
      ? sql`coalesce(extract(epoch from ${sql.ref(column.column_name)} - ${reference})::text, 'null')`
      : sql`coalesce(${sql.ref(column.column_name)}::text, 'null')`,
  );
  const { rows } = await sql<{ checksum: string | null }>`
    select md5(string_agg(concat_ws('|', ${sql.join(fields)}), chr(10) order by id)) as checksum
    from ${sql.table(table)}
  `.execute(db);
  return rows[0]?.checksum ?? null;
}

async function allChecksums(now: Date): Promise<Record<SeededTable, string | null>> {
  const entries = [];
  for (const table of SEEDED_TABLES) entries.push([table, await tableChecksum(table, now)] as const);
  return Object.fromEntries(entries) as Record<SeededTable, string | null>;
}

async function countRows(table: SeededTable): Promise<number> {
  const { rows } = await sql<{ count: number }>`select count(*) as count from ${sql.table(table)}`.execute(db);
  return rows[0]!.count;
}

describe('seedDatabase', () => {
  test('writes counts for scale one', async () => {
    const counts = await seedDatabase(db, { scale: 1, seed: 1 });

    expect(counts.crews).toBe(2);
    expect(counts.users).toBe(50);
    expect(counts.user_sessions).toBe(2_000);
    expect(counts.token_blacklist).toBe(10_000);
    expect(counts.audit_logs).toBe(10_000);
    expect(counts.audit_logs_archive).toBe(0);
    // Six to ten modules per user and four to seven quizzes per user who logged in.
    expect(counts.training_progress).toBeGreaterThanOrEqual(300);
    expect(counts.training_progress).toBeLessThanOrEqual(500);
    expect(counts.quiz_attempts).toBeGreaterThanOrEqual(150);
    expect(counts.quiz_attempts).toBeLessThanOrEqual(350);
    for (const table of SEEDED_TABLES) {
      expect(await countRows(table), table).toBe(counts[table]);
    }
  });

  test('scale multiplies the sizes', async () => {
    const counts = await seedDatabase(db, { scale: 3, seed: 1 });

    expect(counts.crews).toBe(6);
    expect(counts.users).toBe(150);
    expect(counts.user_sessions).toBe(6_000);
    expect(counts.token_blacklist).toBe(30_000);
    expect(counts.audit_logs).toBe(30_000);
  });

  test('same seed gives same rows', async () => {
    const firstNow = new Date('2030-03-30T00:30:00.123Z');
    // Europe/Oslo moves to summer time on 2030-03-31, between the two instants,
    // and the second instant is not a whole number of days after the first.
    const secondNow = new Date(firstNow.getTime() + 9 * DAY_MS + 3_723_456);
    const osloDb = createDatabase(`${database.url}?options=-c%20TimeZone%3DEurope%2FOslo`, { max: 1 });

    try {
      await seedDatabase(osloDb, { scale: 1, seed: 42, now: firstNow });
      const first = await allChecksums(firstNow);
      await seedDatabase(osloDb, { scale: 1, seed: 42, now: secondNow });
      const second = await allChecksums(secondNow);

      for (const table of SEEDED_TABLES) {
        expect(second[table], table).toBe(first[table]);
      }
      expect(first.token_blacklist).not.toBeNull();
    } finally {
      await osloDb.destroy();
    }
  });

  test('other seed gives other rows', async () => {
    const now = new Date();
    await seedDatabase(db, { scale: 1, seed: 1, now });
    const first = await allChecksums(now);
    await seedDatabase(db, { scale: 1, seed: 2, now });
    const second = await allChecksums(now);

    expect(second.users).not.toBe(first.users);
    expect(second.token_blacklist).not.toBe(first.token_blacklist);
    expect(second.user_sessions).not.toBe(first.user_sessions);
    expect(second.audit_logs).not.toBe(first.audit_logs);
  });

  test('users have roles and activity', async () => {
    await seedDatabase(db, { scale: 2, seed: 7 });

    const roles = await db
      .selectFrom('users')
      .select(['role', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('role')
      .execute();
    const byRole = Object.fromEntries(roles.map((row) => [row.role, row.count]));
    expect(byRole).toEqual({ admin: 2, manager: 10, crew: 88 });

    const { rows } = await sql<{ never: number; dormant: number; recent: number; inactive: number; without_crew: number }>`
      select
        count(*) filter (where last_login_at is null) as never,
        count(*) filter (where last_login_at < now() - interval '90 days') as dormant,
        count(*) filter (where last_login_at > now() - interval '30 days') as recent,
        count(*) filter (where not is_active) as inactive,
        count(*) filter (where crew_id is null) as without_crew
      from users
    `.execute(db);
    const activity = rows[0]!;
    expect(activity.never).toBeGreaterThan(0);
    expect(activity.dormant).toBeGreaterThan(0);
    expect(activity.recent).toBeGreaterThan(50);
    expect(activity.inactive).toBeGreaterThan(0);
    expect(activity.inactive).toBeLessThan(20);
    expect(activity.without_crew).toBe(2);

    const { rows: invalid } = await sql<{ count: number }>`
      select count(*) as count from users where last_login_at < created_at
    `.execute(db);
    expect(invalid[0]!.count).toBe(0);
  });

  test('last logins match successful login attempts', async () => {
    await seedDatabase(db, { scale: 2, seed: 7 });

    const { rows } = await sql<{ mismatched: number; dormant_signing_in: number; never_signing_in: number; dormant: number; never: number }>`
      with latest as (
        select user_id, max(attempted_at) as at from login_attempts where success and user_id is not null group by user_id
      )
      select
        count(*) filter (where latest.at is distinct from users.last_login_at and latest.at is not null) as mismatched,
        count(*) filter (where users.last_login_at < now() - interval '90 days' and latest.at is not null) as dormant_signing_in,
        count(*) filter (where users.last_login_at is null and latest.at is not null) as never_signing_in,
        count(*) filter (where users.is_active and users.last_login_at < now() - interval '90 days') as dormant,
        count(*) filter (where users.is_active and users.last_login_at is null) as never
      from users left join latest on latest.user_id = users.id
    `.execute(db);
    const check = rows[0]!;
    expect(check.mismatched).toBe(0);
    expect(check.dormant_signing_in).toBe(0);
    expect(check.never_signing_in).toBe(0);
    expect(check.dormant).toBeGreaterThan(0);
    expect(check.never).toBeGreaterThan(0);

    const { rows: recent } = await sql<{ users: number; with_attempts: number }>`
      select count(*) as users, count(*) filter (where exists (
        select 1 from login_attempts where login_attempts.user_id = users.id and success
      )) as with_attempts
      from users where is_active and last_login_at > now() - interval '20 days'
    `.execute(db);
    expect(recent[0]!.users).toBeGreaterThan(0);
    expect(recent[0]!.with_attempts).toBe(recent[0]!.users);
  });

  test('tokens are expired, live or permanent', async () => {
    const now = new Date();
    await seedDatabase(db, { scale: 1, seed: 1, now });

    const { rows } = await sql<{ expired: number; live: number; permanent: number; future_blacklisting: number }>`
      select
        count(*) filter (where expires_at <= ${now.toISOString()}::timestamptz) as expired,
        count(*) filter (where expires_at > ${now.toISOString()}::timestamptz) as live,
        count(*) filter (where expires_at is null) as permanent,
        count(*) filter (where blacklisted_at > ${now.toISOString()}::timestamptz) as future_blacklisting
      from token_blacklist
    `.execute(db);
    const tokens = rows[0]!;
    expect(tokens.expired).toBeGreaterThan(8_700);
    expect(tokens.expired).toBeLessThan(9_300);
    expect(tokens.live).toBeGreaterThan(700);
    expect(tokens.live).toBeLessThan(1_100);
    expect(tokens.permanent).toBeGreaterThan(40);
    expect(tokens.permanent).toBeLessThan(200);
    expect(tokens.future_blacklisting).toBe(0);

    const { rows: lifetimes } = await sql<{ shortest: number; longest: number; oldest_days: number }>`
      select
        min(extract(epoch from expires_at - blacklisted_at))::float8 as shortest,
        max(extract(epoch from expires_at - blacklisted_at))::float8 as longest,
        extract(epoch from ${now.toISOString()}::timestamptz - min(blacklisted_at))::float8 / 86400 as oldest_days
      from token_blacklist
    `.execute(db);
    expect(lifetimes[0]!.shortest).toBeGreaterThanOrEqual(3_600);
    expect(lifetimes[0]!.longest).toBeLessThanOrEqual(7 * 86_400);
    expect(lifetimes[0]!.oldest_days).toBeGreaterThan(700);
    expect(lifetimes[0]!.oldest_days).toBeLessThanOrEqual(730);

    const { rows: reasons } = await sql<{ reason: string }>`
      select distinct reason from token_blacklist order by reason
    `.execute(db);
    expect(reasons.map((row) => row.reason)).toEqual(['admin_revoke', 'logout', 'password_change', 'suspicious_activity']);
  });

  test('sessions cover every state', async () => {
    const now = new Date();
    await seedDatabase(db, { scale: 1, seed: 1, now });

    const reference = sql`${now.toISOString()}::timestamptz`;
    const { rows } = await sql<Record<string, number>>`
      select
        count(*) filter (where revoked_at is null and expires_at > ${reference}) as live,
        count(*) filter (where revoked_at is null and expires_at < ${reference} - interval '1 day') as expired_long_ago,
        count(*) filter (where revoked_at is null and expires_at between ${reference} - interval '1 day' and ${reference}) as expired_recently,
        count(*) filter (where revoked_at < ${reference} - interval '1 day') as revoked_long_ago,
        count(*) filter (where revoked_at between ${reference} - interval '1 day' and ${reference}) as revoked_recently,
        count(*) filter (where revoked_at is null and expires_at is null) as no_expiry,
        count(*) filter (where created_at > ${reference} or last_seen_at < created_at) as inconsistent
      from user_sessions
    `.execute(db);
    const sessions = rows[0]!;
    for (const state of ['live', 'expired_long_ago', 'expired_recently', 'revoked_long_ago', 'revoked_recently', 'no_expiry']) {
      expect(sessions[state], state).toBeGreaterThan(0);
    }
    expect(sessions.inconsistent).toBe(0);

    const { rows: addresses } = await sql<{ v4: number; v6: number; without: number }>`
      select
        count(*) filter (where family(ip_address) = 4) as v4,
        count(*) filter (where family(ip_address) = 6) as v6,
        count(*) filter (where ip_address is null or user_agent is null) as without
      from user_sessions
    `.execute(db);
    expect(addresses[0]!.v4).toBeGreaterThan(0);
    expect(addresses[0]!.v6).toBeGreaterThan(0);
    expect(addresses[0]!.without).toBe(0);
  });

  test('audit rows span two years', async () => {
    const now = new Date();
    await seedDatabase(db, { scale: 1, seed: 1, now });

    const { rows } = await sql<{ oldest_days: number; newest_days: number; out_of_order: number; actions: number }>`
      select
        extract(epoch from ${now.toISOString()}::timestamptz - min(created_at))::float8 / 86400 as oldest_days,
        extract(epoch from ${now.toISOString()}::timestamptz - max(created_at))::float8 / 86400 as newest_days,
        (select count(*) from (
          select created_at < lag(created_at) over (order by id) as backwards from audit_logs
        ) ordered where backwards) as out_of_order,
        count(distinct action) as actions
      from audit_logs
    `.execute(db);
    const audit = rows[0]!;
    expect(audit.oldest_days).toBeGreaterThan(729);
    expect(audit.oldest_days).toBeLessThanOrEqual(730);
    expect(audit.newest_days).toBeGreaterThanOrEqual(0);
    expect(audit.newest_days).toBeLessThan(1);
    expect(audit.out_of_order).toBe(0);
    expect(audit.actions).toBe(6);

    // Evenly spread: each quarter of the two years contains about a quarter of the rows.
    const { rows: quarters } = await sql<{ quarter: number; count: number }>`
      select width_bucket(extract(epoch from ${now.toISOString()}::timestamptz - created_at), 0, 730 * 86400, 4) as quarter,
             count(*) as count
      from audit_logs group by 1 order by 1
    `.execute(db);
    expect(quarters.map((row) => row.quarter)).toEqual([1, 2, 3, 4]);
    for (const quarter of quarters) {
      expect(quarter.count, `quarter ${quarter.quarter}`).toBeGreaterThan(2_400);
      expect(quarter.count, `quarter ${quarter.quarter}`).toBeLessThan(2_600);
    }
  });

  test('keeps maintenance_logs rows', async () => {
    await db
      .insertInto('maintenance_logs')
      .values({
        type: 'routine',
        action: 'token cleanup',
        performed_by: 'system',
        duration: '00:00:01',
        result: 'success',
        job_name: 'token-cleanup',
        job_id: 'seed-test-1',
        queue: 'maintenance',
        attempt: 1,
        summary: JSON.stringify({ deleted: 0 }),
      })
      .execute();

    await seedDatabase(db, { scale: 1, seed: 1 });

    const rows = await db.selectFrom('maintenance_logs').select('job_id').where('job_id', '=', 'seed-test-1').execute();
    expect(rows).toHaveLength(1);
  });

  test('failed seed keeps previous rows', async () => {
    const now = new Date();
    await seedDatabase(db, { scale: 1, seed: 1, now });
    const before = await allChecksums(now);

    // A trigger that fails the audit_logs insert, which runs after every other table is written.
    await sql`create function reject_insert() returns trigger language plpgsql as $$
      begin raise exception 'insert rejected by test trigger'; end $$`.execute(db);
    await sql`create trigger reject_insert before insert on audit_logs
      for each statement execute function reject_insert()`.execute(db);
    try {
      await expect(seedDatabase(db, { scale: 1, seed: 2, now })).rejects.toThrow('insert rejected by test trigger');
    } finally {
      await sql`drop trigger reject_insert on audit_logs`.execute(db);
      await sql`drop function reject_insert()`.execute(db);
    }

    expect(await allChecksums(now)).toEqual(before);
  });

  test('stops when cascade reaches maintenance_logs', async () => {
    await seedDatabase(db, { scale: 1, seed: 1 });
    await sql`alter table maintenance_logs add column seed_test_user_id bigint references users (id)`.execute(db);
    try {
      await expect(seedDatabase(db, { scale: 1, seed: 1 })).rejects.toThrow(/maintenance_logs references a seeded table/);
    } finally {
      await sql`alter table maintenance_logs drop column seed_test_user_id`.execute(db);
    }
    expect(await countRows('users')).toBe(50);
  });

  test('rejects invalid options', async () => {
    await expect(seedDatabase(db, { scale: 0, seed: 1 })).rejects.toThrow(RangeError);
    await expect(seedDatabase(db, { scale: 1.5, seed: 1 })).rejects.toThrow(RangeError);
    await expect(seedDatabase(db, { scale: 1, seed: Number.NaN })).rejects.toThrow(RangeError);
    await expect(seedDatabase(db, { scale: 1, seed: 1, now: new Date(Number.NaN) })).rejects.toThrow(RangeError);
  });

  test('counts users the seed did not create', async () => {
    await seedDatabase(db, { scale: 1, seed: 1 });
    expect(await countUnseededUsers(db)).toBe(0);

    await db.insertInto('users').values({ email: 'captain@example.org', full_name: 'Real Captain', role: 'manager' }).execute();
    expect(await countUnseededUsers(db)).toBe(1);
  });
});
