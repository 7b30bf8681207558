import { sql, type Insertable, type Transaction } from 'kysely';
import type { Db } from './database.js';
import type { Database, LoginAttemptsTable, SecurityAlertsTable } from './schema.js';

/*
 * Security seed data: four weeks of login attempts and security alerts with a
 * few planted patterns that security-review must find, and nothing else that
 * crosses its default thresholds. Every value comes from a PRNG seeded with
 * the seed, and every time is an offset from `now`, so the same seed and
 * `now` give the same rows.
 *
 * Ordinary sign-ins end at each user's users.last_login_at, so the latest
 * successful attempt and the last login agree: accounts that the seed made
 * dormant, or that never logged in, have no successful attempt at all.
 *
 * Planted, all relative to `now`:
 * - BURST_IP: 40 failed logins within 20 minutes, two days ago, spread over
 *   ten accounts (so no single account bursts).
 * - The attacked account (the first active crew member by id): failed logins
 *   from 15 addresses in ATTACK_RANGE over three days, at most one an hour.
 * - OLD_BURST_IP: a burst ten days ago, outside a seven-day review.
 * - Two unresolved security alerts of the past week, one critical and one high.
 */

export const BURST_IP = '203.0.113.66';
export const OLD_BURST_IP = '192.0.2.77';
/** The addresses of the many-IP attack: 198.51.100.10 to 198.51.100.24. */
export const ATTACK_RANGE = '198.51.100.0/24';
export const ATTACK_IPS = 15;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;
const NOISE_DAYS = 28;
const CHUNK_ROWS = 1_000;

const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'CrewPortal/3.8.2 (Android 13; Pixel 6a)',
  'CrewPortal/3.8.2 (iOS 17.4; iPhone14,7)',
] as const;
const BOT_AGENT = 'python-requests/2.31.0';

type Tx = Transaction<Database>;

/** mulberry32, seeded by an FNV-1a hash of the seed and a stream name. */
function createRandom(seed: number, stream: string): () => number {
  let state = 2166136261;
  for (const char of `${seed}:${stream}`) state = Math.imul(state ^ char.charCodeAt(0), 16777619);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Two home addresses per user in 100.64.0.0/10, the shared address space of carrier and satellite links. */
function homeAddress(userId: number, which: number): string {
  const n = userId * 2 + which;
  return `100.${64 + (n % 64)}.${Math.floor(n / 64) % 256}.${(Math.floor(n / 16384) % 254) + 1}`;
}

const at = (now: Date, offsetMs: number) => new Date(now.getTime() - offsetMs);

interface SeedUser {
  id: number;
  email: string;
  role: string;
  last_login_at: Date | null;
  created_at: Date;
}

/**
 * Ordinary sign-ins of each active user who logged in within the past
 * NOISE_DAYS: the latest at users.last_login_at, then back every one to three
 * days, never before the account was created, from one of two addresses, one
 * in ten preceded by a mistyped password.
 */
function noiseAttempts(users: SeedUser[], seed: number, now: Date): Insertable<LoginAttemptsTable>[] {
  const random = createRandom(seed, 'login_attempts');
  const rows: Insertable<LoginAttemptsTable>[] = [];
  for (const user of users) {
    if (user.last_login_at === null) continue;
    const agent = USER_AGENTS[user.id % USER_AGENTS.length]!;
    const firstOffset = now.getTime() - user.last_login_at.getTime();
    const maxOffset = Math.min(NOISE_DAYS * DAY_MS, now.getTime() - user.created_at.getTime());
    for (let offset = firstOffset; offset >= 0 && offset < maxOffset; offset += DAY_MS + random() * 2 * DAY_MS) {
      const ip = homeAddress(user.id, random() < 0.7 ? 0 : 1);
      if (random() < 0.1) {
        rows.push({ user_id: user.id, email: user.email, ip_address: ip, success: false, failure_reason: 'invalid_password', user_agent: agent, attempted_at: at(now, offset + MINUTE_MS) });
      }
      rows.push({ user_id: user.id, email: user.email, ip_address: ip, success: true, failure_reason: null, user_agent: agent, attempted_at: at(now, offset) });
    }
  }

  // Scattered single tries at unknown accounts, each from its own address.
  for (let index = 0; index < 20; index++) {
    rows.push({
      user_id: null,
      email: `admin${index}@unknown.example`,
      ip_address: `2001:db8:${(index + 1).toString(16)}::${Math.floor(random() * 65535).toString(16)}`,
      success: false,
      failure_reason: 'unknown_account',
      user_agent: BOT_AGENT,
      attempted_at: at(now, random() * NOISE_DAYS * DAY_MS),
    });
  }
  return rows;
}

/** Builds a burst of `count` failed logins from `ip` over `spreadMs`, ending `endsAgoMs` before now, across `targets`. */
function burst(ip: string, count: number, endsAgoMs: number, spreadMs: number, targets: { email: string; userId: number | null }[], now: Date) {
  return Array.from({ length: count }, (_, index): Insertable<LoginAttemptsTable> => {
    const target = targets[index % targets.length]!;
    return {
      user_id: target.userId,
      email: target.email,
      ip_address: ip,
      success: false,
      failure_reason: target.userId === null ? 'unknown_account' : 'invalid_password',
      user_agent: BOT_AGENT,
      attempted_at: at(now, endsAgoMs + spreadMs - (spreadMs * index) / count),
    };
  });
}

function plantedAttempts(users: SeedUser[], now: Date): Insertable<LoginAttemptsTable>[] {
  const sprayTargets = [
    ...users.slice(0, 6).map((user) => ({ email: user.email, userId: user.id })),
    ...['root', 'administrator', 'test', 'captain'].map((name) => ({ email: `${name}@fleetmail.example`, userId: null })),
  ];
  const victim = users.find((user) => user.role === 'crew') ?? users[0]!;
  const attack = Array.from({ length: ATTACK_IPS }, (_, index): Insertable<LoginAttemptsTable> => ({
    user_id: victim.id,
    email: victim.email,
    ip_address: `198.51.100.${10 + index}`,
    success: false,
    failure_reason: 'invalid_password',
    user_agent: BOT_AGENT,
    // One every five hours, from three and a half days ago on.
    attempted_at: at(now, 3.5 * DAY_MS - index * 5 * HOUR_MS),
  }));
  return [
    ...burst(BURST_IP, 40, 2 * DAY_MS, 20 * MINUTE_MS, sprayTargets, now),
    ...burst(OLD_BURST_IP, 30, 10 * DAY_MS, 15 * MINUTE_MS, sprayTargets, now),
    ...attack,
  ];
}

function securityAlerts(users: SeedUser[], seed: number, now: Date): Insertable<SecurityAlertsTable>[] {
  const random = createRandom(seed, 'security_alerts');
  const types = ['new_device_login', 'password_reset_requested', 'token_reuse_detected'] as const;
  const rows: Insertable<SecurityAlertsTable>[] = [];
  // About one a day, low or medium; those older than two days are resolved.
  for (let day = 0; day < NOISE_DAYS; day++) {
    const user = users[Math.floor(random() * users.length)]!;
    const type = types[Math.floor(random() * types.length)]!;
    const createdAt = at(now, day * DAY_MS + random() * DAY_MS);
    rows.push({
      alert_type: type,
      severity: random() < 0.7 ? 'low' : 'medium',
      user_id: user.id,
      ip_address: homeAddress(user.id, 0),
      description: `${type.replaceAll('_', ' ')} for ${user.email}`,
      details: JSON.stringify({ userAgent: USER_AGENTS[0] }),
      created_at: createdAt,
      resolved_at: day >= 2 ? new Date(createdAt.getTime() + HOUR_MS) : null,
    });
  }

  const victim = users.find((user) => user.role === 'crew') ?? users[0]!;
  rows.push(
    {
      alert_type: 'impossible_travel',
      severity: 'critical',
      user_id: victim.id,
      ip_address: '198.51.100.12',
      description: `Sign-in attempts for ${victim.email} from two continents within an hour`,
      details: JSON.stringify({ countries: ['NO', 'BR'] }),
      created_at: at(now, 1 * DAY_MS),
      resolved_at: null,
    },
    {
      alert_type: 'credential_stuffing',
      severity: 'high',
      user_id: null,
      ip_address: BURST_IP,
      description: `Many accounts tried from ${BURST_IP}`,
      details: JSON.stringify({ accounts: 10 }),
      created_at: at(now, 2 * DAY_MS - HOUR_MS),
      resolved_at: null,
    },
  );
  return rows;
}

/**
 * Moves users.last_login_at forward to the user's latest successful attempt
 * where that is later, so security-audit never calls an account dormant that
 * login_attempts shows signing in. The ordinary sign-ins already end at
 * last_login_at, so this changes no row unless a planted success is added.
 */
async function alignLastLogins(trx: Tx): Promise<void> {
  await sql`
    update users set last_login_at = latest.at
    from (select user_id, max(attempted_at) as at from login_attempts where success and user_id is not null group by user_id) as latest
    where users.id = latest.user_id and (users.last_login_at is null or users.last_login_at < latest.at)
  `.execute(trx);
}

/**
 * Empties and fills login_attempts and security_alerts inside the seed's
 * transaction, after the users exist. Returns the rows written per table.
 */
export async function seedSecurity(trx: Tx, options: { seed: number; now: Date }): Promise<{ login_attempts: number; security_alerts: number }> {
  await sql`truncate login_attempts, security_alerts restart identity`.execute(trx);
  const users = await trx
    .selectFrom('users')
    .select(['id', 'email', 'role', 'last_login_at', 'created_at'])
    .where('is_active', '=', true)
    .orderBy('id')
    .execute();
  if (users.length === 0) return { login_attempts: 0, security_alerts: 0 };

  const attempts = [...noiseAttempts(users, options.seed, options.now), ...plantedAttempts(users, options.now)];
  attempts.sort((a, b) => (a.attempted_at as Date).getTime() - (b.attempted_at as Date).getTime());
  for (let start = 0; start < attempts.length; start += CHUNK_ROWS) {
    await trx.insertInto('login_attempts').values(attempts.slice(start, start + CHUNK_ROWS)).execute();
  }
  await alignLastLogins(trx);
  const alerts = securityAlerts(users, options.seed, options.now);
  await trx.insertInto('security_alerts').values(alerts).execute();
  return { login_attempts: attempts.length, security_alerts: alerts.length };
}

/** The UTC hour of the planted admin action. */
export const NIGHT_ACTION_HOUR = 3;

/**
 * Plants one admin action at 03:00 UTC two days before `now` into audit_logs.
 * It is kept apart from seedDatabase: the seed's audit rows are reproducible
 * relative to `now` and ordered by time, and an action at a fixed hour of
 * the day is neither. Returns the new row's id, or null without an active admin.
 */
export async function plantAdminNightAction(db: Db, options: { now: Date }): Promise<number | null> {
  const admin = await db.selectFrom('users').select(['id']).where('role', '=', 'admin').where('is_active', '=', true).orderBy('id').executeTakeFirst();
  if (!admin) return null;

  const day = new Date(options.now.getTime() - 2 * DAY_MS);
  const createdAt = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), NIGHT_ACTION_HOUR, 0, 0));
  const row = await db
    .insertInto('audit_logs')
    .values({
      user_id: admin.id,
      action: 'admin.user_updated',
      entity_type: 'user',
      entity_id: String(admin.id),
      details: JSON.stringify({ fields: ['role'] }),
      ip_address: homeAddress(admin.id, 0),
      created_at: createdAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}
