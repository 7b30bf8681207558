import { Type } from '@sinclair/typebox';
import { UnrecoverableError } from 'bullmq';
import type { BackupRow } from '../../db/schema.js';
import { defineJob, type JobContext } from '../contract.js';
import { raiseBackupAlert } from './backup-alerts.js';
import { findBackupToVerify, verifyBackupFile, VerificationError } from './verify.js';

/**
 * Fails the run without recording a verification state on a backup that
 * another worker is still dumping, because the row completes later. A running
 * row older than BACKUP_MAX_AGE_HOURS also raises a high alert, because that
 * dump is stuck or its process died.
 */
async function rejectRunningBackup(context: JobContext, backup: BackupRow): Promise<never> {
  const ageMs = Date.now() - backup.started_at.getTime();
  const message = `Backup ${backup.id} (${backup.file}) is still running, started ${backup.started_at.toISOString()}; verify it once it has completed`;
  if (ageMs > context.config.BACKUP_MAX_AGE_HOURS * 3_600_000) {
    await raiseBackupAlert(context, 'completed', backup.id, `${message}. It has been running longer than BACKUP_MAX_AGE_HOURS (${context.config.BACKUP_MAX_AGE_HOURS})`);
  }
  throw new UnrecoverableError(message);
}

/**
 * The 04:00 check of the night's backup: it exists and completed, the file
 * matches its checksum, pg_restore can read it, and its size is close to the
 * recent dumps'. A failure records itself on the row, raises a high alert
 * naming the backup and the check, and fails the run without retries,
 * because the same file fails the same way again. A backup that is still
 * running fails the run without being marked (rejectRunningBackup).
 */
export const verifyBackup = defineJob({
  name: 'verify-backup',
  queue: 'backups',
  description: "Verify the newest backup: completed, checksum, pg_restore --list, size against recent backups",
  payload: Type.Object(
    { backupId: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Backup to verify; default the newest daily or manual one' })) },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'routine',
  async run(context, payload) {
    const { db, config } = context;
    try {
      const backup = await findBackupToVerify(db, config, payload.backupId);
      if (backup.status === 'running') await rejectRunningBackup(context, backup);
      try {
        const report = await verifyBackupFile(db, config, backup, context.signal);
        await db
          .updateTable('backups')
          .set({ verification_status: 'passed', verified_at: new Date(), verification_error: null })
          .where('id', '=', backup.id)
          .execute();
        await context.log(`backup ${backup.id} verified`);
        return { backupId: backup.id, file: backup.file, verified: true, ...report };
      } catch (error) {
        if (error instanceof VerificationError) {
          await db
            .updateTable('backups')
            .set({ verification_status: 'failed', verified_at: new Date(), verification_error: `${error.check}: ${error.message}` })
            .where('id', '=', backup.id)
            .execute();
        }
        throw error;
      }
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      await raiseBackupAlert(context, error.check, error.backupId, `Backup verification failed (${error.check}): ${error.message}`);
      throw new UnrecoverableError(`Backup verification failed (${error.check}): ${error.message}`);
    }
  },
});
