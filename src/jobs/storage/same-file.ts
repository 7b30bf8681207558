import { constants } from 'node:fs';
import { copyFile, link, lstat, open, rename, unlink } from 'node:fs/promises';

const CHUNK_BYTES = 64 * 1024;

/** Returns whether two regular files are one inode, or have the same bytes. */
export async function sameFile(first: string, second: string): Promise<boolean> {
  const [a, b] = await Promise.all([lstat(first), lstat(second)]);
  if (!a.isFile() || !b.isFile()) return false;
  if (a.dev === b.dev && a.ino === b.ino) return true;
  if (a.size !== b.size) return false;

  const [left, right] = await Promise.all([open(first, 'r'), open(second, 'r')]);
  try {
    const leftBuffer = Buffer.alloc(CHUNK_BYTES);
    const rightBuffer = Buffer.alloc(CHUNK_BYTES);
    for (let position = 0; ; position += CHUNK_BYTES) {
      const [l, r] = await Promise.all([
        left.read(leftBuffer, 0, CHUNK_BYTES, position),
        right.read(rightBuffer, 0, CHUNK_BYTES, position),
      ]);
      if (l.bytesRead !== r.bytesRead) return false;
      if (l.bytesRead === 0) return true;
      if (!leftBuffer.subarray(0, l.bytesRead).equals(rightBuffer.subarray(0, r.bytesRead))) return false;
    }
  } finally {
    await Promise.all([left.close(), right.close()]);
  }
}

/**
 * Makes `target` a second name of `source`, keeping `source`. A hard link is
 * atomic and costs no space. Where links are impossible (another file system,
 * or one without hard links), the bytes are copied to `target.partial`,
 * flushed, and renamed into place, so `target` never exists half written.
 * A `target` that already contains the same file, left by an interrupted run,
 * counts as done; any other existing `target` is an error.
 */
export async function placeSecondName(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if (await sameFile(source, target)) return;
      throw new Error(`${target} already exists with other content; move or remove it, then run again`, { cause: error });
    }
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw error;
  }

  const existing = await lstat(target).catch(() => null);
  if (existing) {
    if (await sameFile(source, target)) return;
    throw new Error(`${target} already exists with other content; move or remove it, then run again`);
  }

  const partial = `${target}.partial`;
  // COPYFILE_EXCL refuses an existing name, a planted symlink included, so the copy never writes through a link.
  await unlink(partial).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await copyFile(source, partial, constants.COPYFILE_EXCL);
  const handle = await open(partial, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, target);
}
