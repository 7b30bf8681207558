import type { JsonValue } from '../contract.js';

/** Paths listed per category in the summary; the counts and byte totals cover every file. */
export const LISTED_PATHS_LIMIT = 100;

/**
 * Outcome of one category of storage-cleanup, or what it would do in a dry run.
 * `bytes` is the size of the files concerned, `bytesFreed` the disk space
 * released: equal for deletions, 0 for moves, and the size minus the gzip
 * size for compressed logs (unknown in a dry run, so null there).
 */
export class CategoryReport {
  files = 0;
  bytes = 0;
  bytesFreed: number | null = 0;
  readonly paths: string[] = [];
  /** Files left alone because an operation on them failed; the reasons are in `errors`. */
  failed = 0;
  readonly errors: string[] = [];

  /** Counts one file and lists its path while the list has room. */
  add(relativePath: string, bytes: number, bytesFreed: number | null): void {
    this.files += 1;
    this.bytes += bytes;
    this.bytesFreed = this.bytesFreed === null || bytesFreed === null ? null : this.bytesFreed + bytesFreed;
    if (this.paths.length < LISTED_PATHS_LIMIT) this.paths.push(relativePath);
  }

  fail(relativePath: string, error: unknown): void {
    this.failed += 1;
    const reason = error instanceof Error ? error.message : String(error);
    if (this.errors.length < LISTED_PATHS_LIMIT) this.errors.push(`${relativePath}: ${reason}`);
  }

  toJSON(): { [key: string]: JsonValue } {
    return {
      files: this.files,
      bytes: this.bytes,
      bytesFreed: this.bytesFreed,
      paths: this.paths,
      pathsTruncated: this.files > this.paths.length,
      failed: this.failed,
      errors: this.errors,
    };
  }
}
