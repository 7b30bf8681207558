import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { defineJob } from '../contract.js';
import { sendJobId } from './email-queue.js';

export const ClearFailedEmailsPayload = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Count the failed messages and change nothing' })),
    olderThanDays: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3650, description: 'Only messages that failed at least this many days ago; default 0, all' }),
    ),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Messages per batch; default 500' })),
  },
  { additionalProperties: false },
);

/**
 * Deletes failed messages from email_queue and removes their failed send jobs
 * from the email queue. Messages that are pending (including those whose job
 * failed while SMTP was down) are kept. Each batch removes the jobs before the
 * rows, so a run killed in between leaves rows that the next run clears.
 */
export const clearFailedEmails = defineJob({
  name: 'clear-failed-emails',
  queue: 'maintenance',
  description: 'Delete failed emails and their failed jobs',
  payload: ClearFailedEmailsPayload,
  role: 'admin',
  destructive: true,
  kind: 'maintenance',
  async run(context, payload) {
    const { db } = context;
    const days = payload.olderThanDays ?? 0;
    const batchSize = payload.batchSize ?? 500;
    const cutoff = sql<Date>`now() - make_interval(days => ${days})`;

    if (payload.dryRun) {
      const { count } = await db
        .selectFrom('email_queue')
        .select((eb) => eb.fn.countAll<number>().as('count'))
        .where('status', '=', 'failed')
        .where('updated_at', '<=', cutoff)
        .executeTakeFirstOrThrow();
      return { dryRun: true, olderThanDays: days, messages: count };
    }

    let deleted = 0;
    let jobsRemoved = 0;
    let afterId = 0;
    for (;;) {
      context.signal.throwIfAborted();
      const batch = await db
        .selectFrom('email_queue')
        .select('id')
        .where('status', '=', 'failed')
        .where('updated_at', '<=', cutoff)
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(batchSize)
        .execute();
      if (batch.length === 0) break;
      afterId = batch[batch.length - 1]!.id;

      for (const { id } of batch) {
        const job = await context.queues.email.getJob(sendJobId(id));
        if (job && (await job.getState()) === 'failed') {
          await job.remove();
          jobsRemoved += 1;
        }
      }
      const removed = await db
        .deleteFrom('email_queue')
        .where('id', 'in', batch.map((row) => row.id))
        .where('status', '=', 'failed')
        .returning('id')
        .execute();
      deleted += removed.length;
      await context.progress({ deleted });
    }

    await context.log(`deleted ${deleted} failed messages and ${jobsRemoved} failed jobs`);
    return { dryRun: false, olderThanDays: days, messages: deleted, jobsRemoved };
  },
});
