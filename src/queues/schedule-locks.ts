import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/*
 * Redis keys of the schedule controls, under the queue prefix so that a test
 * prefix or a second installation has keys of its own:
 * - run lock: one per job name, held by the scheduled run in progress;
 * - skip counter: a hash of job name to slots skipped because a run was still going;
 * - sync lock: held while an API process changes job schedulers.
 */
export function scheduleKeys(prefix: string) {
  return {
    runLock: (job: string) => `${prefix}:schedule:running:${job}`,
    skipped: `${prefix}:schedule:skipped`,
    syncLock: `${prefix}:schedule:sync-lock`,
  };
}

// Compare-and-set scripts: only the holder's token may extend or free a lock.
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export async function acquireLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return (await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK';
}

export async function renewLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return Number(await redis.eval(RENEW, 1, key, token, String(ttlMs))) === 1;
}

export async function releaseLock(redis: Redis, key: string, token: string): Promise<void> {
  await redis.eval(RELEASE, 1, key, token);
}

export interface HeldLock {
  /** Stops the renewal and deletes the lock if this holder still owns it. */
  release(): Promise<void>;
}

/**
 * Keeps an acquired lock alive: renews it every third of its lifetime while
 * the process runs. A killed process stops renewing, so the lock expires
 * after at most `ttlMs`.
 */
export function keepLock(redis: Redis, key: string, token: string, ttlMs: number, logger: Logger): HeldLock {
  const timer = setInterval(() => {
    renewLock(redis, key, token, ttlMs)
      .then((renewed) => {
        if (!renewed) logger.warn({ lock: key }, 'schedule lock expired before renewal; another run may start');
      })
      .catch((error: unknown) => logger.warn({ err: error, lock: key }, 'schedule lock renewal failed; retrying'));
  }, Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref();

  return {
    async release() {
      clearInterval(timer);
      try {
        await releaseLock(redis, key, token);
      } catch (error) {
        // The lock then expires by itself after ttlMs.
        logger.warn({ err: error, lock: key }, 'schedule lock release failed; it expires by itself');
      }
    },
  };
}

const SYNC_LOCK_TTL_MS = 60_000;
const SYNC_LOCK_WAIT_MS = 60_000;
const SYNC_LOCK_POLL_MS = 50;

/**
 * Runs `action` while holding the sync lock, waiting up to a minute for
 * another API process to finish its own sync or schedule change first. So
 * each process reads the schedulers as the previous one left them.
 */
export async function withSyncLock<T>(redis: Redis, prefix: string, action: () => Promise<T>): Promise<T> {
  const key = scheduleKeys(prefix).syncLock;
  const token = randomUUID();
  const deadline = Date.now() + SYNC_LOCK_WAIT_MS;
  while (!(await acquireLock(redis, key, token, SYNC_LOCK_TTL_MS))) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${SYNC_LOCK_WAIT_MS} ms waiting for the schedule sync lock ${key}, which another API process holds. The lock expires ${SYNC_LOCK_TTL_MS} ms after it was taken, so retry then`);
    }
    await new Promise((resolve) => setTimeout(resolve, SYNC_LOCK_POLL_MS));
  }
  try {
    return await action();
  } finally {
    await releaseLock(redis, key, token);
  }
}

/** Returns the skipped-slot count of every job name that has one. */
export async function readSkipCounts(redis: Redis, prefix: string): Promise<Map<string, number>> {
  const counts = await redis.hgetall(scheduleKeys(prefix).skipped);
  return new Map(Object.entries(counts).map(([job, value]) => [job, Number(value)]));
}
