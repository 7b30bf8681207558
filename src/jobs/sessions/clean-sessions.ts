import { Type } from '@sinclair/typebox';
import { batchSizing, countMatching, deleteInBatches } from '../../db/batches.js';
import { databaseNow } from '../../db/clock.js';
import { defineJob } from '../contract.js';
import { endedSessionsWhere, sessionCutoff } from './token-cleanup.js';

/** The session part of token-cleanup, on its own for the runbook's `maintenance:clean-sessions`. */
export const cleanSessions = defineJob({
  name: 'clean-sessions',
  queue: 'maintenance',
  description: 'Delete sessions that expired or were revoked more than the grace period ago',
  payload: Type.Object(
    {
      dryRun: Type.Optional(Type.Boolean({ description: 'Count the sessions and change nothing' })),
      batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Rows per statement, fixed for this run; default: adaptive from CLEANUP_BATCH_SIZE' })),
      graceHours: Type.Optional(Type.Integer({ minimum: 0, maximum: 87_600, description: 'Keep ended sessions this long; default SESSION_GRACE_HOURS' })),
    },
    { additionalProperties: false },
  ),
  role: 'admin',
  destructive: true,
  kind: 'maintenance',
  async run(context, payload) {
    const now = await databaseNow(context);
    const cutoff = sessionCutoff(now, payload.graceHours ?? context.config.SESSION_GRACE_HOURS);
    const where = endedSessionsWhere(cutoff);

    if (payload.dryRun) {
      return { dryRun: true, endedBefore: cutoff.toISOString(), sessions: await countMatching(context.db, 'user_sessions', where) };
    }
    const report = await deleteInBatches(
      context.db,
      { table: 'user_sessions', where },
      {
        ...batchSizing(context.config, payload.batchSize),
        signal: context.signal,
        onBatch: (progress) => context.progress({ deleted: progress.rows }),
      },
    );
    await context.log(`deleted ${report.rows} ended sessions`);
    return { dryRun: false, endedBefore: cutoff.toISOString(), sessions: report.rows, batches: report.batches, maxBatchMs: report.maxBatchMs };
  },
});
