import path from 'node:path';
import type { Db } from '../../db/database.js';
import { CategoryReport } from './cleanup-report.js';
import { realDirectory, toRelative } from './storage-paths.js';
import { walkFiles, type WalkedFile } from './walk-files.js';

/** State every storage-cleanup step shares: the root, the clock, the mode and the symlink report. */
export interface CleanupScope {
  db: Db;
  /** Realpath of STORAGE_DIR. */
  storageRoot: string;
  dryRun: boolean;
  /** The run's start, in milliseconds; every age is measured from it. */
  now: number;
  /** Rows per database query and paths per lookup. */
  batchSize: number;
  signal: AbortSignal;
  /** Symlinks met and skipped, with paths relative to the root they were found in. */
  symlinks: CategoryReport;
}

/** Walks `folder` below `root`, recording every symlink met in the scope's symlink report. */
export function walkInScope(scope: CleanupScope, root: string, folder: string): AsyncGenerator<WalkedFile> {
  return walkFiles(folder, {
    signal: scope.signal,
    onSymlink: (absolute) => scope.symlinks.add(toRelative(root, absolute), 0, 0),
  });
}

/** Returns the instant `amount` units before the run started, in milliseconds. */
export function cutoff(scope: CleanupScope, amount: number, unit: 'hours' | 'days'): number {
  const hours = unit === 'days' ? amount * 24 : amount;
  return scope.now - hours * 3_600_000;
}

/**
 * Returns the realpath of STORAGE_DIR/`folder`, or null when it does not exist
 * or is unsafe: a symlink, or not a directory. An unsafe folder is recorded as
 * a failure in `report` and its step is skipped, never followed.
 */
export async function storageFolder(scope: CleanupScope, folder: string, report: CategoryReport): Promise<string | null> {
  try {
    return await realDirectory(scope.storageRoot, path.join(scope.storageRoot, folder));
  } catch (error) {
    report.fail(folder, error);
    return null;
  }
}
