import { sql } from 'kysely';
import type { Db } from '../../db/database.js';

/*
 * The queries of security-review. Every window is computed by PostgreSQL
 * from its own clock, `now() - make_interval(days => N)`, so every worker
 * reviews the same period whatever its local time.
 */

/** Rows listed per finding; the counts cover every row. */
export const LIST_LIMIT = 100;

export interface ReviewWindow {
  days: number;
}

const since = (window: ReviewWindow) => sql<Date>`now() - make_interval(days => ${window.days})`;

export type FailedLoginSummary = {
  attempts: number;
  failed: number;
  succeeded: number;
  failingIps: number;
  failingAccounts: number;
  byReason: Record<string, number>;
  topIps: { ip: string; failures: number }[];
  topAccounts: { account: string; failures: number }[];
};

/** Counts the attempts of the period: failed and successful, by reason, and the five IPs and accounts with the most failures. */
export async function summarizeFailedLogins(db: Db, window: ReviewWindow): Promise<FailedLoginSummary> {
  const { rows } = await sql<Omit<FailedLoginSummary, 'byReason' | 'topIps' | 'topAccounts'>>`
    select count(*)::int as attempts,
      count(*) filter (where not success)::int as failed,
      count(*) filter (where success)::int as succeeded,
      count(distinct ip_address) filter (where not success)::int as "failingIps",
      count(distinct lower(email)) filter (where not success)::int as "failingAccounts"
    from login_attempts where attempted_at >= ${since(window)}
  `.execute(db);
  const { rows: reasons } = await sql<{ reason: string; failures: number }>`
    select coalesce(failure_reason, 'unknown') as reason, count(*)::int as failures
    from login_attempts where not success and attempted_at >= ${since(window)}
    group by 1 order by 2 desc, 1
  `.execute(db);
  const { rows: topIps } = await sql<{ ip: string; failures: number }>`
    select host(ip_address) as ip, count(*)::int as failures
    from login_attempts where not success and attempted_at >= ${since(window)}
    group by ip_address order by 2 desc, ip_address limit 5
  `.execute(db);
  const { rows: topAccounts } = await sql<{ account: string; failures: number }>`
    select lower(email) as account, count(*)::int as failures
    from login_attempts where not success and attempted_at >= ${since(window)}
    group by 1 order by 2 desc, 1 limit 5
  `.execute(db);

  return { ...rows[0]!, byReason: Object.fromEntries(reasons.map((row) => [row.reason, row.failures])), topIps, topAccounts };
}

export type IpBurst = {
  ip: string;
  /** Most failed logins from this address within one burst window. */
  maxInWindow: number;
  failures: number;
  accounts: number;
  firstAt: string;
  lastAt: string;
  /** The address lies in SECURITY_ALLOWLIST, so it is never blocked. */
  allowlisted: boolean;
  /** An active block already covers the address, so the review leaves it as it is. */
  alreadyBlocked: boolean;
};

/**
 * Finds addresses with at least `threshold` failed logins within any window
 * of `windowMinutes` in the period (a sliding window over each address's
 * failures, so a burst across a clock hour counts whole).
 */
export async function findIpBursts(
  db: Db,
  window: ReviewWindow,
  rule: { windowMinutes: number; threshold: number; allowlist: string[] },
): Promise<IpBurst[]> {
  const { rows } = await sql<Omit<IpBurst, 'firstAt' | 'lastAt'> & { firstAt: Date; lastAt: Date }>`
    with windowed as (
      select ip_address, email, attempted_at,
        count(*) over (
          partition by ip_address order by attempted_at
          range between make_interval(mins => ${rule.windowMinutes}) preceding and current row
        ) as in_window
      from login_attempts
      where not success and attempted_at >= ${since(window)}
    )
    select host(w.ip_address) as ip,
      max(w.in_window)::int as "maxInWindow",
      count(*)::int as failures,
      count(distinct lower(w.email))::int as accounts,
      min(w.attempted_at) as "firstAt",
      max(w.attempted_at) as "lastAt",
      coalesce(w.ip_address <<= any(${rule.allowlist}::inet[]), false) as allowlisted,
      exists (
        select 1 from blocked_ips b
        where b.network >>= w.ip_address and (b.expires_at is null or b.expires_at > now())
      ) as "alreadyBlocked"
    from windowed w
    group by w.ip_address
    having max(w.in_window) >= ${rule.threshold}
    order by 2 desc, w.ip_address
    limit ${LIST_LIMIT}
  `.execute(db);
  return rows.map((row) => ({ ...row, firstAt: row.firstAt.toISOString(), lastAt: row.lastAt.toISOString() }));
}

export type AccountBurst = {
  account: string;
  maxInWindow: number;
  failures: number;
  ips: number;
};

/** Finds accounts with at least `threshold` failed logins within any window of `windowMinutes`. */
export async function findAccountBursts(db: Db, window: ReviewWindow, rule: { windowMinutes: number; threshold: number }): Promise<AccountBurst[]> {
  const { rows } = await sql<AccountBurst>`
    with windowed as (
      select lower(email) as account, ip_address,
        count(*) over (
          partition by lower(email) order by attempted_at
          range between make_interval(mins => ${rule.windowMinutes}) preceding and current row
        ) as in_window
      from login_attempts
      where not success and attempted_at >= ${since(window)}
    )
    select account, max(in_window)::int as "maxInWindow", count(*)::int as failures, count(distinct ip_address)::int as ips
    from windowed
    group by account
    having max(in_window) >= ${rule.threshold}
    order by 2 desc, account
    limit ${LIST_LIMIT}
  `.execute(db);
  return rows;
}

export type ManyIpAccount = {
  account: string;
  ips: number;
  failures: number;
  successes: number;
};

/** Finds accounts with attempts from at least `threshold` distinct addresses in the period. */
export async function findManyIpAccounts(db: Db, window: ReviewWindow, threshold: number): Promise<ManyIpAccount[]> {
  const { rows } = await sql<ManyIpAccount>`
    select lower(email) as account,
      count(distinct ip_address)::int as ips,
      count(*) filter (where not success)::int as failures,
      count(*) filter (where success)::int as successes
    from login_attempts
    where attempted_at >= ${since(window)}
    group by 1
    having count(distinct ip_address) >= ${threshold}
    order by 2 desc, 1
    limit ${LIST_LIMIT}
  `.execute(db);
  return rows;
}

export type SecurityAlertSummary = {
  total: number;
  unresolved: number;
  bySeverity: Record<string, number>;
  byType: Record<string, number>;
  /** Unresolved critical and high alerts of the period, newest first. */
  open: { id: number; type: string; severity: string; description: string; ip: string | null; createdAt: string }[];
};

/** Summarizes the security_alerts rows the platform created in the period. */
export async function summarizeSecurityAlerts(db: Db, window: ReviewWindow): Promise<SecurityAlertSummary> {
  const { rows: counts } = await sql<{ severity: string; alert_type: string; total: number; unresolved: number }>`
    select severity, alert_type, count(*)::int as total, count(*) filter (where resolved_at is null)::int as unresolved
    from security_alerts where created_at >= ${since(window)}
    group by 1, 2
  `.execute(db);
  const { rows: open } = await sql<{ id: number; type: string; severity: string; description: string; ip: string | null; createdAt: Date }>`
    select id, alert_type as type, severity, description, host(ip_address) as ip, created_at as "createdAt"
    from security_alerts
    where created_at >= ${since(window)} and resolved_at is null and severity in ('critical', 'high')
    order by created_at desc, id desc
    limit ${LIST_LIMIT}
  `.execute(db);

  const bySeverity: Record<string, number> = {};
  const byType: Record<string, number> = {};
  for (const row of counts) {
    bySeverity[row.severity] = (bySeverity[row.severity] ?? 0) + row.total;
    byType[row.alert_type] = (byType[row.alert_type] ?? 0) + row.total;
  }
  return {
    total: counts.reduce((sum, row) => sum + row.total, 0),
    unresolved: counts.reduce((sum, row) => sum + row.unresolved, 0),
    bySeverity,
    byType,
    open: open.map((row) => ({ ...row, createdAt: row.createdAt.toISOString() })),
  };
}
