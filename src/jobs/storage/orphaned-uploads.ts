import { unlink } from 'node:fs/promises';
import { CategoryReport } from './cleanup-report.js';
import { cutoff, storageFolder, walkInScope, type CleanupScope } from './cleanup-scope.js';
import { STORAGE_FOLDERS, toRelative } from './storage-paths.js';
import { inChunks } from './walk-files.js';

/**
 * Deletes the files under STORAGE_DIR/uploads that no `uploads` row points at
 * and that were last modified more than `graceHours` ago. The grace period
 * covers the platform's own order of work: it writes the file first and
 * inserts the row after, so a fresh file without a row is an upload in progress.
 */
export async function removeOrphanedUploads(scope: CleanupScope, graceHours: number): Promise<CategoryReport> {
  const report = new CategoryReport();
  const folder = await storageFolder(scope, STORAGE_FOLDERS.uploads, report);
  if (folder === null) return report;
  const before = cutoff(scope, graceHours, 'hours');

  const oldFiles = filterOld(walkInScope(scope, scope.storageRoot, folder), before);
  for await (const chunk of inChunks(oldFiles, scope.batchSize)) {
    const relativePaths = chunk.map((file) => toRelative(scope.storageRoot, file.absolute));
    const referenced = await scope.db.selectFrom('uploads').select('path').where('path', 'in', relativePaths).execute();
    const kept = new Set(referenced.map((row) => row.path));

    for (const [index, file] of chunk.entries()) {
      const relative = relativePaths[index]!;
      if (kept.has(relative)) continue;
      try {
        if (!scope.dryRun) await unlink(file.absolute);
        report.add(relative, file.size, file.size);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') report.fail(relative, error);
      }
    }
  }
  return report;
}

async function* filterOld<T extends { mtimeMs: number }>(source: AsyncIterable<T>, before: number): AsyncGenerator<T> {
  for await (const item of source) if (item.mtimeMs < before) yield item;
}
