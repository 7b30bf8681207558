import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { withReportSession } from './maintenance-session.js';
import { readSlowQueries } from './slow-query-report.js';

/** The payload fields of the slow-query report, shared with performance-analysis. */
export const SlowQueryFields = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'How many statements to list, slowest first' })),
  minTotalMs: Type.Optional(
    Type.Number({
      minimum: 0,
      default: 1000,
      description: 'Leave out statements whose total execution time is at most this many milliseconds (the runbook uses 1000)',
    }),
  ),
};

/** The runbook's "Find slow queries": pg_stat_statements alone, for this database. Changes nothing. */
export const slowQueries = defineJob({
  name: 'slow-queries',
  queue: 'maintenance',
  description: 'List the statements with the most total execution time from pg_stat_statements',
  payload: Type.Object(SlowQueryFields, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const options = { limit: payload.limit ?? 20, minTotalMs: payload.minTotalMs ?? 1000 };
    const report = await withReportSession(context.db, context.config.DB_LOCK_TIMEOUT_MS, (db) => readSlowQueries(db, options));
    if (!report.installed) await context.log(`pg_stat_statements: ${report.reason}`);
    return { slowQueries: report };
  },
});
