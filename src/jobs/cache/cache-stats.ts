import { Type } from '@sinclair/typebox';
import type { Redis } from 'ioredis';
import { defineJob, type JsonValue } from '../contract.js';
import { checkCachePrefix, scanKeys } from './scan.js';

type JsonObject = { [key: string]: JsonValue };

/** Maximum keys per prefix whose MEMORY USAGE is read. */
const MEMORY_SAMPLE_SIZE = 1000;

/**
 * Counts the distinct keys under `prefix` with SCAN and reads MEMORY USAGE of a
 * uniform random sample of at most MEMORY_SAMPLE_SIZE of them (reservoir
 * sampling over the walk). The whole-prefix figure is the sample's average
 * times the key count, an estimate.
 */
async function describePrefix(redis: Redis, prefix: string, queuePrefix: string, signal: AbortSignal): Promise<JsonObject> {
  const sample: string[] = [];
  let seen = 0;
  const scan = await scanKeys(redis, { prefix, queuePrefix, signal, distinct: true }, (keys) => {
    for (const key of keys) {
      if (sample.length < MEMORY_SAMPLE_SIZE) {
        sample.push(key);
      } else {
        const slot = Math.floor(Math.random() * (seen + 1));
        if (slot < MEMORY_SAMPLE_SIZE) sample[slot] = key;
      }
      seen += 1;
    }
  });

  const pipeline = redis.pipeline();
  for (const key of sample) pipeline.memory('USAGE', key);
  const results = sample.length > 0 ? ((await pipeline.exec()) ?? []) : [];
  // A key that expired or was deleted after the walk returns null and leaves the sample.
  const sizes = results.map(([error, bytes]) => (error === null && typeof bytes === 'number' ? bytes : null)).filter((bytes) => bytes !== null);
  const sampledBytes = sizes.reduce((total, bytes) => total + bytes, 0);
  const averageBytes = sizes.length > 0 ? sampledBytes / sizes.length : null;

  return {
    prefix,
    keys: scan.keys,
    skippedQueueKeys: scan.skippedQueueKeys,
    memory: {
      sampledKeys: sizes.length,
      sampledBytes,
      averageBytesPerKey: averageBytes === null ? null : Math.round(averageBytes),
      estimatedTotalBytes: averageBytes === null ? 0 : Math.round(averageBytes * scan.keys),
      method: 'estimate: average MEMORY USAGE of a random sample of keys, times the key count',
    },
  };
}

/** Reads keyspace_hits and keyspace_misses from INFO stats. */
async function readHitRatio(redis: Redis): Promise<JsonObject> {
  const info = await redis.info('stats');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
    if (!match) throw new Error(`INFO stats has no ${name} field; the Redis server is too old or not Redis`);
    return Number(match[1]);
  };
  const hits = field('keyspace_hits');
  const misses = field('keyspace_misses');
  return {
    ratio: hits + misses > 0 ? Math.round((hits / (hits + misses)) * 10_000) / 10_000 : null,
    keyspaceHits: hits,
    keyspaceMisses: misses,
    scope: 'server-wide: every key lookup on this Redis server since it started or since CONFIG RESETSTAT, not only cache keys',
  };
}

/** Reports the size of the cache prefixes and the server's hit ratio. Changes nothing. */
export const cacheStats = defineJob({
  name: 'cache-stats',
  queue: 'maintenance',
  description: 'Count the keys under the cache prefixes, estimate their memory and read the Redis hit ratio',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'viewer',
  destructive: false,
  kind: 'maintenance',
  async run(context) {
    const { config, redis, signal } = context;
    checkCachePrefix('CACHE_PREFIX', config.CACHE_PREFIX, config.QUEUE_PREFIX);
    checkCachePrefix('API_CACHE_PREFIX', config.API_CACHE_PREFIX, config.QUEUE_PREFIX);

    const cache = await describePrefix(redis, config.CACHE_PREFIX, config.QUEUE_PREFIX, signal);
    const apiCache = await describePrefix(redis, config.API_CACHE_PREFIX, config.QUEUE_PREFIX, signal);
    return {
      cache,
      apiCache,
      // With the default prefixes the API cache lies inside the cache prefix, and its keys count in both.
      apiCacheInsideCache: config.API_CACHE_PREFIX.startsWith(config.CACHE_PREFIX),
      hitRatio: await readHitRatio(redis),
    };
  },
});
