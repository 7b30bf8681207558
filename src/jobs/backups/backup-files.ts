import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../../config.js';

/** Suffix of a file being written; it is renamed to its final name only when complete. */
export const PARTIAL_SUFFIX = '.partial';

/** Absolute path of a file or folder name inside BACKUP_DIR. */
export function backupPath(config: Pick<Config, 'BACKUP_DIR'>, name: string): string {
  // Names come from the backups table; refuse one that would leave the folder.
  if (name !== basename(name) || name === '..' || name === '.') throw new Error(`Invalid backup file name ${JSON.stringify(name)}`);
  const folder = isAbsolute(config.BACKUP_DIR) ? config.BACKUP_DIR : resolve(config.BACKUP_DIR);
  return join(folder, name);
}

/** Time stamp for file names, such as `20261204T010000Z`. */
export function fileTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** SHA-256 of a file as lowercase hex, read as a stream. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash, { signal });
  return hash.digest('hex');
}

/** Size of a file in bytes, or null when it does not exist. */
export async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Flushes a file or a folder entry to disk, so a rename inside the folder survives a crash. */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes a file or folder if present; returns true when something was removed. */
export async function removeIfPresent(path: string): Promise<boolean> {
  const existed = (await fileSize(path)) !== null;
  await rm(path, { recursive: true, force: true });
  return existed;
}
