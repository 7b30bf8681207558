import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { batchSizing, countMatching, updateInBatches } from '../../db/batches.js';
import { databaseNow } from '../../db/clock.js';
import { defineJob } from '../contract.js';

const LIVE = sql`revoked_at is null`;

/**
 * Logs every user out: first sets tokens_valid_after, so the platform refuses
 * every JWT issued before now even if the job stops halfway, then revokes the
 * unrevoked sessions in bounded batches. Running it again revokes what is left.
 */
export const forceLogoutAll = defineJob({
  name: 'force-logout-all',
  queue: 'maintenance',
  description: 'Revoke every session and refuse every JWT issued before now',
  payload: Type.Object(
    {
      dryRun: Type.Optional(Type.Boolean({ description: 'Count the sessions that would be revoked and change nothing' })),
      batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Rows per statement, fixed for this run; default: adaptive from CLEANUP_BATCH_SIZE' })),
    },
    { additionalProperties: false },
  ),
  role: 'admin',
  destructive: true,
  kind: 'emergency',
  async run(context, payload) {
    const { db } = context;
    const now = await databaseNow(context);

    if (payload.dryRun) {
      return { dryRun: true, sessions: await countMatching(db, 'user_sessions', LIVE) };
    }

    await db
      .updateTable('platform_settings')
      .set({ tokens_valid_after: now, updated_at: now, updated_by: context.job.requestedBy })
      .execute();
    await context.log(`tokens issued before ${now.toISOString()} are refused from now on`);

    const report = await updateInBatches(
      db,
      { table: 'user_sessions', where: LIVE, set: sql`revoked_at = ${now}` },
      {
        ...batchSizing(context.config, payload.batchSize),
        signal: context.signal,
        onBatch: (progress) => context.progress({ revoked: progress.rows }),
      },
    );
    await context.log(`revoked ${report.rows} sessions`);
    return { dryRun: false, tokensValidAfter: now.toISOString(), sessionsRevoked: report.rows, batches: report.batches };
  },
});
