import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EmailRow } from '../../db/schema.js';
import { insertEmail, scheduleSend, sendJobId, sendJobOptions } from '../../jobs/email/email-queue.js';
import { ApiError } from '../errors.js';
import { RowId, StringEnum } from '../../schemas.js';
import { keysetPage } from '../pagination.js';

const EmailStatus = StringEnum(['pending', 'sending', 'sent', 'failed']);

const Email = Type.Object({
  id: Type.Integer(),
  to: Type.String(),
  subject: Type.String(),
  source: Type.String(),
  status: Type.String(),
  attempts: Type.Integer(),
  lastError: Type.Union([Type.String(), Type.Null()]),
  messageId: Type.Union([Type.String(), Type.Null()]),
  smtpResponse: Type.Union([Type.String(), Type.Null()]),
  sentAt: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  jobId: Type.String({ description: 'The send job in the email queue, as Bull Board shows it' }),
});

const NewEmail = Type.Object(
  {
    to: Type.String({ format: 'email', maxLength: 320 }),
    subject: Type.String({ minLength: 1, maxLength: 998, description: 'One header line: at most 998 characters (RFC 5322)' }),
    text: Type.String({ minLength: 1, maxLength: 1_000_000 }),
    html: Type.Optional(Type.String({ maxLength: 1_000_000 })),
  },
  { additionalProperties: false },
);

const toApi = (row: EmailRow) => ({
  id: row.id,
  to: row.recipient,
  subject: row.subject,
  source: row.source,
  status: row.status,
  attempts: row.attempts,
  lastError: row.last_error,
  messageId: row.message_id,
  smtpResponse: row.smtp_response,
  sentAt: row.sent_at?.toISOString() ?? null,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  jobId: sendJobId(row.id),
});

export const emailRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api/emails',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Queue an email',
        tags: ['emails'],
        body: NewEmail,
        response: { 202: Type.Object({ id: Type.Integer(), status: Type.String(), statusUrl: Type.String(), jobId: Type.String() }) },
      },
    },
    async (request, reply) => {
      const { to, subject, text, html } = request.body;
      const id = await insertEmail(app.db, { to, subject, text, html: html ?? null, source: 'api' });
      try {
        await scheduleSend(app.queues.email, id, 'api', sendJobOptions(app.config));
        request.log.info({ emailId: id, jobId: sendJobId(id) }, 'email queued');
      } catch (error) {
        // The row is committed: a 5xx now would make the client queue the message twice.
        request.log.warn({ err: error, emailId: id }, 'email stays pending: enqueueing its send job failed; process-email-queue sends it');
      }
      return reply.code(202).send({ id, status: 'pending', statusUrl: `${app.config.BASE_PATH}/api/emails/${id}`, jobId: sendJobId(id) });
    },
  );

  app.get(
    '/api/emails',
    {
      schema: {
        summary: 'List emails, newest first',
        tags: ['emails'],
        querystring: Type.Object(
          {
            status: Type.Optional(EmailStatus),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Return emails with an id below this one (the previous page\'s nextBefore)' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Email), nextBefore: Type.Union([Type.Integer(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const { status, limit, before } = request.query;
      let query = app.db.selectFrom('email_queue').selectAll().orderBy('id', 'desc').limit(limit + 1);
      if (status) query = query.where('status', '=', status);
      if (before) query = query.where('id', '<', before);
      const rows = await query.execute();

      return keysetPage(rows, limit, toApi);
    },
  );

  app.get(
    '/api/emails/:id',
    {
      schema: {
        summary: 'Show one email and its delivery state',
        tags: ['emails'],
        params: Type.Object({ id: RowId }),
        response: { 200: Email },
      },
    },
    async (request) => {
      const row = await app.db.selectFrom('email_queue').selectAll().where('id', '=', request.params.id).executeTakeFirst();
      if (!row) throw new ApiError('EMAIL_NOT_FOUND', `Email ${request.params.id} does not exist`);
      return toApi(row);
    },
  );
};
