import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Db } from '../db/database.js';

/**
 * Figures read from the application database. The metrics-update job
 * computes them and stores them in Redis, and /metrics serves the stored copy,
 * so a scrape never waits on Postgres.
 */
export interface DatabaseMetrics {
  /** Milliseconds since the epoch when the figures were read. */
  at: number;
  /** Sessions neither revoked nor expired. */
  activeSessions: number;
  /** Distinct users with at least one such session. */
  activeUsers: number;
  openAlerts: Record<string, number>;
  emails: Record<string, number>;
  /** maintenance_logs rows with result failure in the last 24 hours. */
  failedRuns24h: number;
}

export const databaseMetricsKey = (prefix: string) => `${prefix}:metrics:database`;

export async function collectDatabaseMetrics(db: Db): Promise<DatabaseMetrics> {
  const [sessions, alerts, emails, failed] = await Promise.all([
    sql<{ sessions: number; users: number }>`
      select count(*)::int as sessions, count(distinct user_id)::int as users
      from user_sessions
      where revoked_at is null and (expires_at is null or expires_at > now())`.execute(db),
    db.selectFrom('alerts').select(['severity', sql<number>`count(*)::int`.as('count')]).where('status', '<>', 'resolved').groupBy('severity').execute(),
    db.selectFrom('email_queue').select(['status', sql<number>`count(*)::int`.as('count')]).groupBy('status').execute(),
    sql<{ count: number }>`
      select count(*)::int as count from maintenance_logs
      where result = 'failure' and created_at > now() - interval '24 hours'`.execute(db),
  ]);
  return {
    at: Date.now(),
    activeSessions: sessions.rows[0]?.sessions ?? 0,
    activeUsers: sessions.rows[0]?.users ?? 0,
    openAlerts: Object.fromEntries(alerts.map((row) => [row.severity, row.count])),
    emails: Object.fromEntries(emails.map((row) => [row.status, row.count])),
    failedRuns24h: failed.rows[0]?.count ?? 0,
  };
}

export async function storeDatabaseMetrics(redis: Redis, prefix: string, metrics: DatabaseMetrics): Promise<void> {
  await redis.set(databaseMetricsKey(prefix), JSON.stringify(metrics));
}

export async function readDatabaseMetrics(redis: Redis, prefix: string): Promise<DatabaseMetrics | null> {
  const json = await redis.get(databaseMetricsKey(prefix));
  return json ? (JSON.parse(json) as DatabaseMetrics) : null;
}
