import fp from 'fastify-plugin';
import { LatencyRecorder } from '../../metrics/latency-history.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Response times per endpoint, added to Redis each minute for the api-performance job. */
    latencyRecorder: LatencyRecorder;
  }
}

const FLUSH_INTERVAL_MS = 60_000;
const CLOSE_FLUSH_TIMEOUT_MS = 2000;

/**
 * Records the response time of every request by method and route pattern, and
 * adds the counts to Redis once a minute and at close, so a history per hour
 * outlives the API process.
 */
export const latencyHistoryPlugin = fp(
  async (app) => {
    const recorder = new LatencyRecorder();
    app.decorate('latencyRecorder', recorder);
    const prefix = app.config.QUEUE_PREFIX;

    app.addHook('onResponse', async (request, reply) => {
      recorder.record(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`, reply.elapsedTime, reply.statusCode);
    });

    let failures = 0;
    const flush = async () => {
      try {
        await recorder.flush(app.redis, prefix);
        failures = 0;
      } catch (error) {
        // Logged once per streak of failures, because the Redis connection reports its own outage.
        if (failures === 0) app.log.warn({ err: error }, 'saving API response times to Redis failed; they are kept for the next attempt');
        failures += 1;
      }
    };
    const timer = setInterval(() => void flush(), FLUSH_INTERVAL_MS);
    timer.unref();

    app.addHook('onClose', async () => {
      clearInterval(timer);
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([flush(), new Promise((resolve) => (deadline = setTimeout(resolve, CLOSE_FLUSH_TIMEOUT_MS)))]);
      clearTimeout(deadline);
    });
  },
  { name: 'shipshape-latency-history', dependencies: ['shipshape-resources'] },
);
