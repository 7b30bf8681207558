import Fastify from 'fastify';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createRedis } from '../src/queues/connection.js';
import { closeQueues, createQueues } from '../src/queues/queues.js';
import { buildApp } from '../src/server/app.js';

/*
 * One of the two servers `npm run bench:api` loads, started by it as a child
 * process with IPC: `full` is buildApp as deployed (settings from the
 * environment, pino at LOG_LEVEL on stdout), `bare` is a Fastify server with
 * one route that only calls queue.add. The child reports its port over IPC
 * and closes on SIGTERM.
 */

const mode = process.argv[2];
if (mode !== 'full' && mode !== 'bare') throw new Error(`usage: api-server.ts full|bare (got ${mode})`);

const config = loadConfig();

async function startFull() {
  const app = await buildApp({ config, logger: createLogger(config.LOG_LEVEL, { process: 'api' }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

async function startBare() {
  const redis = createRedis(config.REDIS_URL, 'producer');
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const app = Fastify({ logger: false });
  app.post<{ Params: { name: string }; Body: { data?: Record<string, unknown> } | undefined }>('/api/jobs/:name', async (request, reply) => {
    const job = await queues.maintenance.add(request.params.name, { payload: request.body?.data ?? {}, requestedBy: 'bench' });
    return reply.code(202).send({ id: String(job.id) });
  });
  app.addHook('onClose', async () => {
    await closeQueues(queues);
    redis.disconnect();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return app;
}

const app = mode === 'full' ? await startFull() : await startBare();
const address = app.server.address();
process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
