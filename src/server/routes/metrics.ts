import fp from 'fastify-plugin';
import { createApiMetrics } from '../../metrics/api-metrics.js';

/**
 * GET /metrics in the Prometheus text format, and the onResponse hook that
 * times every API request by its route pattern (`/api/jobs/:name`, never the
 * raw URL, so the label set stays bounded). Requests that match no route are
 * counted under the route `unmatched`.
 */
export const metricsRoutes = fp(
  async (app) => {
    const metrics = createApiMetrics({ queues: app.queues, redis: app.redis, config: app.config, logger: app.log });

    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      metrics.observeRequest({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });

    app.get('/metrics', { schema: { summary: 'Prometheus metrics of the API and every live worker', tags: ['health'] } }, async (_request, reply) => {
      const body = await metrics.scrape();
      return reply.type(metrics.contentType).send(body);
    });
  },
  { name: 'shipshape-metrics', dependencies: ['shipshape-resources'] },
);
