import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from '../config.js';
import type { Logger } from '../logger.js';

export type RedisRole = 'producer' | 'worker';

/**
 * Opens an ioredis connection for BullMQ.
 *
 * A worker connection sets `maxRetriesPerRequest: null`, because BullMQ's
 * blocking commands must wait through reconnects; BullMQ rejects a worker
 * connection without it. A producer connection keeps ioredis' bounded retries,
 * so an API request fails fast while Redis is away instead of hanging.
 */
export function createRedis(url: string, role: RedisRole, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 3,
    // A Redis that accepts the connection but stops replying would otherwise hang an API request forever.
    ...(role === 'producer' ? { commandTimeout: 5000 } : {}),
    connectionName: `shipshape-${role}`,
    ...options,
  });
}

/**
 * Sends PING and throws an error naming the server when it fails. The API
 * calls it at start, because BullMQ would otherwise wait for Redis forever.
 */
export async function checkRedis(redis: Redis, url: string): Promise<void> {
  try {
    await redis.ping();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Redis at ${redactUrl(url)} is unreachable (${reason}); start Redis or set REDIS_URL`, { cause: error });
  }
}

/**
 * Returns a function that logs an error at most once per `intervalMs`, with
 * the count of the ones left out since. ioredis retries a lost connection every
 * few hundred milliseconds and every retry emits an error, so unthrottled
 * logging would flood the log while Redis is down.
 */
export function createErrorThrottle(logger: Logger, message: string, intervalMs = 30_000) {
  let lastLoggedAt = 0;
  let suppressed = 0;
  return {
    report(error: unknown, bindings: Record<string, unknown> = {}): void {
      const now = Date.now();
      if (now - lastLoggedAt < intervalMs) {
        suppressed += 1;
        return;
      }
      logger.warn({ err: error, suppressed, ...bindings }, message);
      lastLoggedAt = now;
      suppressed = 0;
    },
    /** Starts over, so the next error is logged at once. */
    reset(): void {
      lastLoggedAt = 0;
      suppressed = 0;
    },
  };
}

/** Logs a connection's errors through a throttle, and its recovery. */
export function logConnectionErrors(redis: Redis, logger: Logger): void {
  const throttle = createErrorThrottle(logger, 'redis connection error; retrying');
  let failing = false;
  redis.on('error', (error: Error) => {
    failing = true;
    throttle.report(error);
  });
  redis.on('ready', () => {
    if (failing) logger.info('redis connection restored');
    failing = false;
    throttle.reset();
  });
}
