import { Type } from '@sinclair/typebox';
import { UnrecoverableError } from 'bullmq';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { defineJob } from '../contract.js';
import { createMessageId } from './mailer.js';
import { SEND_EMAIL_JOB } from './email-queue.js';
import { classifySmtpError } from './smtp-errors.js';

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

async function markFailed(db: Db, emailId: number, lastError: string): Promise<void> {
  await db
    .updateTable('email_queue')
    .set({ status: 'failed', last_error: lastError, locked_until: null, updated_at: sql`now()` })
    .where('id', '=', emailId)
    .execute();
}

/*
 * At-most-once delivery. A message moves pending -> sending (claimed by one
 * worker, with a lease) -> handed off (handed_off_at set just before the SMTP
 * transaction) -> sent. A worker that dies after the hand-off leaves a message
 * whose fate is unknown, and process-email-queue marks it failed instead of
 * sending it again. What remains: the time between the server's final reply and
 * the UPDATE to `sent`, one local statement, and the time between the hand-off
 * UPDATE and the first SMTP command. A crash there loses no message but leaves
 * it for an operator to check by its Message-ID.
 */
export const sendEmail = defineJob({
  name: SEND_EMAIL_JOB,
  queue: 'email',
  description: 'Deliver one message from email_queue',
  payload: Type.Object({ emailId: Type.Integer({ minimum: 1, description: 'email_queue id' }) }, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  // email_queue records every message's attempts, outcome and error.
  logRuns: false,
  internalOnly: 'send-email runs once per message in email_queue; queue a message with POST /api/emails',
  async run(context, { emailId }) {
    const { db, config } = context;

    const claimed = await db
      .updateTable('email_queue')
      .set({
        status: 'sending',
        attempts: sql`attempts + 1`,
        locked_until: sql`now() + make_interval(secs => ${config.EMAIL_LEASE_SECONDS})`,
        handed_off_at: null,
        message_id: sql`coalesce(message_id, ${createMessageId(config.MAIL_FROM)})`,
        updated_at: sql`now()`,
      })
      .where('id', '=', emailId)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();

    if (!claimed) {
      const row = await db.selectFrom('email_queue').select(['status']).where('id', '=', emailId).executeTakeFirst();
      if (!row) throw new UnrecoverableError(`Email ${emailId} does not exist in email_queue`);
      context.logger.info({ emailId, status: row.status }, 'email not pending; nothing to send');
      return { emailId, skipped: `status is ${row.status}` };
    }

    await db.updateTable('email_queue').set({ handed_off_at: sql`now()` }).where('id', '=', emailId).execute();
    const started = performance.now();
    try {
      const delivery = await context.mailer.send({
        to: claimed.recipient,
        subject: claimed.subject,
        text: claimed.body_text,
        html: claimed.body_html,
        messageId: claimed.message_id ?? undefined,
      });
      await db
        .updateTable('email_queue')
        .set({ status: 'sent', sent_at: sql`now()`, smtp_response: delivery.response, last_error: null, locked_until: null, updated_at: sql`now()` })
        .where('id', '=', emailId)
        .execute();
      return { emailId, messageId: delivery.messageId, response: delivery.response, ms: Math.round(performance.now() - started) };
    } catch (error) {
      const outcome = classifySmtpError(error);
      const message = errorText(error);
      context.logger.warn({ emailId, outcome, err: error }, 'email delivery failed');

      if (outcome === 'retry') {
        // The server never took the message: back to pending, and BullMQ retries the job with backoff.
        await db
          .updateTable('email_queue')
          .set({ status: 'pending', last_error: message, locked_until: null, handed_off_at: null, updated_at: sql`now()` })
          .where('id', '=', emailId)
          .execute();
        throw error;
      }
      if (outcome === 'reject') {
        await markFailed(db, emailId, message);
        throw new UnrecoverableError(`SMTP rejected the message: ${message}`);
      }
      await markFailed(db, emailId, `delivery state unknown, not resent: ${message}`);
      throw new UnrecoverableError(`Delivery state unknown after the message data was sent: ${message}`);
    }
  },
});
