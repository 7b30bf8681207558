import { Type } from '@sinclair/typebox';
import { UnrecoverableError } from 'bullmq';
import { defineJob } from '../contract.js';

/** Sends one message straight through the mailer, bypassing email_queue, and reports the server's reply and timing. */
export const testEmail = defineJob({
  name: 'test-email',
  queue: 'email',
  description: 'Send one test message and report the SMTP reply and timing',
  payload: Type.Object(
    { to: Type.String({ format: 'email', maxLength: 320, description: 'Recipient address' }) },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, { to }) {
    const started = performance.now();
    try {
      const delivery = await context.mailer.send({
        to,
        subject: 'Shipshape test message',
        text: `This message tests Shipshape's mail configuration. Sent by job ${context.job.id} at ${new Date().toISOString()}.`,
      });
      return {
        transport: context.mailer.kind,
        to,
        messageId: delivery.messageId,
        response: delivery.response,
        accepted: delivery.accepted,
        rejected: delivery.rejected,
        ms: Math.round(performance.now() - started),
      };
    } catch (error) {
      // A failed test is the result the operator asked for, so retrying would only delay it.
      const message = error instanceof Error ? error.message : String(error);
      throw new UnrecoverableError(`Test message to ${to} failed after ${Math.round(performance.now() - started)} ms: ${message}`);
    }
  },
});
