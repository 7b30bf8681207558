import { unlink } from 'node:fs/promises';
import { CategoryReport } from './cleanup-report.js';
import { cutoff, storageFolder, walkInScope, type CleanupScope } from './cleanup-scope.js';
import { STORAGE_FOLDERS, toRelative } from './storage-paths.js';

/** Deletes the regular files under STORAGE_DIR/tmp last modified more than `maxAgeHours` ago. */
export async function removeTempFiles(scope: CleanupScope, maxAgeHours: number): Promise<CategoryReport> {
  const report = new CategoryReport();
  const folder = await storageFolder(scope, STORAGE_FOLDERS.temp, report);
  if (folder === null) return report;
  const before = cutoff(scope, maxAgeHours, 'hours');

  for await (const file of walkInScope(scope, scope.storageRoot, folder)) {
    if (file.mtimeMs >= before) continue;
    const relative = toRelative(scope.storageRoot, file.absolute);
    try {
      if (!scope.dryRun) await unlink(file.absolute);
      report.add(relative, file.size, file.size);
    } catch (error) {
      // Deleted by someone else in the meantime: nothing left to do.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') report.fail(relative, error);
    }
  }
  return report;
}
