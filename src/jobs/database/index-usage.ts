import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { findDuplicateIndexes, findInvalidIndexes, findUnusedIndexes } from './index-report.js';
import { withReportSession } from './maintenance-session.js';
import { readStatisticsAge } from './statistics-age.js';

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
      const statistics = await readStatisticsAge(db);
      return {
        statisticsSince: statistics.since,
        statistics: { ...statistics },
        unused: unused.map((row) => ({ ...row })),
        duplicates: duplicates.map((set) => ({ ...set })),
        invalid: invalid.map((row) => ({ ...row })),
      };
    });
  },
});
