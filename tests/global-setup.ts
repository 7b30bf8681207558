import pg from 'pg';
import { Redis } from 'ioredis';
import { connectionSettings } from '../src/db/database.js';
import { TEST_POSTGRES_URL, TEST_REDIS_URL } from './helpers/services.js';

/** Fails the run at once, with the fix, when Postgres or Redis is unreachable. */
export async function setup(): Promise<void> {
  const client = new pg.Client({ ...connectionSettings(`${TEST_POSTGRES_URL}/postgres`), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
  } catch (error) {
    throw new Error(`PostgreSQL at ${TEST_POSTGRES_URL} is unreachable (${(error as Error).message}); start it or set TEST_POSTGRES_URL`, { cause: error });
  }

  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis at ${TEST_REDIS_URL} is unreachable (${(error as Error).message}); start it or set TEST_REDIS_URL`, { cause: error });
  } finally {
    redis.disconnect();
  }
}
