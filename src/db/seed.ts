import { sql, type Insertable, type RawBuilder, type Transaction } from 'kysely';
import type { Db } from './database.js';
import type { Database, QuizAttemptsTable, TrainingProgressTable, UserRole } from './schema.js';
import { seedSecurity } from './seed-security.js';
import { seedStorage } from './seed-storage.js';

/*
 * Seed data for the platform's tables. The large tables are generated inside
 * PostgreSQL with INSERT ... SELECT over generate_series, and every random
 * value there is a hash of the row number, a column label and the seed. The
 * small tables are built in TypeScript from a seeded PRNG. The same scale,
 * seed and `now` therefore give identical rows on the same PostgreSQL version.
 */

/** Tables the seed empties and refills. maintenance_logs is Shipshape's own history and is never touched. */
export const SEEDED_TABLES = [
  'crews',
  'users',
  'user_sessions',
  'token_blacklist',
  'audit_logs',
  'audit_logs_archive',
  'training_progress',
  'quiz_attempts',
] as const;

export type SeededTable = (typeof SEEDED_TABLES)[number];

/** Rows written per table. */
export type SeedCounts = Record<SeededTable, number>;

export interface SeedOptions {
  /** Size multiplier, an integer of at least 1. */
  scale: number;
  /** Seed of every pseudo-random value, a safe integer. */
  seed: number;
  /** Instant that every seeded timestamp is relative to; defaults to the time of the call. */
  now?: Date;
}

/** Domain of every seeded user's email, which distinguishes seeded accounts from real ones. */
export const SEED_EMAIL_DOMAIN = 'fleetmail.example';

const ROWS_PER_SCALE = {
  vessels: 1,
  users: 50,
  userSessions: 2_000,
  tokenBlacklist: 10_000,
  auditLogs: 10_000,
} as const;

// A bind message carries at most 65,535 parameters, and 1,000 rows of up to 8 columns stay well below that.
const INSERT_CHUNK_ROWS = 1_000;

const MINUTE = 60;
const HOUR = 3_600;
const DAY = 86_400;
const MILLISECONDS_PER_SECOND = 1_000;

const TRAINING_MODULES = [
  'safety-induction',
  'basic-fire-fighting',
  'personal-survival-techniques',
  'elementary-first-aid',
  'security-awareness',
  'marpol-environmental-awareness',
  'enclosed-space-entry',
  'bridge-resource-management',
  'engine-room-resource-management',
  'ballast-water-management',
  'cyber-security-onboard',
  'working-at-height',
] as const;

const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
  'CrewPortal/3.8.2 (Android 13; Pixel 6a)',
  'CrewPortal/3.8.2 (iOS 17.4; iPhone14,7)',
] as const;

const VESSEL_PREFIXES = ['MV', 'MV', 'MV', 'MT', 'MS', 'LNG'] as const;
const VESSEL_FIRST_WORDS = [
  'Nordic', 'Baltic', 'Atlantic', 'Pacific', 'Arctic', 'Coral', 'Northern', 'Southern',
  'Golden', 'Silver', 'Polar', 'Aegean', 'Celtic', 'Iberian', 'Hanseatic', 'Caspian',
] as const;
const VESSEL_SECOND_WORDS = [
  'Star', 'Trader', 'Pioneer', 'Spirit', 'Wind', 'Explorer', 'Voyager', 'Horizon',
  'Dawn', 'Crest', 'Mariner', 'Navigator', 'Breeze', 'Venture', 'Harmony', 'Endeavour',
] as const;

// ASCII names from common seafaring nations, so emails need no transliteration.
const FIRST_NAMES = [
  'Jonas', 'Erik', 'Lars', 'Ingrid', 'Astrid', 'Nils', 'Mikkel', 'Freya', 'Juan', 'Maria',
  'Jose', 'Mark', 'Ramon', 'Angelica', 'Rajesh', 'Priya', 'Arjun', 'Sanjay', 'Olena', 'Taras',
  'Dmytro', 'Iryna', 'Piotr', 'Katarzyna', 'Tomasz', 'Ivan', 'Marko', 'Ana', 'Luka', 'Nikos',
  'Eleni', 'Giorgos', 'Wei', 'Li', 'Hiroshi', 'Yuki', 'Samuel', 'Grace', 'Kwame', 'Fatima',
] as const;
const LAST_NAMES = [
  'Berg', 'Larsen', 'Hansen', 'Johansson', 'Nielsen', 'Andersen', 'Lindqvist', 'Dela Cruz',
  'Santos', 'Reyes', 'Bautista', 'Garcia', 'Mendoza', 'Sharma', 'Patel', 'Nair', 'Menon',
  'Kovalenko', 'Shevchenko', 'Bondarenko', 'Nowak', 'Kowalski', 'Wisniewski', 'Horvat',
  'Kovacevic', 'Papadopoulos', 'Georgiou', 'Chen', 'Wang', 'Tanaka', 'Sato', 'Mensah',
  'Okafor', 'Haddad', 'Murphy', 'MacLeod', 'Jensen', 'Petrov', 'Novak', 'Silva',
] as const;

type Tx = Transaction<Database>;

interface SeededUser {
  id: number;
  role: UserRole;
  createdAt: Date;
  lastLoginAt: Date | null;
}

/** Context shared by the server-side generators. */
interface SqlContext {
  seed: number;
  now: Date;
  userIds: number[];
  staffIds: number[];
  adminIds: number[];
  crewIds: number[];
}

/**
 * Empties the platform tables and fills them with deterministic data sized by
 * `options.scale`, in one transaction, so a failure leaves the previous data in
 * place. Runs ANALYZE on the seeded tables afterwards. Returns the rows written
 * per table. The caller migrates the database first.
 */
export async function seedDatabase(db: Db, options: SeedOptions): Promise<SeedCounts> {
  const { scale, seed } = options;
  if (!Number.isInteger(scale) || scale < 1) {
    throw new RangeError(`Invalid seed scale ${scale}: expected an integer of at least 1`);
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`Invalid seed ${seed}: expected an integer between -(2^53 - 1) and 2^53 - 1`);
  }
  const now = options.now ?? new Date();
  if (Number.isNaN(now.getTime())) throw new RangeError('Invalid seed `now`: the Date is invalid');

  const counts = await db.transaction().execute(async (trx) => {
    // TRUNCATE waits for every open transaction on these tables, so give up
    // instead of queueing every later query of a running platform behind it.
    await sql`set local lock_timeout = '10s'`.execute(trx);
    await sql`set local statement_timeout = 0`.execute(trx);
    // The ordered inserts of the large tables sort in memory with this much.
    await sql`set local work_mem = '256MB'`.execute(trx);
    // Memoize would cache each one-row lateral subquery under a key seen only
    // once. That cost about 1 s per million rows and subquery on a 2-core machine.
    await sql`set local enable_memoize = off`.execute(trx);

    await truncateSeededTables(trx);

    const crewIds = await insertCrews(trx, scale, seed, now);
    const users = await insertUsers(trx, crewIds, scale, seed, now);
    const context: SqlContext = {
      seed,
      now,
      userIds: users.map((user) => user.id),
      staffIds: users.filter((user) => user.role !== 'crew').map((user) => user.id),
      adminIds: users.filter((user) => user.role === 'admin').map((user) => user.id),
      crewIds,
    };

    const result: SeedCounts = {
      crews: crewIds.length,
      users: users.length,
      training_progress: await insertTrainingProgress(trx, users, seed),
      quiz_attempts: await insertQuizAttempts(trx, users, seed),
      user_sessions: await insertUserSessions(trx, context, ROWS_PER_SCALE.userSessions * scale),
      token_blacklist: await insertTokenBlacklist(trx, context, ROWS_PER_SCALE.tokenBlacklist * scale),
      audit_logs: await insertAuditLogs(trx, context, ROWS_PER_SCALE.auditLogs * scale),
      audit_logs_archive: 0,
    };
    await seedSecurity(trx, { seed, now });
    await seedStorage(trx, { seed, now });
    return result;
  });

  // Fresh statistics let the maintenance jobs plan their batches on realistic estimates.
  await sql`analyze ${sql.join(SEEDED_TABLES.map((table) => sql.table(table)))}`.execute(db);
  return counts;
}

/**
 * Returns how many users have an email outside SEED_EMAIL_DOMAIN, that is, users
 * the seed did not create, so a caller can stop before deleting real accounts.
 */
export async function countUnseededUsers(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('email', 'not like', `%@${SEED_EMAIL_DOMAIN}`)
    .executeTakeFirstOrThrow();
  return row.count;
}

async function truncateSeededTables(trx: Tx): Promise<void> {
  // CASCADE also empties every table with a foreign key into these ones. Check
  // first that maintenance_logs is not among them, directly or through others.
  const reached = await sql<{ table_name: string }>`
    with recursive referencing(oid) as (
      select c.oid from pg_class c
      where c.relnamespace = current_schema()::regnamespace and c.relname = any(${[...SEEDED_TABLES]}::text[])
      union
      select con.conrelid from pg_constraint con join referencing r on con.confrelid = r.oid
      where con.contype = 'f'
    )
    select c.relname as table_name from referencing r join pg_class c on c.oid = r.oid
    where c.relname = 'maintenance_logs'
  `.execute(trx);
  if (reached.rows.length > 0) {
    throw new Error(
      'Seeding stopped before any change: maintenance_logs references a seeded table through a foreign key, ' +
        'so TRUNCATE ... CASCADE would empty it. Remove that foreign key first.',
    );
  }

  await sql`truncate ${sql.join(SEEDED_TABLES.map((table) => sql.table(table)))} restart identity cascade`.execute(trx);
}

// ---------------------------------------------------------------------------
// Small tables, generated in TypeScript

async function insertCrews(trx: Tx, scale: number, seed: number, now: Date): Promise<number[]> {
  const random = new Random(seed, 'crews');
  const names = random.shuffle(
    VESSEL_FIRST_WORDS.flatMap((first) => VESSEL_SECOND_WORDS.map((second) => `${first} ${second}`)),
  );

  const rows: { name: string; vessel: string; created_at: Date }[] = [];
  for (let index = 0; index < ROWS_PER_SCALE.vessels * scale; index++) {
    // Past the list of name pairs, names repeat with a number: "Nordic Star 2".
    const round = Math.floor(index / names.length);
    const name = `${names[index % names.length]}${round > 0 ? ` ${round + 1}` : ''}`;
    const vessel = `${random.pick(VESSEL_PREFIXES)} ${name}`;
    // Crews exist before any user joins them: two and a half to three years ago.
    const createdAt = offsetDate(now, -(912 + random.next() * 183) * DAY);
    rows.push({ name: `${vessel} deck crew`, vessel, created_at: createdAt });
    rows.push({ name: `${vessel} engine crew`, vessel, created_at: createdAt });
  }

  const ids: number[] = [];
  for (const chunk of chunks(rows, INSERT_CHUNK_ROWS)) {
    const inserted = await trx.insertInto('crews').values(chunk).returning('id').execute();
    ids.push(...inserted.map((row) => row.id));
  }
  return ids;
}

async function insertUsers(trx: Tx, crewIds: number[], scale: number, seed: number, now: Date): Promise<SeededUser[]> {
  const random = new Random(seed, 'users');
  const count = ROWS_PER_SCALE.users * scale;
  const adminCount = Math.max(1, Math.round(count * 0.02));
  const managerCount = Math.round(count * 0.1);
  const roles = random.shuffle<UserRole>([
    ...Array<UserRole>(adminCount).fill('admin'),
    ...Array<UserRole>(managerCount).fill('manager'),
    ...Array<UserRole>(count - adminCount - managerCount).fill('crew'),
  ]);

  const emailsTaken = new Map<string, number>();
  const rows = roles.map((role) => {
    const firstName = random.pick(FIRST_NAMES);
    const lastName = random.pick(LAST_NAMES);
    const localPart = `${firstName}.${lastName}`.toLowerCase().replace(/[^a-z.]/g, '');
    const taken = (emailsTaken.get(localPart) ?? 0) + 1;
    emailsTaken.set(localPart, taken);
    const email = `${localPart}${taken > 1 ? taken : ''}@${SEED_EMAIL_DOMAIN}`;

    const isActive = random.next() < 0.95;
    const { createdAt, lastLoginAt } = userActivity(random, isActive, now);
    return {
      email,
      full_name: `${firstName} ${lastName}`,
      role,
      // Admins work ashore and belong to no crew.
      crew_id: role === 'admin' ? null : random.pick(crewIds),
      is_active: isActive,
      last_login_at: lastLoginAt,
      created_at: createdAt,
    };
  });

  const users: SeededUser[] = [];
  for (const chunk of chunks(rows, INSERT_CHUNK_ROWS)) {
    const inserted = await trx.insertInto('users').values(chunk).returning('id').execute();
    inserted.forEach((row, index) => {
      const source = chunk[index]!;
      users.push({ id: row.id, role: source.role, createdAt: source.created_at, lastLoginAt: source.last_login_at });
    });
  }
  return users;
}

/** Picks when a user joined and last logged in: recent, dormant for months, or never. */
function userActivity(random: Random, isActive: boolean, now: Date): { createdAt: Date; lastLoginAt: Date | null } {
  const pattern = random.next();
  // Deactivated accounts have stopped logging in, so none of them counts as recent.
  if (pattern < 0.08) {
    return { createdAt: offsetDate(now, -random.next() * 400 * DAY), lastLoginAt: null };
  }
  if (pattern < 0.2 || !isActive) {
    const lastLoginSeconds = (90 + random.next() * 610) * DAY;
    const createdSeconds = lastLoginSeconds + random.next() * 200 * DAY;
    return { createdAt: offsetDate(now, -createdSeconds), lastLoginAt: offsetDate(now, -lastLoginSeconds) };
  }
  const createdSeconds = random.next() * 900 * DAY;
  const lastLoginSeconds = random.next() * Math.min(30 * DAY, createdSeconds);
  return { createdAt: offsetDate(now, -createdSeconds), lastLoginAt: offsetDate(now, -lastLoginSeconds) };
}

async function insertTrainingProgress(trx: Tx, users: SeededUser[], seed: number): Promise<number> {
  const random = new Random(seed, 'training_progress');
  const rows: Insertable<TrainingProgressTable>[] = [];
  for (const user of users) {
    // Six to ten assigned modules, eight on average.
    const modules = random.shuffle([...TRAINING_MODULES]).slice(0, random.int(6, 10));
    const activeUntil = user.lastLoginAt ?? user.createdAt;
    for (const moduleId of modules) {
      const statusDraw = random.next();
      const started = user.lastLoginAt !== null && statusDraw < 0.85;
      const updatedAt = started ? randomDateBetween(random, user.createdAt, activeUntil) : user.createdAt;
      if (started && statusDraw < 0.55) {
        rows.push({
          user_id: user.id, module_id: moduleId, status: 'completed',
          progress_percent: 100, updated_at: updatedAt, completed_at: updatedAt,
        });
      } else if (started) {
        rows.push({
          user_id: user.id, module_id: moduleId, status: 'in_progress',
          progress_percent: random.int(5, 95), updated_at: updatedAt, completed_at: null,
        });
      } else {
        rows.push({
          user_id: user.id, module_id: moduleId, status: 'not_started',
          progress_percent: 0, updated_at: updatedAt, completed_at: null,
        });
      }
    }
  }

  let inserted = 0;
  for (const chunk of chunks(rows, INSERT_CHUNK_ROWS)) {
    const result = await trx.insertInto('training_progress').values(chunk).executeTakeFirst();
    inserted += Number(result.numInsertedOrUpdatedRows ?? 0n);
  }
  return inserted;
}

async function insertQuizAttempts(trx: Tx, users: SeededUser[], seed: number): Promise<number> {
  const random = new Random(seed, 'quiz_attempts');
  const rows: Insertable<QuizAttemptsTable>[] = [];
  for (const user of users) {
    // Users who never logged in have taken no quiz. The rest take four to
    // seven, so the average over all users stays near five.
    if (user.lastLoginAt === null) continue;
    const attempts = random.int(4, 7);
    for (let attempt = 0; attempt < attempts; attempt++) {
      const score = random.int(35, 100);
      rows.push({
        user_id: user.id,
        quiz_id: `${random.pick(TRAINING_MODULES)}-quiz`,
        score,
        passed: score >= 70,
        attempted_at: randomDateBetween(random, user.createdAt, user.lastLoginAt),
      });
    }
  }

  let inserted = 0;
  for (const chunk of chunks(rows, INSERT_CHUNK_ROWS)) {
    const result = await trx.insertInto('quiz_attempts').values(chunk).executeTakeFirst();
    inserted += Number(result.numInsertedOrUpdatedRows ?? 0n);
  }
  return inserted;
}

// ---------------------------------------------------------------------------
// Large tables, generated by PostgreSQL
//
// Each query numbers its rows `i` with generate_series. Times are computed as
// offsets in seconds from `now` and added with make_interval(secs => ...): an
// interval without a day part adds the same number of microseconds in every
// time zone, so the rows relative to `now` do not depend on the session's
// TimeZone or on daylight saving transitions. Every lateral subquery ends in
// OFFSET 0, which stops the planner from inlining it: inlined, each reference
// to a drawn column would compute its hash again.

/** Returns SQL for a uniform value in [0, 1) derived from the row number `i`, the seed and `label`. */
function uniform(seed: number, label: string): RawBuilder<number> {
  // The low 52 bits of the 64-bit hash convert to float8 exactly.
  return sql<number>`((hashtextextended(${sql.lit(`${label}:`)} || i::text, ${sql.lit(seed)}) & 4503599627370495)::float8 / 4503599627370496)`;
}

/** Returns SQL for the timestamp `seconds` after `now`, or NULL when `seconds` is NULL. */
function atOffset(now: Date, seconds: RawBuilder<unknown>): RawBuilder<Date> {
  return sql<Date>`(${now.toISOString()}::timestamptz + make_interval(secs => ${seconds}))`;
}

/** Returns SQL that picks one element of `ids` by the uniform value `draw`. */
function pickId(ids: number[], draw: RawBuilder<unknown>): RawBuilder<number> {
  if (ids.length === 0) return sql<number>`null::bigint`;
  return sql<number>`(${ids}::bigint[])[1 + floor(${draw} * ${sql.lit(ids.length)})::int]`;
}

/**
 * Returns SQL for a public-looking client address: nine in ten are IPv4, the
 * rest IPv6 from the documentation prefix 2001:db8::/32.
 */
function ipAddress(family: RawBuilder<unknown>, host: RawBuilder<unknown>): RawBuilder<string> {
  // 3,724,541,952 is the number of IPv4 addresses from 1.0.0.0 to
  // 223.255.255.255 without 127.0.0.0/8, which the second case skips.
  return sql<string>`(case
    when ${family} < 0.1 then ('2001:db8:' || to_hex(floor(${host} * 65536)::int) || '::'
      || to_hex((floor(${host} * 4294967296)::bigint % 65536)::int))::inet
    when floor(${host} * 3724541952) < 2113929216 then '1.0.0.0'::inet + floor(${host} * 3724541952)::bigint
    else '128.0.0.0'::inet + (floor(${host} * 3724541952)::bigint - 2113929216)
  end)`;
}

async function insertTokenBlacklist(trx: Tx, context: SqlContext, count: number): Promise<number> {
  const { seed, now } = context;
  const draw = (label: string) => uniform(seed, `token_blacklist.${label}`);

  // 90% of the entries have expired (the expiry falls between one minute and
  // 723 days ago), 9% are still live and 1% have no expiry at all. A token was
  // blacklisted between one hour and seven days before its expiry. Rows are
  // inserted in blacklisting order, so ids grow with time as in production.
  const result = await sql`
    insert into token_blacklist (jti, user_id, reason, blacklisted_at, expires_at)
    select
      md5(${sql.lit(`${seed}:token:`)} || g.i::text),
      case when r.orphan < 0.02 then null else ${pickId(context.userIds, sql`r.who`)} end,
      case
        when r.why < 0.70 then 'logout'
        when r.why < 0.85 then 'password_change'
        when r.why < 0.95 then 'admin_revoke'
        else 'suspicious_activity'
      end,
      ${atOffset(now, sql`b.blacklisted_offset`)},
      ${atOffset(now, sql`e.expires_offset`)}
    from generate_series(1, ${sql.lit(count)}) as g(i)
    cross join lateral (
      select ${draw('kind')} as kind, ${draw('age')} as age, ${draw('lifetime')} as lifetime,
             ${draw('who')} as who, ${draw('orphan')} as orphan, ${draw('why')} as why
      offset 0
    ) r
    cross join lateral (select ${sql.lit(HOUR)} + r.lifetime * ${sql.lit(7 * DAY - HOUR)} as seconds offset 0) lifetime
    cross join lateral (
      select case
        when r.kind < 0.90 then -(${sql.lit(MINUTE)} + r.age * ${sql.lit(723 * DAY - MINUTE)})
        when r.kind < 0.99 then ${sql.lit(MINUTE)} + r.age * (lifetime.seconds - ${sql.lit(MINUTE)})
      end as expires_offset
      offset 0
    ) e
    cross join lateral (
      select coalesce(e.expires_offset - lifetime.seconds, -(r.age * ${sql.lit(730 * DAY)})) as blacklisted_offset
      offset 0
    ) b
    order by b.blacklisted_offset, g.i
  `.execute(trx);
  return Number(result.numAffectedRows ?? 0n);
}

async function insertUserSessions(trx: Tx, context: SqlContext, count: number): Promise<number> {
  const { seed, now } = context;
  const draw = (label: string) => uniform(seed, `user_sessions.${label}`);

  // Each session is in one of these states:
  //   live, 35%: expires within 30 days and is not revoked.
  //   expired, 38%: 30% long ago (2 to 365 days), 8% recently (within 12 hours).
  //   revoked, 22%: 15% long ago, 7% recently. One in ten of these had no expiry.
  //   no expiry, 5%: lasts until revoked and is not revoked.
  // "Recently" stays inside the default 24-hour grace period of session
  // cleanup. A session lasts one to thirty days. `end_offset` is when it ended
  // (by expiry or revocation), or 0 for sessions still open.
  const result = await sql`
    insert into user_sessions (user_id, ip_address, user_agent, created_at, last_seen_at, expires_at, revoked_at)
    select
      ${pickId(context.userIds, sql`r.who`)},
      ${ipAddress(sql`r.ip_family`, sql`r.ip_host`)},
      (${[...USER_AGENTS]}::text[])[1 + floor(r.agent * ${sql.lit(USER_AGENTS.length)})::int],
      ${atOffset(now, sql`c.created_offset`)},
      ${atOffset(now, sql`c.created_offset + (t.end_offset - c.created_offset) * r.seen`)},
      ${atOffset(now, sql`case
        when k.state = 'live' then ${sql.lit(MINUTE)} + r.remaining * ${sql.lit(30 * DAY)}
        when k.state = 'expired' then t.end_offset
        when k.state = 'revoked' and r.no_expiry >= 0.1 then c.created_offset + t.lifetime
      end`)},
      ${atOffset(now, sql`case when k.state = 'revoked' then t.end_offset end`)}
    from generate_series(1, ${sql.lit(count)}) as g(i)
    cross join lateral (
      select ${draw('state')} as state, ${draw('age')} as age, ${draw('lifetime')} as lifetime,
             ${draw('seen')} as seen, ${draw('used')} as used, ${draw('remaining')} as remaining,
             ${draw('no_expiry')} as no_expiry, ${draw('who')} as who, ${draw('agent')} as agent,
             ${draw('ip_family')} as ip_family, ${draw('ip_host')} as ip_host
      offset 0
    ) r
    cross join lateral (
      select
        case
          when r.state < 0.35 then 'live'
          when r.state < 0.73 then 'expired'
          when r.state < 0.95 then 'revoked'
          else 'no_expiry'
        end as state,
        r.state >= 0.35 and r.state < 0.65 or r.state >= 0.73 and r.state < 0.88 as ended_long_ago
      offset 0
    ) k
    cross join lateral (
      select
        ${sql.lit(DAY)} + r.lifetime * ${sql.lit(29 * DAY)} as lifetime,
        case
          when k.state in ('live', 'no_expiry') then 0
          when k.ended_long_ago then -(${sql.lit(2 * DAY)} + r.age * ${sql.lit(363 * DAY)})
          else -(${sql.lit(MINUTE)} + r.age * ${sql.lit(12 * HOUR - MINUTE)})
        end as end_offset
      offset 0
    ) t
    cross join lateral (
      select case
        when k.state = 'live' then -(r.age * ${sql.lit(14 * DAY)})
        when k.state = 'no_expiry' then -(r.age * ${sql.lit(365 * DAY)})
        when k.state = 'expired' then t.end_offset - t.lifetime
        else t.end_offset - r.used * t.lifetime
      end as created_offset
      offset 0
    ) c
    order by c.created_offset, g.i
  `.execute(trx);
  return Number(result.numAffectedRows ?? 0n);
}

async function insertAuditLogs(trx: Tx, context: SqlContext, count: number): Promise<number> {
  const { seed, now } = context;
  const draw = (label: string) => uniform(seed, `audit_logs.${label}`);

  // Row i falls in the i-th of `count` equal slices of the past 730 days, so
  // the rows spread evenly, and ids follow created_at because the rows are
  // inserted in order of i.
  const sliceSeconds = (730 * DAY) / count;
  const result = await sql`
    insert into audit_logs (user_id, action, entity_type, entity_id, details, ip_address, created_at)
    select
      a.actor_id,
      a.action,
      case a.action
        when 'training.module_completed' then 'training_module'
        when 'quiz.submitted' then 'quiz'
        when 'crew.member_added' then 'crew'
        else 'user'
      end,
      case a.action
        when 'training.module_completed' then a.module_id
        when 'quiz.submitted' then a.module_id || '-quiz'
        when 'crew.member_added' then a.crew_id::text
        when 'admin.user_updated' then a.subject_id::text
        else a.actor_id::text
      end,
      case a.action
        when 'user.login' then jsonb_build_object('method', case when r.variant < 0.8 then 'password' else 'sso' end, 'mfa', r.flag < 0.6)
        when 'user.logout' then jsonb_build_object('reason', case when r.variant < 0.7 then 'user' else 'session_timeout' end)
        when 'training.module_completed' then jsonb_build_object('module_id', a.module_id, 'score', a.score)
        when 'quiz.submitted' then jsonb_build_object('quiz_id', a.module_id || '-quiz', 'score', a.score, 'passed', a.score >= 70)
        when 'admin.user_updated' then jsonb_build_object('fields', case
          when r.variant < 0.4 then '["role"]'::jsonb
          when r.variant < 0.7 then '["is_active"]'::jsonb
          else '["crew_id"]'::jsonb
        end)
        else jsonb_build_object('crew_id', a.crew_id, 'user_id', a.subject_id)
      end,
      ${ipAddress(sql`r.ip_family`, sql`r.ip_host`)},
      ${atOffset(now, sql`${sql.lit(-730 * DAY)} + (g.i - 1 + r.jitter) * ${sql.lit(sliceSeconds)}::float8`)}
    from generate_series(1, ${sql.lit(count)}) as g(i)
    cross join lateral (
      select ${draw('action')} as action, ${draw('jitter')} as jitter, ${draw('actor')} as actor,
             ${draw('subject')} as subject, ${draw('crew')} as crew, ${draw('module')} as module,
             ${draw('score')} as score, ${draw('variant')} as variant, ${draw('flag')} as flag,
             ${draw('ip_family')} as ip_family, ${draw('ip_host')} as ip_host
      offset 0
    ) r
    cross join lateral (
      select
        case
          when r.action < 0.40 then 'user.login'
          when r.action < 0.65 then 'user.logout'
          when r.action < 0.80 then 'training.module_completed'
          when r.action < 0.92 then 'quiz.submitted'
          when r.action < 0.96 then 'admin.user_updated'
          else 'crew.member_added'
        end as action,
        case
          when r.action >= 0.92 and r.action < 0.96 then ${pickId(context.adminIds, sql`r.actor`)}
          when r.action >= 0.96 then ${pickId(context.staffIds, sql`r.actor`)}
          else ${pickId(context.userIds, sql`r.actor`)}
        end as actor_id,
        ${pickId(context.userIds, sql`r.subject`)} as subject_id,
        ${pickId(context.crewIds, sql`r.crew`)} as crew_id,
        (${[...TRAINING_MODULES]}::text[])[1 + floor(r.module * ${sql.lit(TRAINING_MODULES.length)})::int] as module_id,
        35 + floor(r.score * 66)::int as score
      offset 0
    ) a
    order by g.i
  `.execute(trx);
  return Number(result.numAffectedRows ?? 0n);
}

// ---------------------------------------------------------------------------
// Helpers

function offsetDate(now: Date, seconds: number): Date {
  return new Date(now.getTime() + Math.round(seconds * MILLISECONDS_PER_SECOND));
}

function randomDateBetween(random: Random, from: Date, to: Date): Date {
  return new Date(from.getTime() + Math.floor(random.next() * (to.getTime() - from.getTime())));
}

function* chunks<T>(items: T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}

/**
 * sfc32 pseudo-random generator, seeded through the cyrb128 string hash of the
 * seed and a stream name. Each table draws from its own stream, so a change to
 * one table's generator leaves the others' rows unchanged.
 */
class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream: string) {
    const key = `${seed}:${stream}`;
    let h1 = 1779033703;
    let h2 = 3144134277;
    let h3 = 1013904242;
    let h4 = 2773480762;
    for (let index = 0; index < key.length; index++) {
      const code = key.charCodeAt(index);
      h1 = h2 ^ Math.imul(h1 ^ code, 597399067);
      h2 = h3 ^ Math.imul(h2 ^ code, 2869860233);
      h3 = h4 ^ Math.imul(h3 ^ code, 951274213);
      h4 = h1 ^ Math.imul(h4 ^ code, 2716044179);
    }
    h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
    h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
    h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
    h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
    h1 ^= h2 ^ h3 ^ h4;
    this.a = h1 >>> 0;
    this.b = (h2 ^ h1) >>> 0;
    this.c = (h3 ^ h1) >>> 0;
    this.d = (h4 ^ h1) >>> 0;
    // Skip the first outputs so that seeds differing in one digit diverge before use.
    for (let index = 0; index < 15; index++) this.next();
  }

  /** Returns a uniform value in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Returns a uniform integer from `min` to `max`, both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let index = items.length - 1; index > 0; index--) {
      const other = Math.floor(this.next() * (index + 1));
      [items[index], items[other]] = [items[other]!, items[index]!];
    }
    return items;
  }
}
