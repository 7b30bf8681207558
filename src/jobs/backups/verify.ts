import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { BackupRow } from '../../db/schema.js';
import { backupPath, fileSize, sha256File } from './backup-files.js';
import { runProgram } from './pg-tools.js';

/*
 * The integrity checks of one backup, in the order verify-backup runs them.
 * Each failure names its check, so an alert and a job failure state what failed.
 */

export type VerificationCheck = 'exists' | 'completed' | 'file' | 'checksum' | 'archive' | 'size';

/** A failed check of a backup; `backupId` is null when no backup was found to check. */
export class VerificationError extends Error {
  override name = 'VerificationError';

  constructor(
    readonly check: VerificationCheck,
    readonly backupId: number | null,
    message: string,
  ) {
    super(message);
  }
}

const RECENT_FOR_SIZE = 5;

/** Returns the median size, which one outlier among recent dumps cannot move far. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Finds the backup to verify: `backupId` when given, else the newest daily or
 * manual backup, which must have started within BACKUP_MAX_AGE_HOURS.
 */
export async function findBackupToVerify(db: Db, config: Config, backupId?: number, now = new Date()): Promise<BackupRow> {
  if (backupId !== undefined) {
    const row = await db.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirst();
    if (!row) throw new VerificationError('exists', backupId, `Backup ${backupId} does not exist`);
    return row;
  }
  const newest = await db
    .selectFrom('backups')
    .selectAll()
    .where('kind', 'in', ['daily', 'manual'])
    .orderBy('started_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  const maxAgeMs = config.BACKUP_MAX_AGE_HOURS * 3_600_000;
  if (!newest || now.getTime() - newest.started_at.getTime() > maxAgeMs) {
    const last = newest ? `the newest, backup ${newest.id}, started ${newest.started_at.toISOString()}` : 'there is none';
    throw new VerificationError('exists', newest?.id ?? null, `No daily or manual backup started in the last ${config.BACKUP_MAX_AGE_HOURS} hours (${last})`);
  }
  return newest;
}

export interface VerificationReport {
  sizeBytes: number;
  archiveEntries: number;
  /** Median size of the recent completed dumps compared with, or null for a first backup. */
  medianSizeBytes: number | null;
  comparedWith: number;
}

export interface IntegrityReport {
  sizeBytes: number;
  archiveEntries: number;
}

/**
 * Checks that `backup` completed, its file exists with the recorded size and
 * SHA-256, and pg_restore can read its table of contents. Throws a
 * VerificationError at the first check that fails.
 */
export async function checkBackupIntegrity(config: Config, backup: BackupRow, signal?: AbortSignal): Promise<IntegrityReport> {
  const label = `Backup ${backup.id} (${backup.file})`;
  if (backup.status !== 'completed') {
    const detail = backup.error ? `: ${backup.error}` : '';
    throw new VerificationError('completed', backup.id, `${label} did not complete; its status is ${backup.status}${detail}`);
  }

  const path = backupPath(config, backup.file);
  const size = await fileSize(path);
  if (size === null) throw new VerificationError('file', backup.id, `${label} is missing: no file at ${path}`);

  if (size !== backup.size_bytes) {
    const change = backup.size_bytes !== null && size < backup.size_bytes ? 'truncated' : 'changed';
    throw new VerificationError('checksum', backup.id, `${label} is ${change}: the file has ${size} bytes, ${backup.size_bytes} were written`);
  }
  const checksum = await sha256File(path, signal);
  if (checksum !== backup.sha256) {
    throw new VerificationError('checksum', backup.id, `${label} fails its checksum: sha256 is ${checksum}, recorded ${backup.sha256}`);
  }

  let listing: string;
  try {
    listing = await runProgram(config, 'pg_restore', ['--list', path], {}, signal);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new VerificationError('archive', backup.id, `${label} cannot be read by pg_restore --list: ${reason}`);
  }
  const archiveEntries = listing.split('\n').filter((line) => /^\d+;/.test(line)).length;
  return { sizeBytes: size, archiveEntries };
}

/**
 * Runs every check on `backup`: the integrity checks, then its size against
 * the recent completed dumps. Throws a VerificationError at the first that fails.
 */
export async function verifyBackupFile(db: Db, config: Config, backup: BackupRow, signal?: AbortSignal): Promise<VerificationReport> {
  const label = `Backup ${backup.id} (${backup.file})`;
  const { sizeBytes: size, archiveEntries } = await checkBackupIntegrity(config, backup, signal);

  const recent = await db
    .selectFrom('backups')
    .select('size_bytes')
    .where('status', '=', 'completed')
    .where('database_name', '=', backup.database_name)
    .where('id', '<>', backup.id)
    .where('started_at', '<', backup.started_at)
    .orderBy('started_at', 'desc')
    .limit(RECENT_FOR_SIZE)
    .execute();
  const sizes = recent.map((row) => row.size_bytes).filter((value): value is number => value !== null);
  const typical = sizes.length > 0 ? median(sizes) : null;
  if (typical !== null) {
    const tolerance = config.BACKUP_SIZE_TOLERANCE;
    const low = typical * Math.max(0, 1 - tolerance);
    const high = typical * (1 + tolerance);
    if (size < low || size > high) {
      throw new VerificationError(
        'size',
        backup.id,
        `${label} is ${size} bytes, outside the expected ${Math.round(low)} to ${Math.round(high)} bytes ` +
          `(median ${Math.round(typical)} of the ${sizes.length} previous dumps, BACKUP_SIZE_TOLERANCE ${tolerance})`,
      );
    }
  }

  return { sizeBytes: size, archiveEntries, medianSizeBytes: typical, comparedWith: sizes.length };
}
