import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { qualifiedName, SYSTEM_SCHEMAS } from './catalog.js';

/*
 * Index findings, read from the catalog and the statistics views; nothing here
 * changes the database.
 *
 * - unused: never scanned since the statistics were reset, and not needed for
 *   correctness (not unique, not a primary key, backing no constraint).
 * - duplicate: two or more valid indexes of one table with the same access
 *   method, columns, operator classes, collations, options, expressions and
 *   predicate. One is kept (primary key, then constraint, then unique, then
 *   most scans, then oldest); the others are redundant.
 * - invalid: left by a failed CREATE INDEX CONCURRENTLY or REINDEX
 *   CONCURRENTLY; never used by queries, still updated by every write.
 * - bloated: B-tree indexes at least `minBytes` large and `ratio` times the
 *   size their row count and column widths (pg_stats) need. An estimate: it
 *   assumes 90% leaf fill and skips indexes on expressions or columns without
 *   statistics.
 */

export interface IndexRow {
  schema: string;
  table: string;
  index: string;
  bytes: number;
  scans: number;
  definition: string;
}

export interface DuplicateSet {
  schema: string;
  table: string;
  keep: string;
  redundant: string[];
  definitions: string[];
}

export interface BloatedIndex extends IndexRow {
  estimatedBytes: number;
  ratio: number;
}

/** Indexes never scanned that no constraint or uniqueness depends on. */
export async function findUnusedIndexes(db: Kysely<Database>): Promise<IndexRow[]> {
  const { rows } = await sql<IndexRow>`
    select s.schemaname as schema, s.relname as table, s.indexrelname as index,
           pg_relation_size(s.indexrelid)::int8 as bytes, s.idx_scan::int8 as scans,
           pg_get_indexdef(s.indexrelid) as definition
      from pg_stat_user_indexes s
      join pg_index i on i.indexrelid = s.indexrelid
     where s.idx_scan = 0
       and i.indisvalid and not i.indisunique and not i.indisprimary
       and not exists (select 1 from pg_constraint c where c.conindid = s.indexrelid)
     order by s.schemaname, s.relname, s.indexrelname
  `.execute(db);
  return rows;
}

interface SignatureRow extends IndexRow {
  oid: number;
  signature: string;
  primary: boolean;
  constraint_backed: boolean;
  unique: boolean;
}

/** Compares two indexes of a duplicate set so that the one to keep sorts first. */
function keepOrder(a: SignatureRow, b: SignatureRow): number {
  const rank = (row: SignatureRow) => [row.primary ? 0 : 1, row.constraint_backed ? 0 : 1, row.unique ? 0 : 1, -row.scans, row.oid];
  const left = rank(a);
  const right = rank(b);
  for (let index = 0; index < left.length; index++) {
    if (left[index] !== right[index]) return left[index]! - right[index]!;
  }
  return 0;
}

/** Sets of indexes of one table that index the same thing the same way. */
export async function findDuplicateIndexes(db: Kysely<Database>): Promise<DuplicateSet[]> {
  const { rows: all } = await sql<SignatureRow>`
    select n.nspname as schema, t.relname as table, ic.relname as index, i.indexrelid::int8 as oid,
           pg_relation_size(i.indexrelid)::int8 as bytes, coalesce(s.idx_scan, 0)::int8 as scans,
           pg_get_indexdef(i.indexrelid) as definition,
           i.indisprimary as primary, i.indisunique as unique,
           exists (select 1 from pg_constraint c where c.conindid = i.indexrelid) as constraint_backed,
           concat_ws(' | ', i.indrelid::text, ic.relam::text, i.indkey::text, i.indclass::text, i.indcollation::text,
                     i.indoption::text, coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
                     coalesce(pg_get_expr(i.indpred, i.indrelid), '')) as signature
      from pg_index i
      join pg_class ic on ic.oid = i.indexrelid
      join pg_class t on t.oid = i.indrelid
      join pg_namespace n on n.oid = t.relnamespace
      left join pg_stat_user_indexes s on s.indexrelid = i.indexrelid
     where i.indisvalid and n.nspname not in ${SYSTEM_SCHEMAS}
     order by n.nspname, t.relname, ic.relname
  `.execute(db);

  const bySignature = new Map<string, SignatureRow[]>();
  for (const row of all) bySignature.set(row.signature, [...(bySignature.get(row.signature) ?? []), row]);

  const sets: DuplicateSet[] = [];
  for (const group of bySignature.values()) {
    if (group.length < 2) continue;
    const [keep, ...others] = [...group].sort(keepOrder);
    // An index that backs a constraint cannot be dropped on its own, even when redundant.
    const redundant = others.filter((row) => !row.primary && !row.constraint_backed);
    if (!keep || redundant.length === 0) continue;
    sets.push({
      schema: keep.schema,
      table: keep.table,
      keep: keep.index,
      redundant: redundant.map((row) => row.index),
      definitions: group.map((row) => row.definition),
    });
  }
  return sets;
}

export interface InvalidIndex {
  schema: string;
  table: string;
  index: string;
  tableOid: number;
  bytes: number;
  /** True for `_ccnew`/`_ccold` indexes a failed REINDEX CONCURRENTLY left behind. */
  reindexLeftover: boolean;
  /** True while a CREATE INDEX or REINDEX is running on the table: the index may be that build's. */
  buildInProgress: boolean;
}

/** Invalid indexes in user schemas, optionally only on the tables with these oids. */
export async function findInvalidIndexes(db: Kysely<Database>, tableOids?: readonly number[]): Promise<InvalidIndex[]> {
  const { rows } = await sql<InvalidIndex>`
    select n.nspname as schema, t.relname as table, ic.relname as index, i.indrelid::int8 as "tableOid",
           -- From relpages, not pg_relation_size, which would wait for a lock the upkeep jobs may not get.
           ic.relpages::int8 * current_setting('block_size')::int8 as bytes,
           ic.relname ~ '_cc(new|old)[0-9]*$' as "reindexLeftover",
           exists (select 1 from pg_stat_progress_create_index p
                    where p.relid = i.indrelid and p.datid = (select oid from pg_database where datname = current_database())) as "buildInProgress"
      from pg_index i
      join pg_class ic on ic.oid = i.indexrelid
      join pg_class t on t.oid = i.indrelid
      join pg_namespace n on n.oid = t.relnamespace
     where not i.indisvalid and n.nspname not in ${SYSTEM_SCHEMAS}
       ${tableOids ? sql`and i.indrelid = any(${tableOids.map(Number)}::oid[])` : sql``}
     order by n.nspname, t.relname, ic.relname
  `.execute(db);
  return rows;
}

interface BloatRow extends IndexRow {
  tuples: number;
  key_width: number | null;
  columns: number;
  columns_with_stats: number;
  block_size: number;
}

/** Bytes of one B-tree leaf tuple: 8-byte header plus the key, aligned to 8, plus its 4-byte line pointer. */
const tupleBytes = (keyWidth: number) => Math.ceil((8 + keyWidth) / 8) * 8 + 4;

/** B-tree indexes much larger than their contents need: the candidates for REINDEX. */
export async function findBloatedIndexes(db: Kysely<Database>, options: { minBytes: number; ratio: number }): Promise<BloatedIndex[]> {
  const { rows } = await sql<BloatRow>`
    select n.nspname as schema, t.relname as table, ic.relname as index,
           pg_relation_size(i.indexrelid)::int8 as bytes, coalesce(s.idx_scan, 0)::int8 as scans,
           pg_get_indexdef(i.indexrelid) as definition,
           ic.reltuples::float8 as tuples,
           current_setting('block_size')::int as block_size,
           cardinality(i.indkey::int2[]) as columns,
           (select count(*)::int from unnest(i.indkey::int2[]) k(attnum)
              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
              join pg_stats st on st.schemaname = n.nspname and st.tablename = t.relname and st.attname = a.attname) as columns_with_stats,
           (select sum(st.avg_width)::int from unnest(i.indkey::int2[]) k(attnum)
              join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
              join pg_stats st on st.schemaname = n.nspname and st.tablename = t.relname and st.attname = a.attname) as key_width
      from pg_index i
      join pg_class ic on ic.oid = i.indexrelid
      join pg_am am on am.oid = ic.relam
      join pg_class t on t.oid = i.indrelid
      join pg_namespace n on n.oid = t.relnamespace
      left join pg_stat_user_indexes s on s.indexrelid = i.indexrelid
     where am.amname = 'btree' and i.indisvalid and i.indexprs is null
       and n.nspname not in ${SYSTEM_SCHEMAS}
       and pg_relation_size(i.indexrelid) >= ${options.minBytes}
     order by pg_relation_size(i.indexrelid) desc
  `.execute(db);

  const bloated: BloatedIndex[] = [];
  for (const row of rows) {
    // reltuples is -1 before the first VACUUM or ANALYZE; without a count there is no estimate.
    if (row.tuples < 0 || row.key_width === null || row.columns_with_stats !== row.columns) continue;
    // Usable bytes of a page: less the 24-byte page header and 16-byte B-tree special space, at 90% fill.
    const perPage = (row.block_size - 24 - 16) * 0.9;
    const leafPages = Math.ceil((row.tuples * tupleBytes(row.key_width)) / perPage);
    // One metapage, plus about 1% internal pages.
    const estimatedBytes = (Math.ceil(leafPages * 1.01) + 1) * row.block_size;
    const ratio = Math.round((Number(row.bytes) / estimatedBytes) * 10) / 10;
    if (ratio >= options.ratio) {
      bloated.push({
        schema: row.schema,
        table: row.table,
        index: row.index,
        bytes: Number(row.bytes),
        scans: Number(row.scans),
        definition: row.definition,
        estimatedBytes,
        ratio,
      });
    }
  }
  return bloated;
}

/** `DROP INDEX CONCURRENTLY "schema"."index"`. */
export const dropIndexStatement = (schema: string, index: string) => `DROP INDEX CONCURRENTLY IF EXISTS ${qualifiedName(schema, index)}`;

/** `REINDEX INDEX CONCURRENTLY "schema"."index"`. */
export const reindexStatement = (schema: string, index: string) => `REINDEX INDEX CONCURRENTLY ${qualifiedName(schema, index)}`;
