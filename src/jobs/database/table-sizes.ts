import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { withReportSession } from './maintenance-session.js';
import { readIndexSizes, readTableSizes } from './size-report.js';

/** The runbook's "Check table sizes", with index sizes. Changes nothing. */
export const tableSizes = defineJob({
  name: 'table-sizes',
  queue: 'maintenance',
  description: 'List table and index sizes, largest first, with dead rows and the last vacuum and analyze',
  payload: Type.Object(
    {
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'How many tables and how many indexes to list' })),
    },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const limit = payload.limit ?? 50;
    return withReportSession(context.db, context.config.DB_LOCK_TIMEOUT_MS, async (db) => {
      const { total, tables } = await readTableSizes(db, limit);
      return { tableCount: total, tables, indexes: await readIndexSizes(db, limit) };
    });
  },
});
