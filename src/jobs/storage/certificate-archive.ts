import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { CategoryReport } from './cleanup-report.js';
import { cutoff, storageFolder, walkInScope, type CleanupScope } from './cleanup-scope.js';
import { placeSecondName, sameFile } from './same-file.js';
import { archivePathOf, fileState, resolveInside, STORAGE_FOLDERS, toRelative, UnsafePathError } from './storage-paths.js';
import { inChunks } from './walk-files.js';

/*
 * Moving a certificate to the archive, in an order that survives a kill at
 * any step:
 *
 *   1. link the archive path to the file (both names now exist);
 *   2. update the row to the archive path, only if it still has the old one;
 *   3. unlink the old name.
 *
 * Killed after 1, the row still points at an existing file, and the next run
 * finds the archive name already linked to the same file and goes on. Killed
 * after 2, the row points at the archive copy and the old name is left over;
 * the next run removes it in `finishInterruptedMoves`. At no point does a row
 * point at a missing file, and no file is deleted before a row points at its
 * other name.
 */

export interface ArchiveReport {
  archived: CategoryReport;
  /** Old names left by an interrupted run, removed because their row already points at the archive copy. */
  finished: CategoryReport;
}

/** Moves certificate files issued more than `retentionDays` ago to STORAGE_DIR/archive/certificates. */
export async function archiveCertificates(scope: CleanupScope, retentionDays: number): Promise<ArchiveReport> {
  const finished = await finishInterruptedMoves(scope);
  const archived = new CategoryReport();
  const issuedBefore = new Date(cutoff(scope, retentionDays, 'days'));

  let afterId = 0;
  for (;;) {
    scope.signal.throwIfAborted();
    const rows = await scope.db
      .selectFrom('certificates')
      .select(['id', 'file_path'])
      .where('archived_at', 'is', null)
      .where('issued_at', '<', issuedBefore)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(scope.batchSize)
      .execute();

    for (const row of rows) {
      try {
        const size = await moveCertificate(scope, row);
        if (size !== null) archived.add(row.file_path, size, 0);
      } catch (error) {
        archived.fail(row.file_path, error);
      }
    }
    if (rows.length < scope.batchSize) return { archived, finished };
    afterId = rows[rows.length - 1]!.id;
  }
}

/** Moves one certificate; returns its size, or null when another run moved it first. */
async function moveCertificate(scope: CleanupScope, row: { id: number; file_path: string }): Promise<number | null> {
  const source = await resolveInside(scope.storageRoot, row.file_path);
  const targetPath = archivePathOf(row.file_path);
  const target = await resolveInside(scope.storageRoot, targetPath);

  const state = await fileState(source);
  if (state.kind === 'missing') throw new Error('the file is missing, so nothing was moved; it is listed under missingFiles');
  if (state.kind === 'not-a-file') throw new UnsafePathError(`the path is ${state.what}, so nothing was moved`);
  if (scope.dryRun) return state.size;

  await mkdir(path.dirname(target), { recursive: true });
  // mkdir may have created folders: check again that the target's folders are real and inside.
  await resolveInside(scope.storageRoot, targetPath);
  await placeSecondName(source, target);

  const updated = await scope.db
    .updateTable('certificates')
    .set({ file_path: targetPath, archived_at: sql<Date>`now()` })
    .where('id', '=', row.id)
    .where('file_path', '=', row.file_path)
    .where('archived_at', 'is', null)
    .executeTakeFirst();

  if (updated.numUpdatedRows === 0n) {
    // The row changed meanwhile. Keep the archive name only if the row now points at it.
    const current = await scope.db.selectFrom('certificates').select('file_path').where('id', '=', row.id).executeTakeFirst();
    if (current?.file_path !== targetPath) await unlink(target);
    return null;
  }

  await unlink(source);
  return state.size;
}

/**
 * Removes files under STORAGE_DIR/certificates that no row points at while a
 * row points at their archive path and that archive file has the same bytes:
 * the old names a run killed between its steps 2 and 3 left behind.
 */
async function finishInterruptedMoves(scope: CleanupScope): Promise<CategoryReport> {
  const report = new CategoryReport();
  const folder = await storageFolder(scope, STORAGE_FOLDERS.certificates, report);
  if (folder === null) return report;

  for await (const chunk of inChunks(walkInScope(scope, scope.storageRoot, folder), scope.batchSize)) {
    const relativePaths = chunk.map((file) => toRelative(scope.storageRoot, file.absolute));
    const archivePaths = relativePaths.map(archivePathOf);
    const rows = await scope.db
      .selectFrom('certificates')
      .select('file_path')
      .where('file_path', 'in', [...relativePaths, ...archivePaths])
      .execute();
    const referenced = new Set(rows.map((row) => row.file_path));

    for (const [index, file] of chunk.entries()) {
      const relative = relativePaths[index]!;
      const archivePath = archivePaths[index]!;
      if (referenced.has(relative) || !referenced.has(archivePath)) continue;
      try {
        const archived = await resolveInside(scope.storageRoot, archivePath);
        if (!(await sameFile(file.absolute, archived))) {
          throw new Error(`differs from ${archivePath}, which its row points at; left in place for a person to check`);
        }
        if (!scope.dryRun) await unlink(file.absolute);
        report.add(relative, file.size, 0);
      } catch (error) {
        report.fail(relative, error);
      }
    }
  }
  return report;
}
