import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { MaintenanceLog } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import { StringEnum } from '../../schemas.js';
import { keysetPage } from '../pagination.js';

const MaintenanceLogEntry = Type.Object({
  id: Type.Integer(),
  type: Type.String(),
  action: Type.String(),
  performedBy: Type.String(),
  duration: Type.String({ description: 'Postgres interval text, for example 00:00:01.52' }),
  result: Type.String(),
  notes: Type.Union([Type.String(), Type.Null()]),
  jobName: Type.String(),
  jobId: Type.String(),
  queue: Type.String(),
  attempt: Type.Integer(),
  summary: Type.Unknown(),
  createdAt: Type.String(),
});

const toApi = (row: MaintenanceLog) => ({
  id: row.id,
  type: row.type,
  action: row.action,
  performedBy: row.performed_by,
  duration: row.duration,
  result: row.result,
  notes: row.notes,
  jobName: row.job_name,
  jobId: row.job_id,
  queue: row.queue,
  attempt: row.attempt,
  summary: row.summary ?? null,
  createdAt: row.created_at.toISOString(),
});

export const maintenanceLogRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/maintenance-logs',
    {
      schema: {
        summary: 'List maintenance log rows, newest first',
        tags: ['maintenance-logs'],
        querystring: Type.Object(
          {
            type: Type.Optional(StringEnum(['routine', 'scheduled', 'emergency'])),
            result: Type.Optional(StringEnum(['success', 'failure'])),
            job: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Job name' })),
            performedBy: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            from: Type.Optional(Type.String({ format: 'date-time', maxLength: 64, description: 'Rows created at or after this instant' })),
            to: Type.Optional(Type.String({ format: 'date-time', maxLength: 64, description: 'Rows created before this instant' })),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "Rows with an id below this one (the previous page's nextBefore)" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(MaintenanceLogEntry), nextBefore: Type.Union([Type.Integer(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const { type, result, job, performedBy, from, to, limit, before } = request.query;
      if (from && to && new Date(from) >= new Date(to)) {
        throw new ApiError('VALIDATION_FAILED', `querystring.from (${from}) must be earlier than querystring.to (${to})`);
      }

      let query = app.db.selectFrom('maintenance_logs').selectAll().orderBy('id', 'desc').limit(limit + 1);
      if (type) query = query.where('type', '=', type);
      if (result) query = query.where('result', '=', result);
      if (job) query = query.where('job_name', '=', job);
      if (performedBy) query = query.where('performed_by', '=', performedBy);
      if (from) query = query.where('created_at', '>=', new Date(from));
      if (to) query = query.where('created_at', '<', new Date(to));
      if (before) query = query.where('id', '<', before);
      const rows = await query.execute();

      return keysetPage(rows, limit, toApi);
    },
  );
};
