import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { BackupKind, BackupRow } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import { backupPath, PARTIAL_SUFFIX, removeIfPresent } from './backup-files.js';

/** Error recorded on a `running` row whose process stopped before finishing. */
export const INTERRUPTED_ERROR = 'interrupted: the backup process stopped before it finished; its files were removed';

/**
 * Marks every `running` row failed and removes its partial file, and its final
 * file if the process died between the rename and the status update. Call
 * only while holding the backup lock: then no row is running for real.
 * Only files named by these rows are touched.
 */
export async function failStaleBackups(db: Db, config: Config, logger: Pick<Logger, 'warn'>): Promise<number[]> {
  const stale = await db.selectFrom('backups').select(['id', 'file']).where('status', '=', 'running').execute();
  for (const row of stale) {
    await removeIfPresent(backupPath(config, row.file + PARTIAL_SUFFIX));
    await removeIfPresent(backupPath(config, row.file));
    await db
      .updateTable('backups')
      .set({ status: 'failed', error: INTERRUPTED_ERROR, finished_at: new Date() })
      .where('id', '=', row.id)
      .where('status', '=', 'running')
      .execute();
    logger.warn({ backupId: row.id, file: row.file }, 'stale running backup marked failed');
  }
  return stale.map((row) => row.id);
}

/** Groups of kinds that share one retention count. */
function retentionGroups(config: Config): { kinds: BackupKind[]; keep: number }[] {
  return [
    { kinds: ['daily', 'manual'], keep: config.BACKUP_KEEP_DAILY },
    { kinds: ['monthly'], keep: config.BACKUP_KEEP_MONTHLY },
    { kinds: ['pre-restore'], keep: config.BACKUP_KEEP_DAILY },
  ];
}

async function removeBackup(db: Db, config: Config, row: Pick<BackupRow, 'id' | 'file' | 'bundle'>): Promise<void> {
  // Files first: a crash between the two leaves a row whose file is missing,
  // which verify-backup reports, never a file that no row refers to.
  await removeIfPresent(backupPath(config, row.file + PARTIAL_SUFFIX));
  await removeIfPresent(backupPath(config, row.file));
  if (row.bundle) {
    await removeIfPresent(backupPath(config, row.bundle + PARTIAL_SUFFIX));
    await removeIfPresent(backupPath(config, row.bundle));
  }
  await db.deleteFrom('backups').where('id', '=', row.id).execute();
}

/** Checks whether a backup failed, or completed but failed its verification or restore test. */
function isKnownBad(row: Pick<BackupRow, 'status' | 'verification_status' | 'restore_test_status'>): boolean {
  return row.status === 'failed' || row.verification_status === 'failed' || row.restore_test_status === 'failed';
}

export interface RetentionReport {
  removed: { id: number; file: string; kind: BackupKind; status: string }[];
  /** The newest verified backup, which retention never removes. */
  keptVerifiedId: number | null;
}

/**
 * Keeps the newest BACKUP_KEEP_DAILY good daily and manual backups, the
 * newest BACKUP_KEEP_MONTHLY good monthly ones and the newest
 * BACKUP_KEEP_DAILY good pre-restore ones, and removes older ones (file,
 * full-backup folder, row). A backup is good unless it failed or failed its
 * verification or restore test. Bad rows older than the oldest kept backup
 * of their group go too. The newest backup whose verification passed is
 * never removed.
 */
export async function applyRetention(db: Db, config: Config): Promise<RetentionReport> {
  const verified = await db
    .selectFrom('backups')
    .select('id')
    .where('status', '=', 'completed')
    .where('verification_status', '=', 'passed')
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  const protectedId = verified?.id ?? null;
  const report: RetentionReport = { removed: [], keptVerifiedId: protectedId };

  for (const group of retentionGroups(config)) {
    const rows = await db
      .selectFrom('backups')
      .select(['id', 'file', 'bundle', 'kind', 'status', 'started_at', 'verification_status', 'restore_test_status'])
      .where('kind', 'in', group.kinds)
      .where('status', '<>', 'running')
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    const good = rows.filter((row) => !isKnownBad(row));
    const kept = good.slice(0, group.keep);
    const oldestKept = kept[kept.length - 1]?.started_at;

    // Known-bad rows are removed first, once a newer good backup exists, and never take a keep slot.
    const expired = [
      ...rows.filter((row) => isKnownBad(row) && oldestKept !== undefined && row.started_at < oldestKept),
      ...good.slice(group.keep),
    ].filter((row) => row.id !== protectedId);
    for (const row of expired) {
      await removeBackup(db, config, row);
      report.removed.push({ id: row.id, file: row.file, kind: row.kind, status: row.status });
    }
  }
  return report;
}
