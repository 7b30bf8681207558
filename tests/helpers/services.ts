import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config.js';
import { connectionSettings, createDatabase, type Db } from '../../src/db/database.js';
import { ensureDatabase, migrateToLatest } from '../../src/db/migrate.js';

/** Server URL without a database name; each test file adds its own database. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://127.0.0.1:5432';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Returns a name unique to this run, safe as a database name and a queue prefix. */
export function uniqueName(label: string): string {
  return `shipshape_test_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  db: Db;
  /** Closes the pool and drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

/** Creates and migrates a database of the test file's own. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const name = uniqueName(label);
  const url = `${TEST_POSTGRES_URL}/${name}`;
  await ensureDatabase(url);
  const db = createDatabase(url, { max: 5, applicationName: `test-${label}` });
  await migrateToLatest(db);

  return {
    name,
    url,
    db,
    async drop() {
      await db.destroy();
      const admin = new pg.Client(connectionSettings(`${TEST_POSTGRES_URL}/postgres`));
      await admin.connect();
      try {
        // A closed pool's backends linger for a moment. Dropping WITH (FORCE) then would
        // send them a FATAL message that a pg client, already ending, cannot handle,
        // so wait for them to go first and force only what is left after the deadline.
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
          const { rows } = await admin.query('select count(*)::int as open from pg_stat_activity where datname = $1', [name]);
          if (rows[0].open === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** Builds a Config for tests: the file's database and queue prefix, and no log output. */
export function testConfig(overrides: Record<string, string>): Config {
  return loadConfig({ REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'silent', ...overrides });
}

/** Deletes every Redis key under `prefix`, with SCAN and UNLINK. */
export async function removeRedisKeys(redis: import('ioredis').Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** Deletes every Redis key of a test file's queue prefix, on a connection of its own. */
export async function removeQueuePrefix(prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  try {
    await removeRedisKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
