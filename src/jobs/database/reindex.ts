import { Type } from '@sinclair/typebox';
import { UnrecoverableError } from 'bullmq';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { defineJob, type JobContext } from '../contract.js';
import { IndexName, INDEX_KINDS, qualifiedName, relationProblems, resolveRelations, RUNBOOK_REINDEX_TABLES, TABLE_KINDS, TableName } from './catalog.js';
import { dropIndexStatement, findInvalidIndexes, reindexStatement, type InvalidIndex } from './index-report.js';
import { runStatement, withUpkeepSession, type PinnedConnection, type StatementResult } from './maintenance-session.js';
import { checkAborted, failOnErrors, logResult, resultJson } from './upkeep-run.js';

const Payload = Type.Object(
  {
    tables: Type.Optional(
      Type.Array(TableName, {
        minItems: 1,
        maxItems: 200,
        uniqueItems: true,
        description: `Rebuild every valid index of these tables; default the runbook's ${RUNBOOK_REINDEX_TABLES.join(', ')}`,
      }),
    ),
    indexes: Type.Optional(
      Type.Array(IndexName, { minItems: 1, maxItems: 200, uniqueItems: true, description: 'Rebuild these indexes only; not with tables' }),
    ),
    dropInvalid: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Also drop invalid indexes of the chosen tables that a failed CREATE INDEX CONCURRENTLY left; leftovers of REINDEX CONCURRENTLY are always dropped',
      }),
    ),
    dryRun: Type.Optional(Type.Boolean({ default: false, description: 'List the statements and change nothing' })),
  },
  { additionalProperties: false },
);

interface IndexTarget {
  schema: string;
  index: string;
  tableOid: number;
  exclusion: boolean;
}

async function payloadProblems(db: Kysely<Database>, payload: { tables?: string[]; indexes?: string[] }): Promise<string[]> {
  const problems: string[] = [];
  if (payload.tables) {
    problems.push(...relationProblems('data.tables', await resolveRelations(db, payload.tables, TABLE_KINDS)));
  }
  if (payload.indexes) {
    problems.push(...relationProblems('data.indexes', await resolveRelations(db, payload.indexes, INDEX_KINDS), 'index'));
  }
  return problems;
}

/** Finds the indexes to rebuild: the named ones, or the valid indexes of the chosen tables. */
async function findTargets(db: Kysely<Database>, payload: { tables?: string[]; indexes?: string[] }): Promise<IndexTarget[]> {
  const byIndex = Boolean(payload.indexes);
  const { found } = byIndex
    ? await resolveRelations(db, payload.indexes!, INDEX_KINDS)
    : await resolveRelations(db, payload.tables ?? RUNBOOK_REINDEX_TABLES, TABLE_KINDS);
  const oids = found.map((relation) => relation.oid);
  if (oids.length === 0) return [];
  const { rows } = await sql<IndexTarget>`
    select n.nspname as schema, ic.relname as index, i.indrelid::int8 as "tableOid", i.indisexclusion as exclusion
      from pg_index i
      join pg_class ic on ic.oid = i.indexrelid
      join pg_namespace n on n.oid = ic.relnamespace
     where ${byIndex ? sql`i.indexrelid = any(${oids}::oid[])` : sql`i.indrelid = any(${oids}::oid[]) and i.indisvalid`}
     order by n.nspname, ic.relname
  `.execute(db);
  return rows.map((row) => ({ ...row, tableOid: Number(row.tableOid) }));
}

/** Drops each index with DROP INDEX CONCURRENTLY, reporting every statement. */
async function dropIndexes(context: JobContext, connection: PinnedConnection, indexes: readonly InvalidIndex[]): Promise<StatementResult[]> {
  const results: StatementResult[] = [];
  for (const row of indexes) {
    checkAborted(context.signal);
    const result = await runStatement(connection, qualifiedName(row.schema, row.index), dropIndexStatement(row.schema, row.index));
    results.push(result);
    await logResult(context, result);
  }
  return results;
}

type ReindexPayload = { tables?: string[]; indexes?: string[]; dropInvalid?: boolean };

/** Decides what a run drops, rebuilds, skips and leaves alone, from the catalog as it is now. */
async function planReindex(db: Kysely<Database>, payload: ReindexPayload) {
  const targets = await findTargets(db, payload);
  const tableOids = [...new Set(targets.map((target) => target.tableOid))];
  const invalid = await findInvalidIndexes(db);
  const concerned = invalid.filter((row) => row.reindexLeftover || tableOids.includes(Number(row.tableOid)));
  // While CREATE INDEX or REINDEX runs on a table, its invalid indexes may be that build's own.
  const building = concerned.filter((row) => row.buildInProgress);
  const leftovers = concerned.filter((row) => row.reindexLeftover && !row.buildInProgress);
  const otherInvalid = concerned.filter((row) => !row.reindexLeftover && !row.buildInProgress);
  const toDrop = [...leftovers, ...(payload.dropInvalid ? otherInvalid : [])];
  const dropping = new Set(toDrop.map((row) => qualifiedName(row.schema, row.index)));

  return {
    tableOids,
    toDrop,
    // An index that is dropped first is not rebuilt, even when named.
    rebuild: targets.filter((target) => !target.exclusion && !dropping.has(qualifiedName(target.schema, target.index))),
    skipped: [
      ...targets
        .filter((target) => target.exclusion)
        .map((target) => ({ target: qualifiedName(target.schema, target.index), reason: 'REINDEX CONCURRENTLY cannot rebuild an exclusion constraint index' })),
      ...building.map((row) => ({ target: qualifiedName(row.schema, row.index), reason: 'an index build is running on its table now' })),
    ],
    invalidKept: payload.dropInvalid
      ? []
      : otherInvalid.map((row) => ({ target: qualifiedName(row.schema, row.index), statement: `${dropIndexStatement(row.schema, row.index)};` })),
  };
}

type ReindexPlan = Awaited<ReturnType<typeof planReindex>>;

/** Runs the plan on one upkeep session: drops, rebuilds, then drops what an interrupted rebuild left. */
async function executeReindex(context: JobContext, plan: ReindexPlan) {
  return withUpkeepSession(context.db, context.config.DB_LOCK_TIMEOUT_MS, async (connection) => {
    const dropped = await dropIndexes(context, connection, plan.toDrop);

    const rebuilt: StatementResult[] = [];
    for (const target of plan.rebuild) {
      checkAborted(context.signal);
      const name = qualifiedName(target.schema, target.index);
      const result = await runStatement(connection, name, reindexStatement(target.schema, target.index));
      rebuilt.push(result);
      await logResult(context, result);
      await context.progress(Math.round((rebuilt.length / plan.rebuild.length) * 100));
    }

    const interrupted = rebuilt.some((result) => result.outcome !== 'done');
    const after = interrupted
      ? (await findInvalidIndexes(connection, plan.tableOids)).filter((row) => row.reindexLeftover && !row.buildInProgress)
      : [];
    return { dropped, rebuilt, cleanedAfter: await dropIndexes(context, connection, after) };
  });
}

/**
 * The runbook's "Rebuild fragmented indexes", without blocking writes: one
 * `REINDEX INDEX CONCURRENTLY` per index. First it drops the invalid
 * `_ccnew`/`_ccold` indexes an interrupted REINDEX CONCURRENTLY left (they
 * slow every write and are never used), except on a table where an index
 * build is running now. A rebuild that stops on its lock timeout can leave
 * such a leftover itself, and the run drops it again at the end.
 */
export const reindex = defineJob({
  name: 'reindex',
  queue: 'maintenance',
  description: 'REINDEX INDEX CONCURRENTLY the indexes of the runbook tables or of the named tables or indexes, after dropping leftovers of failed rebuilds',
  payload: Payload,
  role: 'admin',
  destructive: true,
  kind: 'maintenance',
  validate: (payload) => (payload.tables && payload.indexes ? ['data.tables, data.indexes: give one of them, not both'] : []),
  checkDatabase: (db, payload) => payloadProblems(db, payload),
  async run(context, payload) {
    const problems = await payloadProblems(context.db, payload);
    if (problems.length > 0) throw new UnrecoverableError(problems.join('; '));
    const plan = await planReindex(context.db, payload);

    if (payload.dryRun) {
      return {
        dryRun: true,
        wouldDrop: plan.toDrop.map((row) => dropIndexStatement(row.schema, row.index)),
        wouldReindex: plan.rebuild.map((target) => reindexStatement(target.schema, target.index)),
        skipped: plan.skipped,
        invalidKept: plan.invalidKept,
      };
    }

    const { dropped, rebuilt, cleanedAfter } = await executeReindex(context, plan);
    const all = [...dropped, ...rebuilt, ...cleanedAfter];
    failOnErrors('reindex', all);

    const remaining = await findInvalidIndexes(context.db, plan.tableOids);
    return {
      lockTimeoutMs: context.config.DB_LOCK_TIMEOUT_MS,
      droppedLeftovers: dropped.map(resultJson),
      indexes: rebuilt.map(resultJson),
      droppedAfterInterruptedRebuild: cleanedAfter.map(resultJson),
      done: rebuilt.filter((result) => result.outcome === 'done').length,
      lockTimeouts: all.filter((result) => result.outcome === 'lock-timeout').map((result) => result.target),
      skipped: plan.skipped,
      invalidKept: plan.invalidKept,
      invalidRemaining: remaining.map((row) => qualifiedName(row.schema, row.index)),
    };
  },
});
