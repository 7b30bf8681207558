import closeWithGrace from 'close-with-grace';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { runMain } from '../main-wrapper.js';
import { calendar } from '../queues/calendar.js';
import { checkRedis } from '../queues/connection.js';
import { syncSchedules } from '../queues/schedule-sync.js';
import { buildApp } from './app.js';

runMain(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, { process: 'api' });
  const app = await buildApp({ config, logger });
  // A failure before the server listens (Redis down, port taken) must end the
  // process: the open Redis and Postgres handles would otherwise keep it alive.
  try {
    await checkRedis(app.redis, config.REDIS_URL);
    await syncSchedules({
      queues: app.queues,
      calendar,
      queueOf: (job) => app.registry.queueOf(job),
      logger,
      db: app.db,
    });
    await app.listen({ host: config.HOST, port: config.PORT });
  } catch (error) {
    await app.close();
    throw error;
  }

  closeWithGrace({ delay: 10_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'api crashed; closing');
    else logger.info({ signal }, 'api shutting down');
    await app.close();
  });
});
