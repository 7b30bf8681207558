import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ReportRow } from '../../db/schema.js';
import { RowId } from '../../schemas.js';
import { ApiError } from '../errors.js';
import { keysetPage } from '../pagination.js';

const ReportMetadata = {
  id: Type.Integer(),
  kind: Type.String(),
  title: Type.String(),
  periodStart: Type.String(),
  periodEnd: Type.String(),
  emailId: Type.Union([Type.Integer(), Type.Null()]),
  jobId: Type.Union([Type.String(), Type.Null()]),
  createdBy: Type.String(),
  createdAt: Type.String(),
};
const ReportListEntry = Type.Object(ReportMetadata);
const Report = Type.Object({ ...ReportMetadata, summary: Type.Unknown(), text: Type.String({ description: 'The plain-text report' }) });

const metadata = (row: Omit<ReportRow, 'body' | 'summary'>) => ({
  id: row.id,
  kind: row.kind,
  title: row.title,
  periodStart: row.period_start.toISOString(),
  periodEnd: row.period_end.toISOString(),
  emailId: row.email_id,
  jobId: row.job_id,
  createdBy: row.created_by,
  createdAt: row.created_at.toISOString(),
});

const METADATA_COLUMNS = ['id', 'kind', 'title', 'period_start', 'period_end', 'email_id', 'job_id', 'created_by', 'created_at'] as const;

export const reportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/reports',
    {
      schema: {
        summary: 'List stored reports, newest first, without their text',
        tags: ['reports'],
        querystring: Type.Object(
          {
            kind: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Report kind, for example weekly' })),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "Reports with an id below this one (the previous page's nextBefore)" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(ReportListEntry), nextBefore: Type.Union([Type.Integer(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const { kind, limit, before } = request.query;
      let query = app.db.selectFrom('reports').select(METADATA_COLUMNS).orderBy('id', 'desc').limit(limit + 1);
      if (kind) query = query.where('kind', '=', kind);
      if (before) query = query.where('id', '<', before);
      const rows = await query.execute();

      return keysetPage(rows, limit, metadata);
    },
  );

  app.get(
    '/api/reports/:id',
    {
      schema: {
        summary: 'Show one report: its text and metadata',
        tags: ['reports'],
        params: Type.Object({ id: RowId }),
        response: { 200: Report },
      },
    },
    async (request) => {
      const { id } = request.params;
      const row = await app.db.selectFrom('reports').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new ApiError('REPORT_NOT_FOUND', `Report ${id} does not exist; GET /api/reports lists the stored reports`);
      return { ...metadata(row), summary: row.summary ?? null, text: row.body };
    },
  );
};
