import { Type } from '@sinclair/typebox';
import { StringEnum } from '../../schemas.js';
import { defineJob } from '../contract.js';
import { applyRetention } from './backup-records.js';
import { createBackup } from './create-backup.js';

/**
 * The nightly dump: pg_dump in custom format into BACKUP_DIR with its
 * SHA-256, the row counts of the platform tables, then retention.
 */
export const backupDatabase = defineJob({
  name: 'backup-database',
  queue: 'backups',
  description: 'Dump the database with pg_dump into BACKUP_DIR, record checksum and row counts, apply retention',
  payload: Type.Object(
    {
      kind: Type.Optional(
        StringEnum(['daily', 'manual'], { description: 'Retention group; default daily for calendar runs, manual otherwise' }),
      ),
    },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'routine',
  async run(context, payload) {
    const kind = payload.kind ?? (context.job.requestedBy === 'scheduler' ? 'daily' : 'manual');

    const outcome = await createBackup(
      {
        db: context.db,
        config: context.config,
        logger: context.logger,
        signal: context.signal,
        requestedBy: context.job.requestedBy,
        jobId: context.job.id,
        log: context.log,
      },
      kind,
    );
    const retention = await applyRetention(context.db, context.config);
    if (retention.removed.length > 0) await context.log(`retention removed ${retention.removed.length} backups`);

    const { backup } = outcome;
    return {
      backupId: backup.id,
      kind: backup.kind,
      file: backup.file,
      sizeBytes: backup.size_bytes,
      sha256: backup.sha256,
      durationMs: outcome.durationMs,
      rowCounts: backup.row_counts,
      serverVersion: backup.server_version,
      pgDumpVersion: backup.pg_dump_version,
      staleRowsFailed: outcome.staleRowsFailed,
      retentionRemoved: retention.removed,
    };
  },
});
