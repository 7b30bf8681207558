import { lstat, opendir } from 'node:fs/promises';
import path from 'node:path';

export interface WalkedFile {
  absolute: string;
  size: number;
  mtimeMs: number;
  dev: number;
  ino: number;
}

export interface WalkOptions {
  signal?: AbortSignal;
  /** Called for every symlink met; the walk never follows one. */
  onSymlink?: (absolute: string) => void;
}

/**
 * Yields every regular file below `folder`, depth first. Each directory is
 * read with `opendir`, which fetches entries in small chunks, so a folder of
 * a million files never sits in memory as one array. Only the paths of
 * subdirectories still to visit are kept. Symlinks are reported and skipped,
 * never followed, so every yielded path is below `folder`.
 */
export async function* walkFiles(folder: string, options: WalkOptions = {}): AsyncGenerator<WalkedFile> {
  const pending = [folder];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let directory;
    try {
      directory = await opendir(current);
    } catch (error) {
      // Removed by someone else since it was listed.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }

    for await (const entry of directory) {
      options.signal?.throwIfAborted();
      const absolute = path.join(current, entry.name);
      if (entry.isSymbolicLink()) {
        options.onSymlink?.(absolute);
      } else if (entry.isDirectory()) {
        pending.push(absolute);
      } else if (entry.isFile()) {
        const stats = await lstatIfPresent(absolute);
        if (stats?.isFile()) yield { absolute, size: stats.size, mtimeMs: stats.mtimeMs, dev: stats.dev, ino: stats.ino };
      }
    }
  }
}

async function lstatIfPresent(absolute: string) {
  try {
    return await lstat(absolute);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Groups the items of `source` into arrays of at most `size`. */
export async function* inChunks<T>(source: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let chunk: T[] = [];
  for await (const item of source) {
    chunk.push(item);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
