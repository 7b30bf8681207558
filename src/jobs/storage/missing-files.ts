import { CategoryReport } from './cleanup-report.js';
import type { CleanupScope } from './cleanup-scope.js';
import { fileState, resolveInside, UnsafePathError } from './storage-paths.js';

export interface MissingFilesReport {
  uploads: CategoryReport;
  certificates: CategoryReport;
}

interface FileRow {
  id: number;
  path: string;
}

/**
 * Lists the `uploads` and `certificates` rows whose file is gone. It only
 * reports: the rows stay, because a missing file may be a storage fault that
 * a restore repairs. A path that is a symlink or leaves STORAGE_DIR is
 * reported as a failure of its row.
 */
export async function findMissingFiles(scope: CleanupScope): Promise<MissingFilesReport> {
  const uploads = await checkRows(scope, async (afterId) =>
    scope.db.selectFrom('uploads').select(['id', 'path']).where('id', '>', afterId).orderBy('id').limit(scope.batchSize).execute(),
  );
  const certificates = await checkRows(scope, async (afterId) =>
    scope.db
      .selectFrom('certificates')
      .select(['id', 'file_path as path'])
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(scope.batchSize)
      .execute(),
  );
  return { uploads, certificates };
}

async function checkRows(scope: CleanupScope, nextBatch: (afterId: number) => Promise<FileRow[]>): Promise<CategoryReport> {
  const report = new CategoryReport();
  let afterId = 0;
  for (;;) {
    scope.signal.throwIfAborted();
    const rows = await nextBatch(afterId);
    for (const row of rows) {
      const label = `#${row.id} ${row.path}`;
      try {
        const state = await fileState(await resolveInside(scope.storageRoot, row.path));
        if (state.kind === 'missing') report.add(label, 0, 0);
        else if (state.kind === 'not-a-file') report.fail(label, new UnsafePathError(`the path is ${state.what}`));
      } catch (error) {
        report.fail(label, error);
      }
    }
    if (rows.length < scope.batchSize) return report;
    afterId = rows[rows.length - 1]!.id;
  }
}
