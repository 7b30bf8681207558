import { Type } from '@sinclair/typebox';
import { UnrecoverableError } from 'bullmq';
import type { BackupRow } from '../../db/schema.js';
import { defineJob, type JobContext, type PayloadEnvironment } from '../contract.js';
import { readonlyMode } from '../emergency/readonly-mode.js';
import { describeBackup } from './backup-alerts.js';
import { createBackup } from './create-backup.js';
import { planRestore, restoreOverLive } from './live-restore.js';
import { currentMigration, SHIPSHAPE_TABLES } from './platform-tables.js';
import { databaseName } from './pg-tools.js';
import { endOtherSessions } from './other-sessions.js';
import { claimRestoreStart } from './restore-once.js';
import { checkBackupIntegrity } from './verify.js';

/** Rejects a restore whose `confirm` is not the name of the database it would overwrite. */
function validateConfirmation(payload: { confirm?: string; dryRun?: boolean }, environment?: PayloadEnvironment): string[] {
  // The registry's start-up check of calendar payloads has no configuration; the API and the worker do.
  if (!environment || payload.dryRun === true) return [];
  const expected = databaseName(environment.config.DATABASE_URL);
  if (payload.confirm === undefined) {
    return ['data.confirm is missing: set it to the name of the database to overwrite (the database of DATABASE_URL), or send dryRun: true'];
  }
  if (payload.confirm !== expected) {
    return [`data.confirm ${JSON.stringify(payload.confirm)} is not the name of the database to overwrite; set it to the database of DATABASE_URL`];
  }
  return [];
}

async function loadRestorableBackup(context: JobContext, backupId: number): Promise<BackupRow> {
  const backup = await context.db.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirst();
  if (!backup) throw new UnrecoverableError(`Backup ${backupId} does not exist; GET /api/backups lists the backups`);
  if (backup.status !== 'completed') throw new UnrecoverableError(`Backup ${backupId} is ${backup.status}, not completed; choose a completed backup`);

  const migration = await currentMigration(context.db);
  if (backup.schema_migration !== migration) {
    throw new UnrecoverableError(
      `Backup ${backupId} was taken at migration ${backup.schema_migration ?? '(none)'} but the database is at ${migration ?? '(none)'}: ` +
        'its rows do not fit the current schema; restore it into a scratch database with test-restore instead',
    );
  }
  return backup;
}

async function isReadOnly(context: JobContext): Promise<boolean> {
  const settings = await context.db.selectFrom('platform_settings').select('read_only').executeTakeFirstOrThrow();
  return settings.read_only;
}

/** Wraps a failure after the restore started, so BullMQ does not retry it: a restore runs once per request. */
function noRetry(error: unknown): UnrecoverableError {
  if (error instanceof UnrecoverableError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new UnrecoverableError(`${reason} (a restore is not retried; request a new restore-db job if one is still needed)`);
}

/**
 * Restores a backup over the configured database (see live-restore.ts for
 * what is replaced and what is kept). First it checks the backup (completed,
 * same migration, file, checksum and archive readable) and records the start
 * in Redis (restore-once.ts). Then it turns read-only mode on unless it
 * already is, ends the other sessions of the database, takes a pre-restore
 * backup and restores in one transaction. Last it turns read-only mode off
 * again, only if this job turned it on. Read-only mode applies only to new connections, so ending the other
 * sessions (other-sessions.ts) is what keeps a write from landing between the
 * pre-restore backup and the restore. A failure after the start is not retried.
 */
export const restoreDb = defineJob({
  name: 'restore-db',
  queue: 'backups',
  description: "Restore a backup over the database's platform tables, after a pre-restore backup, in read-only mode",
  payload: Type.Object(
    {
      backupId: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Backup to restore (GET /api/backups)' }),
      confirm: Type.Optional(Type.String({ maxLength: 200, description: 'Name of the database to overwrite, as a confirmation' })),
      dryRun: Type.Optional(Type.Boolean({ description: 'Check the backup and report what would be replaced; change nothing' })),
    },
    { additionalProperties: false },
  ),
  validate: validateConfirmation,
  role: 'admin',
  destructive: true,
  kind: 'emergency',
  async run(context, payload) {
    const { db, config } = context;
    const backup = await loadRestorableBackup(context, payload.backupId);
    // The size check of verify-backup is left out: a good backup may differ in size from the earlier ones.
    await checkBackupIntegrity(config, backup, context.signal).catch((error: unknown) => {
      const reason = error instanceof Error ? error.message : String(error);
      throw new UnrecoverableError(`Backup ${backup.id} failed its checks, so it is not restored: ${reason}`);
    });
    const plan = await planRestore(db, config, backup, context.signal);
    const base = { database: databaseName(config.DATABASE_URL), backup: describeBackup(backup), tables: plan.tables, keptTables: [...SHIPSHAPE_TABLES] };
    if (payload.dryRun) return { dryRun: true, ...base };

    const record = await claimRestoreStart(context, backup.id);
    let turnedReadOnlyOn = false;
    let summary;
    try {
      turnedReadOnlyOn = !(await isReadOnly(context));
      if (turnedReadOnlyOn) {
        // Recorded first: a crash right after turning it on still leaves a record that it must be turned off.
        await record.update('read-only-on', true);
        await readonlyMode.run(context, { on: true });
      }
      const sessionsEnded = await endOtherSessions(db);
      await context.log(`ended ${sessionsEnded} other sessions of the database`);

      const preRestore = await createBackup(
        { db, config, logger: context.logger, signal: context.signal, requestedBy: context.job.requestedBy, jobId: context.job.id, log: context.log },
        'pre-restore',
      );
      await context.log(`pre-restore backup ${preRestore.backup.id} written; restoring backup ${backup.id}`);

      const readOnlyDuringRestore = await isReadOnly(context);
      const restoreMs = await restoreOverLive(config, backup, plan, { signal: context.signal });
      await context.log(`backup ${backup.id} restored in ${restoreMs} ms`);
      summary = {
        dryRun: false,
        ...base,
        preRestoreBackup: describeBackup(preRestore.backup),
        restoreMs,
        readOnlyDuringRestore,
        turnedReadOnlyOn,
        sessionsEnded,
      };
    } catch (error) {
      // The restore's own error matters more than a failure to make the database writable again.
      if (turnedReadOnlyOn) {
        await readonlyMode.run(context, { off: true }).catch((offError: unknown) => {
          context.logger.error({ err: offError }, 'turning read-only mode off failed; run readonly-mode with off');
        });
      }
      await record.update('finished', false).catch((recordError: unknown) => {
        context.logger.error({ err: recordError, jobId: context.job.id }, 'recording the end of the restore failed');
      });
      throw noRetry(error);
    }
    try {
      if (turnedReadOnlyOn) await readonlyMode.run(context, { off: true });
    } catch (error) {
      // A retry of this job turns read-only mode off without restoring again.
      await record.update('finished', true);
      throw error;
    }
    await record.update('finished', false);
    return summary;
  },
});
