import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { defineJob } from '../contract.js';
import { scheduleSend, sendJobOptions, type ScheduleOutcome } from './email-queue.js';

const PAGE_SIZE = 500;

export const ProcessEmailQueuePayload = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Report what would be done and change nothing' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Maximum pending messages to enqueue in this run' })),
  },
  { additionalProperties: false },
);

const UNKNOWN_DELIVERY =
  'delivery state unknown: the worker stopped after handing the message to SMTP; check the mail server log for its Message-ID';

/**
 * Moves messages left in `sending` past their lease: back to `pending` when
 * they were never handed to SMTP, to `failed` when they were.
 */
async function recoverStuckMessages(db: Db, dryRun: boolean): Promise<{ released: number; unknown: number }> {
  const leaseExpired = sql<boolean>`status = 'sending' and locked_until < now()`;
  if (dryRun) {
    return db
      .selectFrom('email_queue')
      .select((eb) => [
        eb.fn.countAll<number>().filterWhere('handed_off_at', 'is', null).as('released'),
        eb.fn.countAll<number>().filterWhere('handed_off_at', 'is not', null).as('unknown'),
      ])
      .where(leaseExpired)
      .executeTakeFirstOrThrow();
  }

  const released = await db
    .updateTable('email_queue')
    .set({ status: 'pending', locked_until: null, updated_at: sql`now()` })
    .where(leaseExpired)
    .where('handed_off_at', 'is', null)
    .returning('id')
    .execute();
  const unknown = await db
    .updateTable('email_queue')
    .set({ status: 'failed', last_error: UNKNOWN_DELIVERY, locked_until: null, updated_at: sql`now()` })
    .where(leaseExpired)
    .where('handed_off_at', 'is not', null)
    .returning('id')
    .execute();
  return { released: released.length, unknown: unknown.length };
}

/**
 * Recovers stuck messages and makes sure every pending one has a send job.
 *
 * A message left in `sending` past its lease goes back to `pending` when it was
 * never handed to SMTP, and to `failed` ("delivery state unknown") when it
 * was, because resending it could deliver it twice. Pending messages include
 * those the platform inserts straight into email_queue and those whose send
 * job ran out of attempts while the SMTP server was down.
 */
export const processEmailQueue = defineJob({
  name: 'process-email-queue',
  queue: 'maintenance',
  description: 'Recover stuck emails and enqueue every pending one',
  payload: ProcessEmailQueuePayload,
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const { db } = context;
    const dryRun = payload.dryRun ?? false;
    const limit = payload.limit ?? 100_000;

    const { released, unknown } = await recoverStuckMessages(db, dryRun);

    const outcomes: Record<ScheduleOutcome, number> = { added: 0, retried: 0, 'already-queued': 0 };
    let pending = 0;
    let afterId = 0;
    while (pending < limit) {
      context.signal.throwIfAborted();
      const rows = await db
        .selectFrom('email_queue')
        .select('id')
        .where('status', '=', 'pending')
        .where('id', '>', afterId)
        .orderBy('id')
        .limit(Math.min(PAGE_SIZE, limit - pending))
        .execute();
      if (rows.length === 0) break;
      afterId = rows[rows.length - 1]!.id;
      pending += rows.length;
      if (dryRun) continue;

      const results = await Promise.all(rows.map((row) => scheduleSend(context.queues.email, row.id, 'process-email-queue', sendJobOptions(context.config))));
      for (const outcome of results) outcomes[outcome] += 1;
      await context.progress({ pending });
    }

    await context.log(`released ${released} stuck messages, marked ${unknown} unknown, found ${pending} pending`);
    return { dryRun, releasedFromSending: released, markedUnknown: unknown, pending, jobs: outcomes };
  },
});
