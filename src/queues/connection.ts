import { Redis, type RedisOptions } from 'ioredis';

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
    connectionName: `shipshape-${role}`,
    ...options,
  });
}
