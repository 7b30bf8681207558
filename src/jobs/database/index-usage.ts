import { Type } from '@sinclair/typebox';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/schema.js';
import { defineJob } from '../contract.js';
import { findDuplicateIndexes, findInvalidIndexes, findUnusedIndexes } from './index-report.js';
import { withReportSession } from './maintenance-session.js';

/**
 * Since when the scan counts count: the last statistics reset of this
 * database, or the server start when they were never reset.
 */
export async function statisticsSince(db: Kysely<Database>): Promise<string | null> {
  const { rows } = await sql<{ since: Date | null }>`
    select coalesce(stats_reset, pg_postmaster_start_time()) as since
      from pg_stat_database where datname = current_database()
  `.execute(db);
  return rows[0]?.since ? new Date(rows[0].since).toISOString() : null;
}

/** The runbook's "Check index usage", with duplicates and invalid indexes. Changes nothing. */
export const indexUsage = defineJob({
  name: 'index-usage',
  queue: 'maintenance',
  description: 'Find unused, duplicate and invalid indexes',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context) {
    return withReportSession(context.db, context.config.DB_LOCK_TIMEOUT_MS, async (db) => {
      const unused = await findUnusedIndexes(db);
      const duplicates = await findDuplicateIndexes(db);
      const invalid = await findInvalidIndexes(db);
      return {
        statisticsSince: await statisticsSince(db),
        unused: unused.map((row) => ({ ...row })),
        duplicates: duplicates.map((set) => ({ ...set })),
        invalid: invalid.map((row) => ({ ...row })),
      };
    });
  },
});
