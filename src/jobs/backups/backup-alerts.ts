import { raiseAlert } from '../alerts/alerts.js';
import type { JobContext } from '../contract.js';

/** Raises a high alert about one backup; the key keeps repeats of the same failure on one alert. */
export async function raiseBackupAlert(
  context: JobContext,
  check: string,
  backupId: number | null,
  message: string,
): Promise<void> {
  try {
    await raiseAlert(
      { db: context.db, emailQueue: context.queues.email, config: context.config, logger: context.logger },
      {
        severity: 'high',
        source: context.job.name,
        key: `${context.job.name}:${backupId ?? 'none'}:${check}`,
        message,
        details: { backupId, check, jobId: context.job.id },
      },
    );
  } catch (error) {
    // The job still fails with the reason; a lost alert must not hide it.
    context.logger.error({ err: error, backupId, check }, 'raising the backup alert failed');
  }
}

/** Converts a backup row to JSON for job summaries. */
export function describeBackup(row: {
  id: number;
  kind: string;
  file: string;
  size_bytes: number | null;
  sha256: string | null;
  row_counts: Record<string, number> | null;
}) {
  return { id: row.id, kind: row.kind, file: row.file, sizeBytes: row.size_bytes, sha256: row.sha256, rowCounts: row.row_counts };
}
