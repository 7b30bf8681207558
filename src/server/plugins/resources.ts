import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { createDatabase, type Db } from '../../db/database.js';
import { calendar } from '../../queues/calendar.js';
import { createRedis, logConnectionErrors } from '../../queues/connection.js';
import type { Logger } from '../../logger.js';
import { closeQueues, createQueues, type Queues } from '../../queues/queues.js';
import { JobRegistry, jobDefinitions } from '../../jobs/registry.js';
import { ApiError } from '../errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Db;
    redis: Redis;
    queues: Queues;
    registry: JobRegistry;
  }
}

const REDIS_WAIT_MS = 2000;

/**
 * A preHandler for routes that use the queues. BullMQ waits without limit for
 * a Redis connection, so these routes wait at most REDIS_WAIT_MS for it and
 * then reply 503 with nothing enqueued.
 */
export async function requireRedis(this: FastifyInstance): Promise<void> {
  const redis = this.redis;
  if (redis.status === 'ready') return;

  const ready = await new Promise<boolean>((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      resolve(false);
    }, REDIS_WAIT_MS);
    redis.once('ready', onReady);
  });
  if (ready) return;

  throw new ApiError(
    'SERVICE_UNAVAILABLE',
    `Redis is unreachable (connection ${redis.status}); nothing was done. Retry once GET /health/ready passes`,
  );
}

/**
 * Opens the API's database pool, Redis connection and BullMQ queues, checks
 * the job registry, and closes them all when the server closes.
 */
export const resourcesPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const registry = new JobRegistry(jobDefinitions, calendar);
    const db = createDatabase(config.DATABASE_URL, {
      max: 5,
      applicationName: 'shipshape-api',
      connectionTimeoutMillis: 5000,
      onIdleError: (error) => app.log.warn({ err: error }, 'idle database connection lost; the pool reconnects on demand'),
    });
    const redis = createRedis(config.REDIS_URL, 'producer');
    // An unreachable Redis must not crash the API: readiness reports it and requests fail with 503.
    logConnectionErrors(redis, app.log as Logger);
    const queues = createQueues(redis, config.QUEUE_PREFIX);
    // The queues share that connection and re-emit its errors, which are logged above.
    for (const queue of Object.values(queues)) queue.on('error', () => {});

    app.decorate('config', config);
    app.decorate('registry', registry);
    app.decorate('db', db);
    app.decorate('redis', redis);
    app.decorate('queues', queues);

    app.addHook('onClose', async () => {
      await closeQueues(queues);
      redis.disconnect();
      await db.destroy();
    });
  },
  { name: 'shipshape-resources' },
);
