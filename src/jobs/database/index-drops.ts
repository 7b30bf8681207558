import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { qualifiedName, SYSTEM_SCHEMAS } from './catalog.js';
import type { DuplicateSet, IndexRow } from './index-report.js';

/*
 * Decides which unused and duplicate indexes the report recommends dropping.
 *
 * An unused index gets a DROP recommendation only when all of these hold:
 * - the statistics are at least INDEX_STATS_MIN_DAYS old;
 * - it is at least INDEX_DROP_MIN_BYTES large;
 * - it is not the last index covering a foreign key. The foreign key check
 *   that runs for every DELETE or key UPDATE on the referenced table then
 *   has to scan the whole referencing table.
 * Duplicates are structural and are recommended at any age and size, but
 * they obey the foreign-key rule too.
 */

/** A foreign key with the valid indexes whose leading columns are its columns. */
export interface ForeignKeyCover {
  /** The constraint's table, `"schema"."table"`. */
  table: string;
  constraint: string;
  columns: string[];
  /** `"schema"."index"` of every covering index. */
  indexes: string[];
}

/**
 * Reads every foreign key of the user schemas with its covering indexes: valid,
 * not partial, B-tree or hash, whose first key columns are the constraint's
 * columns in any order. Those are the indexes the foreign key check can use.
 */
export async function findForeignKeyCovers(db: Kysely<Database>): Promise<ForeignKeyCover[]> {
  const { rows } = await sql<{ schema: string; table: string; constraint: string; columns: string[]; indexes: string[] | null }>`
    select n.nspname as schema, t.relname as table, c.conname as constraint,
           array(select a.attname::text from unnest(c.conkey) with ordinality k(attnum, position)
                   join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum
                  order by k.position) as columns,
           array(select ic.relname::text
                   from pg_index i
                   join pg_class ic on ic.oid = i.indexrelid
                   join pg_am am on am.oid = ic.relam
                  where i.indrelid = c.conrelid and i.indisvalid and i.indisready and i.indpred is null
                    and am.amname in ('btree', 'hash')
                    and (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] @> c.conkey
                    and (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)] <@ c.conkey
                  order by ic.relname) as indexes
      from pg_constraint c
      join pg_class t on t.oid = c.conrelid
      join pg_namespace n on n.oid = t.relnamespace
     where c.contype = 'f' and n.nspname not in ${SYSTEM_SCHEMAS}
     order by n.nspname, t.relname, c.conname
  `.execute(db);
  return rows.map((row) => ({
    table: qualifiedName(row.schema, row.table),
    constraint: row.constraint,
    columns: row.columns,
    indexes: (row.indexes ?? []).map((index) => qualifiedName(row.schema, index)),
  }));
}

/** An unused index with the report's verdict on it. */
export interface UnusedIndexAdvice extends IndexRow {
  dropRecommended: boolean;
  /** Reasons no DROP is recommended; empty when one is. */
  keptBecause: string[];
}

export interface PlannedDrop {
  schema: string;
  index: string;
  reason: string;
}

export interface DropPlanSettings {
  /** Age of the scan counts, in days (StatisticsAge.days). */
  statisticsDays: number;
  /** INDEX_STATS_MIN_DAYS. */
  minStatisticsDays: number;
  /** INDEX_DROP_MIN_BYTES. */
  minDropBytes: number;
}

const mebibytes = (bytes: number) => `${Math.round((bytes / 1_048_576) * 10) / 10} MiB`;

/**
 * Plans the DROP recommendations for duplicate and unused indexes. Invalid
 * indexes are not part of the plan: they cover nothing and are always worth
 * dropping.
 */
export function planIndexDrops(
  findings: { unused: readonly IndexRow[]; duplicates: readonly DuplicateSet[]; covers: readonly ForeignKeyCover[] },
  settings: DropPlanSettings,
): { drops: PlannedDrop[]; unused: UnusedIndexAdvice[]; keptForForeignKeys: { index: string; constraint: string; table: string }[] } {
  const dropping = new Set<string>();
  const drops: PlannedDrop[] = [];
  const keptForForeignKeys: { index: string; constraint: string; table: string }[] = [];

  /** The foreign keys that would lose their last covering index if `target` were dropped too. */
  const lastCoverOf = (target: string) =>
    findings.covers.filter((cover) => cover.indexes.includes(target) && cover.indexes.every((index) => index === target || dropping.has(index)));
  const foreignKeyWording = (cover: ForeignKeyCover) => `${cover.constraint} on ${cover.table} (${cover.columns.join(', ')})`;

  for (const set of findings.duplicates) {
    for (const index of set.redundant) {
      const target = qualifiedName(set.schema, index);
      if (dropping.has(target) || lastCoverOf(target).length > 0) continue;
      dropping.add(target);
      drops.push({ schema: set.schema, index, reason: `duplicates ${qualifiedName(set.schema, set.keep)}` });
    }
  }

  // Larger indexes are decided first, so when several unused indexes cover one
  // foreign key, the smallest of them is the one kept.
  const bySizeDescending = [...findings.unused].sort((a, b) => Number(b.bytes) - Number(a.bytes));
  const verdicts = new Map<string, UnusedIndexAdvice>();
  for (const row of bySizeDescending) {
    const target = qualifiedName(row.schema, row.index);
    const keptBecause: string[] = [];
    for (const cover of lastCoverOf(target)) {
      keptBecause.push(`unused but backs foreign key ${foreignKeyWording(cover)}: without it, deletes on the referenced table scan ${cover.table}`);
      keptForForeignKeys.push({ index: target, constraint: cover.constraint, table: cover.table });
    }
    if (Number(row.bytes) < settings.minDropBytes) {
      keptBecause.push(`${mebibytes(Number(row.bytes))}, below INDEX_DROP_MIN_BYTES (${settings.minDropBytes} bytes): not worth a DROP`);
    }
    if (settings.statisticsDays < settings.minStatisticsDays) {
      keptBecause.push(`statistics cover ${settings.statisticsDays} days, fewer than INDEX_STATS_MIN_DAYS (${settings.minStatisticsDays})`);
    }

    const dropRecommended = keptBecause.length === 0;
    // A duplicate already planned for dropping needs no second recommendation.
    if (dropRecommended && !dropping.has(target)) {
      dropping.add(target);
      drops.push({ schema: row.schema, index: row.index, reason: `never scanned in ${settings.statisticsDays} days of statistics (${mebibytes(Number(row.bytes))})` });
    }
    verdicts.set(target, { ...row, bytes: Number(row.bytes), scans: Number(row.scans), dropRecommended, keptBecause });
  }

  const unused = findings.unused.map((row) => verdicts.get(qualifiedName(row.schema, row.index))!);
  return { drops, unused, keptForForeignKeys };
}
