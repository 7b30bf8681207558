import { Type } from '@sinclair/typebox';
import { UnrecoverableError } from 'bullmq';
import type { Db } from '../../db/database.js';
import type { BackupRow } from '../../db/schema.js';
import { defineJob, type JobContext } from '../contract.js';
import { raiseBackupAlert } from './backup-alerts.js';
import { restoreIntoScratch } from './scratch-restore.js';

/** Loads the completed backup named by `backupId`, or the newest completed one. */
export async function findCompletedBackup(db: Db, backupId?: number): Promise<BackupRow> {
  let query = db.selectFrom('backups').selectAll().where('status', '=', 'completed');
  query = backupId === undefined ? query.orderBy('started_at', 'desc').orderBy('id', 'desc') : query.where('id', '=', backupId);
  const row = await query.executeTakeFirst();
  if (row) return row;
  throw new UnrecoverableError(
    backupId === undefined ? 'No completed backup exists; run backup-database first' : `Backup ${backupId} does not exist or did not complete`,
  );
}

/**
 * Restores a backup into a scratch database, compares the row counts with the
 * ones recorded at dump time, records the outcome on the backup row and drops
 * the scratch database. A mismatch or a failed restore raises a high alert
 * and fails the run without retries.
 */
export async function testRestoreBackup(context: JobContext, backup: BackupRow) {
  const { db } = context;
  try {
    const report = await restoreIntoScratch(context.config, backup, context.logger, context.signal);
    if (report.mismatches.length > 0) {
      const detail = report.mismatches.map((item) => `${item.table} ${item.restored ?? 'missing'} of ${item.expected}`).join(', ');
      throw new Error(`row counts differ after restore: ${detail}`);
    }
    await db
      .updateTable('backups')
      .set({ restore_test_status: 'passed', restore_tested_at: new Date(), restore_test_ms: report.restoreMs, restore_test_error: null })
      .where('id', '=', backup.id)
      .execute();
    await context.log(`backup ${backup.id} restored into ${report.scratchDatabase} in ${report.restoreMs} ms; counts match`);
    return { backupId: backup.id, file: backup.file, restoreMs: report.restoreMs, rowCounts: report.restored, countsMatch: true };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    await db
      .updateTable('backups')
      .set({ restore_test_status: 'failed', restore_tested_at: new Date(), restore_test_error: reason })
      .where('id', '=', backup.id)
      .execute();
    await raiseBackupAlert(context, 'restore', backup.id, `Test restore of backup ${backup.id} (${backup.file}) failed: ${reason}`);
    // A finding about the backup, already alerted: retrying the same file would only repeat it.
    throw new UnrecoverableError(`Test restore of backup ${backup.id} failed: ${reason}`);
  }
}

export const testRestore = defineJob({
  name: 'test-restore',
  queue: 'backups',
  description: 'Restore a backup into a scratch database, compare row counts with the dump, drop the scratch database',
  payload: Type.Object(
    {
      backupId: Type.Optional(
        Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Backup to restore; default the newest completed one' }),
      ),
    },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const backup = await findCompletedBackup(context.db, payload.backupId);
    return testRestoreBackup(context, backup);
  },
});
