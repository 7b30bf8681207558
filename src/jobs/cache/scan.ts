import { UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';

/*
 * Walking and deleting the keys under a cache prefix.
 *
 * Keys are found with SCAN, never KEYS, because KEYS blocks Redis for the
 * whole keyspace at once. They are deleted with UNLINK, which frees the
 * values in a background thread. Every walk skips keys under the BullMQ
 * namespace `${QUEUE_PREFIX}:`, even when the cache prefix would match them.
 */

/** COUNT hint of each SCAN call: about this many keyspace entries are visited per call, before MATCH filters them. */
export const SCAN_COUNT = 1000;

/** Default number of keys handed to one batch, which is one UNLINK call when clearing. */
export const KEY_BATCH_SIZE = 1000;

/** Escapes the glob characters of Redis MATCH, so `text` matches only itself. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Throws an UnrecoverableError when `prefix` is empty or overlaps the BullMQ
 * namespace `${queuePrefix}:`: equal to it, the start of it, or inside it.
 * Such a prefix would match every key or BullMQ's keys, and a retry cannot
 * fix a setting, so the job fails at once. `setting` names the variable in
 * the message.
 */
export function checkCachePrefix(setting: string, prefix: string, queuePrefix: string): void {
  if (prefix === '') {
    throw new UnrecoverableError(`${setting} is empty, so it would match every key in Redis; set it to a prefix such as "cache:"`);
  }
  const queueNamespace = `${queuePrefix}:`;
  if (queueNamespace.startsWith(prefix) || prefix.startsWith(queueNamespace)) {
    throw new UnrecoverableError(
      `${setting} "${prefix}" overlaps QUEUE_PREFIX "${queuePrefix}": keys under it would include BullMQ's keys "${queueNamespace}*". ` +
        `Set ${setting} to a prefix that neither starts with "${queueNamespace}" nor is the start of it, for example "cache:".`,
    );
  }
}

export interface ScanOptions {
  prefix: string;
  queuePrefix: string;
  /** Keys per batch passed to `onBatch`, by default KEY_BATCH_SIZE. */
  batchSize?: number;
  /** Signal checked before every SCAN call and every batch. An aborted walk throws the signal's reason. */
  signal?: AbortSignal;
  /**
   * Pass each key on once, even when SCAN returns it twice. This keeps every
   * key found in a Set, so the walk's memory grows with the number of keys.
   */
  distinct?: boolean;
}

export interface ScanReport {
  /** Keys found under the prefix and passed to `onBatch`. */
  keys: number;
  /** Keys under the prefix that are also under `${queuePrefix}:`, and were left out. */
  skippedQueueKeys: number;
  batches: number;
  scanCalls: number;
}

/**
 * Walks every key that starts with `prefix` (SCAN MATCH <prefix>* COUNT 1000)
 * and passes them to `onBatch` in batches of at most `batchSize`, the last
 * one possibly shorter. Keys under `${queuePrefix}:` are never passed on.
 *
 * SCAN returns every key that exists for the whole walk, but it returns a
 * key twice when Redis resizes its hash table in between, which deleting
 * many keys causes. Without `distinct`, `keys` counts such a key twice.
 */
export async function scanKeys(
  redis: Redis,
  options: ScanOptions,
  onBatch: (keys: string[]) => Promise<void> | void,
): Promise<ScanReport> {
  const batchSize = options.batchSize ?? KEY_BATCH_SIZE;
  const queueNamespace = `${options.queuePrefix}:`;
  const match = `${escapeGlob(options.prefix)}*`;
  const report: ScanReport = { keys: 0, skippedQueueKeys: 0, batches: 0, scanCalls: 0 };
  let pending: string[] = [];
  const seen = options.distinct ? new Set<string>() : undefined;

  const flush = async (keys: string[]) => {
    options.signal?.throwIfAborted();
    report.keys += keys.length;
    report.batches += 1;
    await onBatch(keys);
  };

  let cursor = '0';
  do {
    options.signal?.throwIfAborted();
    const [next, found] = await redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
    report.scanCalls += 1;
    cursor = next;

    for (const key of found) {
      if (key.startsWith(queueNamespace)) {
        report.skippedQueueKeys += 1;
        continue;
      }
      // MATCH already filters by prefix; this check keeps a wrong pattern from reaching UNLINK.
      if (!key.startsWith(options.prefix)) continue;
      if (seen) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      pending.push(key);
    }

    while (pending.length >= batchSize) {
      const batch = pending.slice(0, batchSize);
      pending = pending.slice(batchSize);
      await flush(batch);
    }
  } while (cursor !== '0');

  if (pending.length > 0) await flush(pending);
  return report;
}

export interface ClearOptions extends Omit<ScanOptions, 'distinct'> {
  /** Count the distinct keys and delete nothing. */
  dryRun: boolean;
  onBatch?: (progress: ClearProgress) => Promise<void> | void;
}

export interface ClearProgress {
  /** Keys found so far: distinct keys in a dry run, otherwise SCAN results, which may repeat a key. */
  matched: number;
  /** Keys UNLINK removed so far, which leaves out keys that expired between SCAN and UNLINK. */
  deleted: number;
  batches: number;
}

export interface ClearReport extends ClearProgress {
  skippedQueueKeys: number;
  scanCalls: number;
  durationMs: number;
}

/**
 * Deletes every key under `prefix` with one UNLINK per batch, or with
 * `dryRun` only counts the distinct keys. Keys under `${queuePrefix}:` are
 * skipped and counted. The exact count of a real run is `deleted`, the sum
 * of UNLINK's replies, because a key that SCAN returns twice is removed once.
 */
export async function clearPrefix(redis: Redis, options: ClearOptions): Promise<ClearReport> {
  const started = performance.now();
  const progress: ClearProgress = { matched: 0, deleted: 0, batches: 0 };

  const scan = await scanKeys(redis, { ...options, distinct: options.dryRun }, async (keys) => {
    progress.matched += keys.length;
    if (!options.dryRun) progress.deleted += await redis.unlink(...keys);
    progress.batches += 1;
    await options.onBatch?.({ ...progress });
  });

  return {
    ...progress,
    skippedQueueKeys: scan.skippedQueueKeys,
    scanCalls: scan.scanCalls,
    durationMs: Math.round(performance.now() - started),
  };
}
