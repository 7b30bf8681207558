import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, open, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { CategoryReport } from './cleanup-report.js';
import { cutoff, walkInScope, type CleanupScope } from './cleanup-scope.js';
import { realDirectory, toRelative } from './storage-paths.js';

/** Log files: `app.log`, and rotated ones such as `app.log.1`. Compressed `.gz` files never match. */
const LOG_FILE = /\.log(\.\d+)?$/;

/**
 * Gzips the log files below `logDir` last modified more than `afterDays` ago.
 * Each one is written to `<name>.gz.partial`, flushed to disk, renamed to
 * `<name>.gz`, and only then is the original deleted. Killed at any step, the
 * original is still there and the next run compresses it again, replacing
 * the partial or complete `.gz` it left.
 */
export async function compressLogs(scope: CleanupScope, logDir: string, afterDays: number): Promise<CategoryReport> {
  const report = new CategoryReport();
  const logRoot = await realDirectoryOrNull(logDir, report);
  if (logRoot === null) return report;
  const before = cutoff(scope, afterDays, 'days');

  for await (const file of walkInScope(scope, logRoot, logRoot)) {
    if (file.mtimeMs >= before || !LOG_FILE.test(path.basename(file.absolute))) continue;
    const relative = toRelative(logRoot, file.absolute);
    if (scope.dryRun) {
      report.add(relative, file.size, null);
      continue;
    }
    try {
      const compressedSize = await gzipFile(file.absolute, file.mtimeMs);
      report.add(relative, file.size, file.size - compressedSize);
    } catch (error) {
      report.fail(relative, error);
    }
  }
  return report;
}

/** Returns the realpath of the log folder, or null when it does not exist or is a symlink (recorded in `report`). */
async function realDirectoryOrNull(logDir: string, report: CategoryReport): Promise<string | null> {
  const absolute = path.resolve(logDir);
  try {
    // The folder is its own root: it only has to be a real directory, not a symlink.
    return await realDirectory(path.parse(absolute).root, absolute);
  } catch (error) {
    report.fail(logDir, error);
    return null;
  }
}

/** Throws when `name` is a symlink, naming the log that is therefore not compressed. */
async function rejectSymlink(name: string, source: string): Promise<void> {
  const stats = await lstat(name).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (stats?.isSymbolicLink()) {
    throw new Error(`${path.basename(name)} is a symlink, left alone; ${path.basename(source)} is not compressed until the link is removed`);
  }
}

/** Replaces `source` with `source.gz`, keeping its modification time; returns the compressed size. */
async function gzipFile(source: string, mtimeMs: number): Promise<number> {
  const target = `${source}.gz`;
  const partial = `${target}.partial`;

  // A symlink at either name is left in place and this log is not compressed,
  // because the walk lists the link under skippedSymlinks, and removing it (or
  // renaming over it) would change a link the report lists as left alone.
  await rejectSymlink(partial, source);
  await rejectSymlink(target, source);

  // A partial file left by a killed run is removed first. Then 'wx' (O_CREAT | O_EXCL)
  // refuses any name that exists, a symlink created after the check above
  // included, so the write can never follow a link out of the folder.
  await unlink(partial).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await pipeline(createReadStream(source), createGzip(), createWriteStream(partial, { flags: 'wx' }));
  const handle = await open(partial, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  const modified = new Date(mtimeMs);
  await utimes(partial, modified, modified);
  await rename(partial, target);

  await unlink(source);
  return (await stat(target)).size;
}
