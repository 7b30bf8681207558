import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../../config.js';
import { PARTIAL_SUFFIX, fsyncPath } from './backup-files.js';
import { parseProgramVersion, runProgram, spawnProgram, type PgProgram } from './pg-tools.js';

/** Counts and hashes the bytes that pass through, unchanged. */
class DigestTap extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

export interface DumpFileResult {
  /** Final path; the file exists there only when the dump succeeded. */
  path: string;
  sizeBytes: number;
  sha256: string;
  durationMs: number;
}

export interface WriteDumpOptions {
  config: Pick<Config, 'PG_BIN_DIR'>;
  /** libpq environment of the database to dump (pgEnvironment). */
  pgEnv: NodeJS.ProcessEnv;
  path: string;
  /** Snapshot id from pg_export_snapshot(), so the dump contains exactly the rows the caller counted. */
  snapshot?: string;
  signal?: AbortSignal;
}

/**
 * Runs `pg_dump --format=custom` and streams its stdout to `<path>.partial`
 * through a SHA-256 tap, never holding the dump in memory. The file is
 * fsynced, renamed to `path`, and the folder fsynced, so a file under its
 * final name is always complete. On failure the partial file is removed.
 */
export async function writeDump(options: WriteDumpOptions): Promise<DumpFileResult> {
  const started = performance.now();
  const partial = options.path + PARTIAL_SUFFIX;
  await mkdir(dirname(options.path), { recursive: true, mode: 0o700 });

  const args = ['--format=custom', '--no-password'];
  if (options.snapshot) args.push(`--snapshot=${options.snapshot}`);
  try {
    const dump = spawnProgram(options.config, 'pg_dump', args, options.pgEnv, { signal: options.signal });
    const tap = new DigestTap();
    const written = pipeline(dump.child.stdout!, tap, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
    // Both must succeed: the stream ends normally even when pg_dump fails half way.
    await Promise.all([written, dump.finished]);
    // fsync through a new descriptor flushes the same file: the data is on disk before the rename.
    await fsyncPath(partial);

    await rename(partial, options.path);
    await fsyncPath(dirname(options.path));
    return {
      path: options.path,
      sizeBytes: tap.bytes,
      sha256: tap.hash.digest('hex'),
      durationMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/** Version text and major version of a client program, from `--version`. */
export async function programVersion(config: Pick<Config, 'PG_BIN_DIR'>, program: PgProgram) {
  return parseProgramVersion(await runProgram(config, program, ['--version']));
}

/** A random suffix that keeps two dumps started in the same second apart. */
export const uniqueSuffix = () => randomBytes(3).toString('hex');
