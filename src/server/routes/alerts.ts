import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AlertRow } from '../../db/schema.js';
import { acknowledgeAlert, raiseAlert, resolveAlert, type AlertTransition } from '../../jobs/alerts/alerts.js';
import { ApiError } from '../errors.js';
import { RowId, StringEnum } from '../../schemas.js';
import { keysetPage } from '../pagination.js';

const Severity = StringEnum(['critical', 'high', 'medium', 'low']);
const Status = StringEnum(['open', 'acknowledged', 'resolved']);
const Actor = Type.Object(
  { by: Type.String({ minLength: 1, maxLength: 200, description: 'Who acts, for example an email address' }) },
  { additionalProperties: false },
);

const Alert = Type.Object({
  id: Type.Integer(),
  severity: Type.String(),
  source: Type.String(),
  key: Type.String(),
  message: Type.String(),
  details: Type.Unknown(),
  status: Type.String(),
  occurrences: Type.Integer(),
  firstSeenAt: Type.String(),
  lastSeenAt: Type.String(),
  notifiedAt: Type.Union([Type.String(), Type.Null()]),
  acknowledgedAt: Type.Union([Type.String(), Type.Null()]),
  acknowledgedBy: Type.Union([Type.String(), Type.Null()]),
  resolvedAt: Type.Union([Type.String(), Type.Null()]),
  resolvedBy: Type.Union([Type.String(), Type.Null()]),
  escalationLevel: Type.Integer(),
});

const iso = (value: Date | null) => value?.toISOString() ?? null;

const toApi = (row: AlertRow) => ({
  id: row.id,
  severity: row.severity,
  source: row.source,
  key: row.dedup_key,
  message: row.message,
  details: row.details ?? null,
  status: row.status,
  occurrences: row.occurrences,
  firstSeenAt: row.first_seen_at.toISOString(),
  lastSeenAt: row.last_seen_at.toISOString(),
  notifiedAt: iso(row.notified_at),
  acknowledgedAt: iso(row.acknowledged_at),
  acknowledgedBy: row.acknowledged_by,
  resolvedAt: iso(row.resolved_at),
  resolvedBy: row.resolved_by,
  escalationLevel: row.escalation_level,
});

function unwrap(id: number, transition: AlertTransition, rule: string) {
  if (transition.outcome === 'not-found') throw new ApiError('ALERT_NOT_FOUND', `Alert ${id} does not exist`);
  if (transition.outcome === 'conflict') {
    throw new ApiError('ALERT_STATE_CONFLICT', `Alert ${id} is ${transition.alert.status}; ${rule}`);
  }
  return toApi(transition.alert);
}

export const alertRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const deps = () => ({ db: app.db, emailQueue: app.queues.email, config: app.config, logger: app.log });

  app.get(
    '/api/alerts',
    {
      schema: {
        summary: 'List alerts, newest first',
        tags: ['alerts'],
        querystring: Type.Object(
          {
            status: Type.Optional(Status),
            severity: Type.Optional(Severity),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "Return alerts with an id below this one (the previous page's nextBefore)" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Alert), nextBefore: Type.Union([Type.Integer(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const { status, severity, limit, before } = request.query;
      let query = app.db.selectFrom('alerts').selectAll().orderBy('id', 'desc').limit(limit + 1);
      if (status) query = query.where('status', '=', status);
      if (severity) query = query.where('severity', '=', severity);
      if (before) query = query.where('id', '<', before);
      const rows = await query.execute();

      return keysetPage(rows, limit, toApi);
    },
  );

  app.post(
    '/api/alerts',
    {
      // No Redis check: the alert and its email are stored in Postgres first, and
      // process-email-queue sends an email whose job could not be enqueued.
      config: { role: 'operator' },
      schema: {
        summary: 'Raise an alert, or count a repeat of an unresolved one with the same key',
        tags: ['alerts'],
        body: Type.Object(
          {
            severity: Severity,
            source: Type.String({ minLength: 1, maxLength: 100 }),
            key: Type.String({ minLength: 1, maxLength: 200 }),
            message: Type.String({ minLength: 1, maxLength: 1000 }),
            details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ created: Type.Boolean(), alert: Alert }) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const raised = await raiseAlert(deps(), {
        severity: body.severity,
        source: body.source,
        key: body.key,
        message: body.message,
        details: body.details,
      });
      return reply.code(201).send({ created: raised.created, alert: toApi(raised.alert) });
    },
  );

  app.post(
    '/api/alerts/:id/ack',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Acknowledge an open alert, which stops its escalation',
        tags: ['alerts'],
        params: Type.Object({ id: RowId }),
        body: Actor,
        response: { 200: Alert },
      },
    },
    async (request) => unwrap(request.params.id, await acknowledgeAlert(app.db, request.params.id, request.body.by), 'only an open alert can be acknowledged'),
  );

  app.post(
    '/api/alerts/:id/resolve',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Resolve an alert; critical and high ones that were emailed get one "resolved" email',
        tags: ['alerts'],
        params: Type.Object({ id: RowId }),
        body: Actor,
        response: { 200: Alert },
      },
    },
    async (request) => unwrap(request.params.id, await resolveAlert(deps(), request.params.id, request.body.by), 'it cannot be resolved again'),
  );
};
