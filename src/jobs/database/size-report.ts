import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import type { JsonValue } from '../contract.js';

/*
 * Table and index sizes, the runbook's "Check table sizes" query extended with
 * the index and TOAST parts, row estimates, dead rows and the last vacuum and
 * analyze of each table. Partitions and materialized views count as tables.
 */

type JsonObject = { [key: string]: JsonValue };

interface TableRow {
  schema: string;
  table: string;
  total_bytes: number;
  table_bytes: number;
  index_bytes: number;
  toast_bytes: number;
  estimated_rows: number;
  live_rows: number | null;
  dead_rows: number | null;
  modified_since_analyze: number | null;
  last_vacuum: Date | null;
  last_autovacuum: Date | null;
  last_analyze: Date | null;
  last_autoanalyze: Date | null;
}

const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null);

/** Tables of user schemas, largest first, at most `limit`; `total` counts them all. */
export async function readTableSizes(db: Kysely<Database>, limit: number): Promise<{ total: number; tables: JsonObject[] }> {
  const { rows } = await sql<TableRow & { total: number }>`
    select n.nspname as schema, c.relname as table,
           pg_total_relation_size(c.oid)::int8 as total_bytes,
           pg_relation_size(c.oid)::int8 as table_bytes,
           pg_indexes_size(c.oid)::int8 as index_bytes,
           coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)::int8 as toast_bytes,
           greatest(c.reltuples, 0)::int8 as estimated_rows,
           s.n_live_tup::int8 as live_rows, s.n_dead_tup::int8 as dead_rows,
           s.n_mod_since_analyze::int8 as modified_since_analyze,
           s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
           count(*) over ()::int8 as total
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_stat_user_tables s on s.relid = c.oid
     where c.relkind in ('r', 'p', 'm')
       and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
       and n.nspname !~ '^pg_temp_'
     order by pg_total_relation_size(c.oid) desc, n.nspname, c.relname
     limit ${limit}
  `.execute(db);

  return {
    total: Number(rows[0]?.total ?? 0),
    tables: rows.map((row) => ({
      schema: row.schema,
      table: row.table,
      totalBytes: Number(row.total_bytes),
      tableBytes: Number(row.table_bytes),
      indexBytes: Number(row.index_bytes),
      toastBytes: Number(row.toast_bytes),
      estimatedRows: Number(row.estimated_rows),
      deadRows: row.dead_rows === null ? null : Number(row.dead_rows),
      modifiedSinceAnalyze: row.modified_since_analyze === null ? null : Number(row.modified_since_analyze),
      lastVacuum: iso(row.last_vacuum ?? null) ?? iso(row.last_autovacuum ?? null),
      lastAnalyze: iso(row.last_analyze ?? null) ?? iso(row.last_autoanalyze ?? null),
    })),
  };
}

/** Indexes of user schemas, largest first, at most `limit`, with their scan counts. */
export async function readIndexSizes(db: Kysely<Database>, limit: number): Promise<JsonObject[]> {
  const { rows } = await sql<{ schema: string; table: string; index: string; bytes: number; scans: number }>`
    select s.schemaname as schema, s.relname as table, s.indexrelname as index,
           pg_relation_size(s.indexrelid)::int8 as bytes, s.idx_scan::int8 as scans
      from pg_stat_user_indexes s
     order by pg_relation_size(s.indexrelid) desc, s.schemaname, s.indexrelname
     limit ${limit}
  `.execute(db);
  return rows.map((row) => ({ ...row, bytes: Number(row.bytes), scans: Number(row.scans) }));
}

export interface VacuumCandidate {
  schema: string;
  table: string;
  deadRows: number;
  liveRows: number;
  modifiedSinceAnalyze: number;
  reason: string;
}

/**
 * Tables where dead rows or changes since the last analyze pass both 1,000
 * rows and 20% of the live rows, the same scale autovacuum uses by default:
 * autovacuum is behind on them.
 */
export async function findVacuumCandidates(db: Kysely<Database>): Promise<VacuumCandidate[]> {
  const { rows } = await sql<{ schema: string; table: string; dead: number; live: number; modified: number }>`
    select schemaname as schema, relname as table, n_dead_tup::int8 as dead, n_live_tup::int8 as live,
           n_mod_since_analyze::int8 as modified
      from pg_stat_user_tables
     where (n_dead_tup >= 1000 and n_dead_tup >= 0.2 * n_live_tup)
        or (n_mod_since_analyze >= 1000 and n_mod_since_analyze >= 0.2 * n_live_tup)
     order by n_dead_tup desc, schemaname, relname
  `.execute(db);
  return rows.map((row) => {
    const dead = Number(row.dead);
    const live = Number(row.live);
    const modified = Number(row.modified);
    const reasons = [
      ...(dead >= 1000 && dead >= 0.2 * live ? [`${dead} dead rows against ${live} live`] : []),
      ...(modified >= 1000 && modified >= 0.2 * live ? [`${modified} rows changed since the last analyze`] : []),
    ];
    return { schema: row.schema, table: row.table, deadRows: dead, liveRows: live, modifiedSinceAnalyze: modified, reason: reasons.join('; ') };
  });
}
