import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';

/*
 * The layout of STORAGE_DIR and the checks that keep storage-cleanup inside it.
 *
 * - `tmp/`: scratch files of the platform, deleted once old enough.
 * - `uploads/`: user uploads; each one has an `uploads` row whose `path` points at it.
 * - `certificates/`: certificate files; each one has a `certificates` row.
 * - `archive/certificates/`: old certificates, moved there by storage-cleanup.
 *
 * Database paths are relative to STORAGE_DIR with forward slashes. A symlink is
 * never followed: the walker skips them, and a database path that is a symlink
 * or whose folders resolve outside STORAGE_DIR is rejected.
 */

export const STORAGE_FOLDERS = {
  temp: 'tmp',
  uploads: 'uploads',
  certificates: 'certificates',
  archive: 'archive',
} as const;

/** Thrown when a path would leave its root folder or goes through a symlink. */
export class UnsafePathError extends Error {
  override name = 'UnsafePathError';
}

/** Returns whether `candidate` is `root` or a path below it; both must be absolute and normalized. */
export function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** Returns the archive path of a certificate file: `certificates/a.pdf` becomes `archive/certificates/a.pdf`. */
export function archivePathOf(relativePath: string): string {
  return path.posix.join(STORAGE_FOLDERS.archive, relativePath);
}

/** Returns the database form of a path below `root`: relative, with forward slashes. */
export function toRelative(root: string, absolute: string): string {
  return path.relative(root, absolute).split(path.sep).join('/');
}

/**
 * Resolves a relative database path below `root` (a realpath) and checks that
 * it stays there: no absolute path, no `..` escape, and every existing folder
 * on the way resolves inside `root`. The file itself is not resolved, so the
 * caller can lstat it and reject a symlink.
 */
export async function resolveInside(root: string, relativePath: string): Promise<string> {
  if (relativePath.includes('\0') || path.posix.isAbsolute(relativePath) || path.win32.isAbsolute(relativePath)) {
    throw new UnsafePathError(`path ${JSON.stringify(relativePath)} is not relative to the storage folder`);
  }
  const absolute = path.resolve(root, ...relativePath.split('/'));
  if (!isInside(root, absolute) || absolute === root) {
    throw new UnsafePathError(`path ${JSON.stringify(relativePath)} leaves the storage folder`);
  }

  const folder = await realpathOfExisting(path.dirname(absolute));
  if (!isInside(root, folder)) {
    throw new UnsafePathError(`path ${JSON.stringify(relativePath)} goes through a symlink that resolves outside the storage folder`);
  }
  return absolute;
}

/** Returns the realpath of the nearest existing ancestor of `folder`, joined with the part that does not exist yet. */
async function realpathOfExisting(folder: string): Promise<string> {
  const missing: string[] = [];
  let current = folder;
  for (;;) {
    try {
      return path.join(await realpath(current), ...missing.reverse());
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const parent = path.dirname(current);
      if (parent === current) throw error;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

export type FileState =
  | { kind: 'file'; size: number; mtimeMs: number; dev: number; ino: number }
  | { kind: 'missing' }
  | { kind: 'not-a-file'; what: string };

/** Describes `absolute` without following a symlink. */
export async function fileState(absolute: string): Promise<FileState> {
  try {
    const stats = await lstat(absolute);
    if (stats.isFile()) return { kind: 'file', size: stats.size, mtimeMs: stats.mtimeMs, dev: stats.dev, ino: stats.ino };
    return { kind: 'not-a-file', what: stats.isSymbolicLink() ? 'a symlink' : 'not a regular file' };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return { kind: 'missing' };
    throw error;
  }
}

/**
 * Returns the realpath of `folder` when it is a real directory, null when it
 * does not exist, and throws when it is a symlink or resolves outside `root`.
 */
export async function realDirectory(root: string, folder: string): Promise<string | null> {
  let stats;
  try {
    stats = await lstat(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if (stats.isSymbolicLink()) throw new UnsafePathError(`${folder} is a symlink; storage-cleanup never follows one`);
  if (!stats.isDirectory()) throw new UnsafePathError(`${folder} is not a directory`);
  const resolved = await realpath(folder);
  if (!isInside(root, resolved)) throw new UnsafePathError(`${folder} resolves outside ${root}`);
  return resolved;
}
