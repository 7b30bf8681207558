import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { BackupRow } from '../../db/schema.js';
import { ApiError } from '../errors.js';
import { RowId, StringEnum } from '../../schemas.js';
import { keysetPage } from '../pagination.js';

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);
const NullableInteger = Type.Union([Type.Integer(), Type.Null()]);
const CheckStatus = Type.Union([Type.String({ description: 'passed or failed' }), Type.Null()]);

const Backup = Type.Object({
  id: Type.Integer(),
  kind: Type.String({ description: 'daily, manual, monthly or pre-restore' }),
  status: Type.String({ description: 'running, completed or failed' }),
  file: Type.String({ description: 'File name inside BACKUP_DIR' }),
  bundle: Nullable(Type.String({ description: 'Folder of a full backup inside BACKUP_DIR' })),
  sizeBytes: NullableInteger,
  sha256: Nullable(Type.String()),
  database: Type.String(),
  serverVersion: Nullable(Type.String()),
  pgDumpVersion: Nullable(Type.String()),
  schemaMigration: Nullable(Type.String()),
  rowCounts: Type.Union([Type.Record(Type.String(), Type.Integer()), Type.Null()]),
  requestedBy: Type.String(),
  jobId: Nullable(Type.String()),
  startedAt: Type.String(),
  finishedAt: Nullable(Type.String()),
  error: Nullable(Type.String()),
  verification: Type.Object({ status: CheckStatus, at: Nullable(Type.String()), error: Nullable(Type.String()) }),
  restoreTest: Type.Object({ status: CheckStatus, at: Nullable(Type.String()), durationMs: NullableInteger, error: Nullable(Type.String()) }),
});

const iso = (value: Date | null) => value?.toISOString() ?? null;

const toApi = (row: BackupRow) => ({
  id: row.id,
  kind: row.kind,
  status: row.status,
  file: row.file,
  bundle: row.bundle,
  sizeBytes: row.size_bytes,
  sha256: row.sha256,
  database: row.database_name,
  serverVersion: row.server_version,
  pgDumpVersion: row.pg_dump_version,
  schemaMigration: row.schema_migration,
  rowCounts: row.row_counts,
  requestedBy: row.requested_by,
  jobId: row.job_id,
  startedAt: row.started_at.toISOString(),
  finishedAt: iso(row.finished_at),
  error: row.error,
  verification: { status: row.verification_status, at: iso(row.verified_at), error: row.verification_error },
  restoreTest: { status: row.restore_test_status, at: iso(row.restore_tested_at), durationMs: row.restore_test_ms, error: row.restore_test_error },
});

export const backupRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/backups',
    {
      schema: {
        summary: 'List backups, newest first, with their verification and test-restore state',
        tags: ['backups'],
        querystring: Type.Object(
          {
            kind: Type.Optional(StringEnum(['daily', 'manual', 'monthly', 'pre-restore'])),
            status: Type.Optional(StringEnum(['running', 'completed', 'failed'])),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            before: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: "Backups with an id below this one (the previous page's nextBefore)" })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Backup), nextBefore: Type.Union([Type.Integer(), Type.Null()]) }) },
      },
    },
    async (request) => {
      const { kind, status, limit, before } = request.query;
      let query = app.db.selectFrom('backups').selectAll().orderBy('id', 'desc').limit(limit + 1);
      if (kind) query = query.where('kind', '=', kind);
      if (status) query = query.where('status', '=', status);
      if (before) query = query.where('id', '<', before);
      const rows = await query.execute();

      return keysetPage(rows, limit, toApi);
    },
  );

  app.get(
    '/api/backups/:id',
    {
      schema: {
        summary: 'One backup with its verification and test-restore state',
        tags: ['backups'],
        params: Type.Object({ id: RowId }),
        response: { 200: Backup },
      },
    },
    async (request) => {
      const row = await app.db.selectFrom('backups').selectAll().where('id', '=', request.params.id).executeTakeFirst();
      if (!row) throw new ApiError('BACKUP_NOT_FOUND', `Backup ${request.params.id} does not exist; GET /api/backups lists the backups`);
      return toApi(row);
    },
  );
};
