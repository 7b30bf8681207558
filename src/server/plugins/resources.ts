import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { createDatabase, type Db } from '../../db/database.js';
import { calendar } from '../../queues/calendar.js';
import { createRedis } from '../../queues/connection.js';
import { closeQueues, createQueues, type Queues } from '../../queues/queues.js';
import { JobRegistry, jobDefinitions } from '../../jobs/registry.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Db;
    redis: Redis;
    queues: Queues;
    registry: JobRegistry;
  }
}

/**
 * Opens the API's database pool, Redis connection and BullMQ queues, checks
 * the job registry, and closes them all when the server closes.
 */
export const resourcesPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const registry = new JobRegistry(jobDefinitions, calendar);
    const db = createDatabase(config.DATABASE_URL, { max: 5, applicationName: 'shipshape-api', connectionTimeoutMillis: 5000 });
    const redis = createRedis(config.REDIS_URL, 'producer');
    // An unreachable Redis must not crash the API: readiness reports it and requests fail with 503.
    redis.on('error', (error) => app.log.warn({ err: error }, 'redis connection error'));
    const queues = createQueues(redis, config.QUEUE_PREFIX);
    for (const queue of Object.values(queues)) {
      queue.on('error', (error) => app.log.warn({ err: error, queue: queue.name }, 'queue error'));
    }

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
