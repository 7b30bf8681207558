import { Type } from '@sinclair/typebox';
import { databaseNow } from '../../db/clock.js';
import { defineJob, type JobSummary } from '../contract.js';
import { checkedUrlFigures, endpointFigures, windows } from './latency-report.js';

export const PerformanceWindow = {
  hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168, description: 'Length of the window in hours, compared with the window before it; default 24' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Endpoints listed at most; default 20' })),
};

export const DEFAULT_HOURS = 24;
export const DEFAULT_LIMIT = 20;

/**
 * Reports response-time percentiles and their trend per API endpoint, from the
 * API's own request history, and per URL the health checks call, from their
 * sampled results. Slowest first, by the 95th percentile.
 */
export const apiPerformance = defineJob({
  name: 'api-performance',
  queue: 'maintenance',
  description: 'Report response-time percentiles and trends per API endpoint and checked URL',
  payload: Type.Object(
    {
      ...PerformanceWindow,
      endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Only endpoints whose `METHOD /route` contains this text' })),
    },
    { additionalProperties: false },
  ),
  role: 'viewer',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const hours = payload.hours ?? DEFAULT_HOURS;
    const limit = payload.limit ?? DEFAULT_LIMIT;
    const now = await databaseNow(context);
    const { current, previous } = windows(now, hours);

    const all = await endpointFigures(context.redis, context.config.QUEUE_PREFIX, now, hours);
    const filter = payload.endpoint;
    const endpoints = all
      .filter((figures) => filter === undefined || figures.endpoint.includes(filter))
      .sort((a, b) => (b.p95Ms ?? 0) - (a.p95Ms ?? 0) || b.requests - a.requests);
    const checkedUrls = await checkedUrlFigures(context.db, now, hours);

    const requests = endpoints.reduce((sum, figures) => sum + figures.requests, 0);
    const slower = endpoints.filter((figures) => figures.trend.direction === 'slower').map((figures) => figures.endpoint);
    await context.log(`${endpoints.length} endpoints with ${requests} requests in the last ${hours} h; ${slower.length} slower than the window before`);

    const summary: JobSummary = {
      window: { from: current.from.toISOString(), to: current.to.toISOString(), hours },
      comparedWith: { from: previous.from.toISOString(), to: previous.to.toISOString() },
      requests,
      endpointCount: endpoints.length,
      endpoints: endpoints.slice(0, limit).map((figures) => ({ ...figures, trend: { ...figures.trend } })),
      slowerEndpoints: slower,
      checkedUrls: checkedUrls.map((figures) => ({ ...figures, trend: { ...figures.trend } })),
    };
    if (endpoints.length === 0) {
      summary.note = 'No API requests were recorded in the window; the API adds its counts to Redis once a minute';
    }
    return summary;
  },
});
