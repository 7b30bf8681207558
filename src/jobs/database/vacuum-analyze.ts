import { Type } from '@sinclair/typebox';
import { UnrecoverableError } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { defineJob } from '../contract.js';
import { qualifiedName, relationProblems, resolveRelations, RUNBOOK_VACUUM_TABLES, TABLE_KINDS, TableName } from './catalog.js';
import { runStatement, withUpkeepSession, type StatementResult } from './maintenance-session.js';
import { checkAborted, failOnErrors, logResult, resultJson } from './upkeep-run.js';

const Payload = Type.Object(
  {
    tables: Type.Optional(
      Type.Array(TableName, {
        minItems: 1,
        maxItems: 200,
        uniqueItems: true,
        description: `Tables to vacuum and analyze; default the runbook's ${RUNBOOK_VACUUM_TABLES.join(', ')}`,
      }),
    ),
  },
  { additionalProperties: false },
);

async function missingTables(db: Kysely<Database>, tables: readonly string[] | undefined): Promise<string[]> {
  if (!tables) return [];
  return relationProblems('data.tables', await resolveRelations(db, tables, TABLE_KINDS));
}

/**
 * The runbook's "Vacuum and analyze tables": one `VACUUM ANALYZE` per table,
 * each sent alone on a pinned connection with lock_timeout set
 * (DB_LOCK_TIMEOUT_MS). See upkeep-run.ts for how lock timeouts and errors end
 * the run.
 */
export const vacuumAnalyze = defineJob({
  name: 'vacuum-analyze',
  queue: 'maintenance',
  description: 'VACUUM ANALYZE the named tables, or the tables the runbook lists, one statement each with a lock timeout',
  payload: Payload,
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  checkDatabase: (db, payload) => missingTables(db, payload.tables),
  async run(context, payload) {
    const { db, config } = context;
    const problems = await missingTables(db, payload.tables);
    if (problems.length > 0) throw new UnrecoverableError(problems.join('; '));
    const { found, missing } = await resolveRelations(db, payload.tables ?? RUNBOOK_VACUUM_TABLES, TABLE_KINDS);

    const results = await withUpkeepSession(db, config.DB_LOCK_TIMEOUT_MS, async (connection) => {
      const done: StatementResult[] = [];
      for (const table of found) {
        checkAborted(context.signal);
        const target = qualifiedName(table.schema, table.name);
        const result = await runStatement(connection, target, `VACUUM ANALYZE ${target}`);
        done.push(result);
        await logResult(context, result);
        await context.progress(Math.round((done.length / found.length) * 100));
      }
      return done;
    });

    failOnErrors('vacuum-analyze', results);
    return {
      lockTimeoutMs: config.DB_LOCK_TIMEOUT_MS,
      tables: results.map(resultJson),
      done: results.filter((result) => result.outcome === 'done').length,
      lockTimeouts: results.filter((result) => result.outcome === 'lock-timeout').map((result) => result.target),
      // Only runbook defaults can be missing here; named tables were checked above.
      missingRunbookTables: missing,
    };
  },
});
