import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { archiveCertificates } from './certificate-archive.js';
import { CategoryReport } from './cleanup-report.js';
import type { CleanupScope } from './cleanup-scope.js';
import { compressLogs } from './log-compression.js';
import { findMissingFiles } from './missing-files.js';
import { removeOrphanedUploads } from './orphaned-uploads.js';
import { removeTempFiles } from './temp-files.js';

// Paths looked up in one query; the database batch size applies to row scans.
const MAX_PATHS_PER_LOOKUP = 1000;

const hours = (description: string) => Type.Optional(Type.Integer({ minimum: 1, maximum: 87_600, description }));
const days = (description: string) => Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500, description }));

/**
 * The weekly storage cleanup: temporary files, orphaned uploads, a report of
 * rows whose file is gone, old certificates moved to the archive, and old log
 * files gzipped. Every step is safe to kill and run again.
 */
export const storageCleanup = defineJob({
  name: 'storage-cleanup',
  queue: 'maintenance',
  description: 'Remove temporary files and orphaned uploads, archive old certificates, compress old logs',
  payload: Type.Object(
    {
      dryRun: Type.Optional(Type.Boolean({ description: 'List what would change and change nothing' })),
      tempMaxAgeHours: hours('Age after which temporary files are deleted; default STORAGE_TEMP_MAX_AGE_HOURS'),
      orphanGraceHours: hours('Age after which unreferenced uploads are deleted; default STORAGE_ORPHAN_GRACE_HOURS'),
      certificateRetentionDays: days('Age after which certificates move to the archive; default CERTIFICATE_RETENTION_DAYS'),
      logCompressAfterDays: days('Age after which log files are gzipped; default LOG_COMPRESS_AFTER_DAYS'),
    },
    { additionalProperties: false },
  ),
  role: 'admin',
  destructive: true,
  kind: 'maintenance',
  async run(context, payload) {
    const { config } = context;
    const dryRun = payload.dryRun ?? false;
    const settings = {
      tempMaxAgeHours: payload.tempMaxAgeHours ?? config.STORAGE_TEMP_MAX_AGE_HOURS,
      orphanGraceHours: payload.orphanGraceHours ?? config.STORAGE_ORPHAN_GRACE_HOURS,
      certificateRetentionDays: payload.certificateRetentionDays ?? config.CERTIFICATE_RETENTION_DAYS,
      logCompressAfterDays: payload.logCompressAfterDays ?? config.LOG_COMPRESS_AFTER_DAYS,
    };

    const base = {
      db: context.db,
      dryRun,
      now: Date.now(),
      batchSize: Math.min(config.CLEANUP_BATCH_SIZE, MAX_PATHS_PER_LOOKUP),
      signal: context.signal,
    };
    const storageRoot = await realpathOrNull(config.STORAGE_DIR);
    if (!storageRoot) context.logger.warn({ storageDir: config.STORAGE_DIR }, 'storage folder does not exist; only logs are compressed');
    const storageScope: CleanupScope = { ...base, storageRoot: storageRoot ?? '', symlinks: new CategoryReport() };
    const storage = storageRoot ? await cleanStorage(storageScope, settings, context.progress) : emptyStorageReport();

    // Logs live outside STORAGE_DIR; the log folder is the root of their walk.
    const logScope: CleanupScope = { ...base, storageRoot: '', symlinks: new CategoryReport() };
    const compressedLogs = await compressLogs(logScope, config.LOG_DIR, settings.logCompressAfterDays);

    const summary = {
      dryRun,
      storageDir: storageRoot ?? path.resolve(config.STORAGE_DIR),
      storageDirFound: storageRoot !== null,
      logDir: path.resolve(config.LOG_DIR),
      ...settings,
      tempFiles: storage.tempFiles.toJSON(),
      orphanedUploads: storage.orphanedUploads.toJSON(),
      missingFiles: { uploads: storage.missing.uploads.toJSON(), certificates: storage.missing.certificates.toJSON() },
      archivedCertificates: storage.certificates.archived.toJSON(),
      finishedCertificateMoves: storage.certificates.finished.toJSON(),
      compressedLogs: compressedLogs.toJSON(),
      skippedSymlinks: { storage: storageScope.symlinks.toJSON(), logs: logScope.symlinks.toJSON() },
    };
    context.logger.info(
      {
        dryRun,
        tempFiles: storage.tempFiles.files,
        orphanedUploads: storage.orphanedUploads.files,
        missingFiles: storage.missing.uploads.files + storage.missing.certificates.files,
        archivedCertificates: storage.certificates.archived.files,
        compressedLogs: compressedLogs.files,
      },
      'storage cleanup finished',
    );
    const failures = Object.entries(summary).flatMap(([category, value]) => failuresOf(category, value));
    if (failures.length > 0) context.logger.warn({ failures }, 'storage cleanup left files alone after errors; see the summary');
    return summary;
  },
});

interface Settings {
  tempMaxAgeHours: number;
  orphanGraceHours: number;
  certificateRetentionDays: number;
}

/** Runs the steps inside STORAGE_DIR, in an order where no step depends on a later one. */
async function cleanStorage(scope: CleanupScope, settings: Settings, progress: (value: number) => Promise<void>) {
  const tempFiles = await removeTempFiles(scope, settings.tempMaxAgeHours);
  await progress(20);
  const orphanedUploads = await removeOrphanedUploads(scope, settings.orphanGraceHours);
  await progress(40);
  const missing = await findMissingFiles(scope);
  await progress(60);
  const certificates = await archiveCertificates(scope, settings.certificateRetentionDays);
  await progress(80);
  return { tempFiles, orphanedUploads, missing, certificates };
}

function emptyStorageReport(): Awaited<ReturnType<typeof cleanStorage>> {
  const empty = () => new CategoryReport();
  return {
    tempFiles: empty(),
    orphanedUploads: empty(),
    missing: { uploads: empty(), certificates: empty() },
    certificates: { archived: empty(), finished: empty() },
  };
}

/** Lists the categories of a summary part that recorded failures, with their first error. */
function failuresOf(category: string, value: unknown): { category: string; failed: number; firstError: string | undefined }[] {
  if (value instanceof Object && 'failed' in value && 'errors' in value) {
    const report = value as { failed: number; errors: string[] };
    return report.failed > 0 ? [{ category, failed: report.failed, firstError: report.errors[0] }] : [];
  }
  if (value instanceof Object && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([name, inner]) => failuresOf(`${category}.${name}`, inner));
  }
  return [];
}

async function realpathOrNull(folder: string): Promise<string | null> {
  try {
    return await realpath(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
