import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { JsonValue } from '../contract.js';
import { qualifiedName } from './catalog.js';

/*
 * The slowest statements from pg_stat_statements, for the current database.
 *
 * The extension renamed its timing columns in version 1.8 (total_time became
 * total_exec_time, mean_time mean_exec_time, and so on), and the installed
 * version, not the server version, decides which exist: PostgreSQL 15 still
 * accepts CREATE EXTENSION ... VERSION '1.7'. The columns are therefore read
 * from the catalog. The view works only when the library is in
 * shared_preload_libraries, and raises SQLSTATE 55000 otherwise. The report
 * states that case, and an extension never created in this database, instead
 * of failing.
 */

/** SQLSTATE of "pg_stat_statements must be loaded via shared_preload_libraries". */
const NOT_IN_PREREQUISITE_STATE = '55000';

/** Maximum characters of query text kept per statement, because statements can be many kilobytes. */
const QUERY_TEXT_LIMIT = 2000;

export interface SlowQueryOptions {
  limit: number;
  /** Statements whose total execution time is at most this many milliseconds are left out. */
  minTotalMs: number;
}

export type SlowQueryReport =
  | { installed: false; reason: string; fix: string }
  | {
      installed: true;
      extensionVersion: string;
      timingColumns: 'total_exec_time' | 'total_time';
      minTotalMs: number;
      statsSince: string | null;
      queries: { [key: string]: JsonValue }[];
    };

interface StatementRow {
  query: string;
  calls: number;
  total_ms: number;
  mean_ms: number;
  min_ms: number;
  max_ms: number;
  rows: number;
}

const round = (value: number) => Math.round(value * 1000) / 1000;

/** Returns `total_exec_time` or `total_time`, whichever the installed view has, or null. */
async function timingColumns(db: Kysely<Database>, schema: string): Promise<'total_exec_time' | 'total_time' | null> {
  const { rows } = await sql<{ column: string }>`
    select a.attname as column
      from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = ${schema} and c.relname = 'pg_stat_statements'
       and a.attname in ('total_exec_time', 'total_time') and not a.attisdropped
  `.execute(db);
  const names = rows.map((row) => row.column);
  if (names.includes('total_exec_time')) return 'total_exec_time';
  if (names.includes('total_time')) return 'total_time';
  return null;
}

/** Reads the slowest statements, or reports why pg_stat_statements cannot be read. */
export async function readSlowQueries(db: Kysely<Database>, options: SlowQueryOptions): Promise<SlowQueryReport> {
  const { rows: extensions } = await sql<{ version: string; schema: string }>`
    select e.extversion as version, n.nspname as schema
      from pg_extension e join pg_namespace n on n.oid = e.extnamespace
     where e.extname = 'pg_stat_statements'
  `.execute(db);
  const extension = extensions[0];
  if (!extension) {
    return {
      installed: false,
      reason: 'the pg_stat_statements extension is not installed in this database',
      fix: "add pg_stat_statements to shared_preload_libraries, restart PostgreSQL, then run CREATE EXTENSION pg_stat_statements in this database",
    };
  }

  const columns = await timingColumns(db, extension.schema);
  if (!columns) {
    return {
      installed: false,
      reason: `pg_stat_statements ${extension.version} has neither total_exec_time nor total_time`,
      fix: 'ALTER EXTENSION pg_stat_statements UPDATE',
    };
  }
  // Before 1.8 every timing column is named without "exec": total_time, mean_time, min_time, max_time.
  const suffix = columns === 'total_exec_time' ? '_exec_time' : '_time';
  const view = sql.raw(qualifiedName(extension.schema, 'pg_stat_statements'));
  const column = (name: string) => sql.ref(`s.${name}${suffix}`);

  let statements: StatementRow[];
  try {
    const result = await sql<StatementRow>`
      select s.query, s.calls::int8 as calls,
             ${column('total')}::float8 as total_ms, ${column('mean')}::float8 as mean_ms,
             ${column('min')}::float8 as min_ms, ${column('max')}::float8 as max_ms,
             s.rows::int8 as rows
        from ${view} s
       where s.dbid = (select oid from pg_database where datname = current_database())
         and ${column('total')} > ${options.minTotalMs}
       order by ${column('total')} desc
       limit ${options.limit}
    `.execute(db);
    statements = result.rows;
  } catch (error) {
    if ((error as { code?: unknown }).code !== NOT_IN_PREREQUISITE_STATE) throw error;
    return {
      installed: false,
      reason: 'the pg_stat_statements extension exists but its library is not loaded through shared_preload_libraries',
      fix: "add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL",
    };
  }

  // pg_stat_statements_info (1.9 and later) records when the figures were last reset.
  let statsSince: string | null = null;
  const { rows: infoView } = await sql<{ exists: boolean }>`
    select to_regclass(${qualifiedName(extension.schema, 'pg_stat_statements_info')}) is not null as exists
  `.execute(db);
  if (infoView[0]?.exists) {
    const info = sql.raw(qualifiedName(extension.schema, 'pg_stat_statements_info'));
    const { rows } = await sql<{ since: Date | null }>`select stats_reset as since from ${info}`.execute(db);
    statsSince = rows[0]?.since ? new Date(rows[0].since).toISOString() : null;
  }

  return {
    installed: true,
    extensionVersion: extension.version,
    timingColumns: columns,
    minTotalMs: options.minTotalMs,
    statsSince,
    queries: statements.map((row) => ({
      query: row.query.length > QUERY_TEXT_LIMIT ? `${row.query.slice(0, QUERY_TEXT_LIMIT)}...` : row.query,
      calls: Number(row.calls),
      totalMs: round(row.total_ms),
      meanMs: round(row.mean_ms),
      minMs: round(row.min_ms),
      maxMs: round(row.max_ms),
      rows: Number(row.rows),
    })),
  };
}
