import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';

/** Source of the start time of the current database's statistics. */
export type StatisticsSource = 'stats-reset' | 'database-created' | 'server-start';

export interface StatisticsAge {
  /** ISO time from which the scan counts count. */
  since: string;
  source: StatisticsSource;
  /** Days from `since` to the database's clock, with one decimal. */
  days: number;
}

interface AgeRow {
  stats_reset: Date | null;
  server_start: Date;
  created: Date | null;
  now: Date;
}

/**
 * Reads since when the current database's scan counts count:
 * pg_stat_database.stats_reset when the statistics were reset, else the later
 * of the server start and the database's creation.
 *
 * PostgreSQL stores no creation time for a database, so the modification time
 * of its PG_VERSION file is used in its place: CREATE DATABASE writes that
 * file and nothing rewrites it. It is read only when the role may call
 * pg_stat_file (superusers, or after GRANT EXECUTE) and the database is in the
 * default tablespace; otherwise the server start is used alone. PostgreSQL 15
 * keeps statistics across a clean restart, so the server start can be later
 * than the true start: the age is then underestimated, which only withholds
 * advice.
 * NOTE: crash recovery discards the statistics without restarting the
 * postmaster, so after a crash the age can be overestimated.
 */
export async function readStatisticsAge(db: Kysely<Database>): Promise<StatisticsAge> {
  // The EXECUTE privilege is checked when a statement starts, even in a CASE branch
  // never taken, so pg_stat_file is only named in a statement of its own.
  const { rows: privilege } = await sql<{ allowed: boolean }>`
    select has_function_privilege('pg_catalog.pg_stat_file(text, boolean)', 'execute') as allowed
  `.execute(db);
  const created = privilege[0]?.allowed
    ? sql`(select (pg_stat_file('base/' || oid || '/PG_VERSION', true)).modification from pg_database where datname = current_database())`
    : sql`null::timestamptz`;
  const { rows } = await sql<AgeRow>`
    select (select stats_reset from pg_stat_database where datname = current_database()) as stats_reset,
           pg_postmaster_start_time() as server_start, now() as now, ${created} as created
  `.execute(db);
  const row = rows[0]!;

  let since: Date;
  let source: StatisticsSource;
  if (row.stats_reset) {
    since = new Date(row.stats_reset);
    source = 'stats-reset';
  } else if (row.created && new Date(row.created) > new Date(row.server_start)) {
    since = new Date(row.created);
    source = 'database-created';
  } else {
    since = new Date(row.server_start);
    source = 'server-start';
  }
  const days = Math.max(0, Math.floor(((new Date(row.now).getTime() - since.getTime()) / 86_400_000) * 10) / 10);
  return { since: since.toISOString(), source, days };
}

const SOURCE_WORDING: Record<StatisticsSource, string> = {
  'stats-reset': 'the last statistics reset',
  'database-created': 'the database was created',
  'server-start': 'the server started',
};

/**
 * Explains why no unused index gets a DROP recommendation when the statistics
 * are younger than `minDays`; null when they are old enough.
 */
export function statisticsTooYoung(age: StatisticsAge, minDays: number): string | null {
  if (age.days >= minDays) return null;
  return (
    `index statistics cover ${age.days} days (since ${SOURCE_WORDING[age.source]}, ${age.since}), fewer than INDEX_STATS_MIN_DAYS (${minDays}): ` +
    'an index used only by weekly or monthly work can look unused, so no unused index is recommended for dropping yet'
  );
}
