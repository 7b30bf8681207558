import { Type } from '@sinclair/typebox';
import { databaseNow } from '../../db/clock.js';
import { readSlowQueries } from '../database/slow-query-report.js';
import { defineJob, type JobSummary } from '../contract.js';
import { DEFAULT_HOURS, DEFAULT_LIMIT, PerformanceWindow } from './api-performance.js';
import { endpointFigures, type EndpointFigures } from './latency-report.js';

/** Thresholds behind the recommendations, in milliseconds and percent. */
const SLOW_P95_MS = 500;
const SLOW_P99_MS = 2000;
const HIGH_ERROR_PERCENT = 1;
const HEAVY_QUERY_MEAN_MS = 100;
const QUERIES_LISTED = 10;

/** Returns advice for one endpoint from its figures, or an empty list when none of them crosses a threshold. */
export function routeAdvice(figures: EndpointFigures): string[] {
  const advice: string[] = [];
  if (figures.p95Ms !== null && figures.p95Ms >= SLOW_P95_MS) {
    advice.push(`p95 is ${figures.p95Ms} ms (over ${SLOW_P95_MS} ms): profile the handler and the queries it sends, and cache what it reads if it can be cached`);
  }
  if (figures.p99Ms !== null && figures.p99Ms >= SLOW_P99_MS && (figures.p95Ms ?? 0) < SLOW_P95_MS) {
    advice.push(`p99 is ${figures.p99Ms} ms while p95 is lower: look for lock waits, cold caches or a slow dependency on some requests`);
  }
  if (figures.errorPercent >= HIGH_ERROR_PERCENT) {
    advice.push(`${figures.errorPercent}% of requests failed with a 5xx status: read the API log for this route`);
  }
  if (figures.trend.direction === 'slower') {
    advice.push(`p95 rose ${figures.trend.changePercent}% against the window before: compare with recent deploys and data growth`);
  }
  return advice;
}

/**
 * Ranks the endpoints by the time the API spent on them (requests times mean
 * response time) and lists the heaviest database statements beside them, with
 * advice. It recommends and changes nothing.
 */
export const optimizeRoutes = defineJob({
  name: 'optimize-routes',
  queue: 'maintenance',
  description: 'Rank the slowest API endpoints beside the heaviest database queries, with advice; changes nothing',
  payload: Type.Object(PerformanceWindow, { additionalProperties: false }),
  role: 'viewer',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const hours = payload.hours ?? DEFAULT_HOURS;
    const limit = payload.limit ?? DEFAULT_LIMIT;
    const now = await databaseNow(context);

    const ranked = (await endpointFigures(context.redis, context.config.QUEUE_PREFIX, now, hours)).sort(
      (a, b) => b.totalSeconds - a.totalSeconds || (b.p95Ms ?? 0) - (a.p95Ms ?? 0),
    );
    const queries = await readSlowQueries(context.db, { limit: QUERIES_LISTED, minTotalMs: 0 });

    const routes = ranked.slice(0, limit).map((figures, index) => ({
      rank: index + 1,
      endpoint: figures.endpoint,
      requests: figures.requests,
      totalSeconds: figures.totalSeconds,
      meanMs: figures.meanMs,
      p95Ms: figures.p95Ms,
      p99Ms: figures.p99Ms,
      errorPercent: figures.errorPercent,
      trend: figures.trend.direction,
      advice: routeAdvice(figures),
    }));

    const heavyQueries: JobSummary[] = [];
    if (queries.installed) {
      for (const query of queries.queries) {
        const mean = typeof query.meanMs === 'number' ? query.meanMs : null;
        heavyQueries.push({
          ...query,
          advice:
            mean !== null && mean >= HEAVY_QUERY_MEAN_MS
              ? `mean ${mean} ms: run EXPLAIN (ANALYZE, BUFFERS) on it; performance-analysis lists missing and unused indexes`
              : null,
        });
      }
    }
    const needingWork = routes.filter((route) => route.advice.length > 0).length;
    await context.log(`${ranked.length} endpoints ranked, ${needingWork} with advice; database statements: ${queries.installed ? heavyQueries.length : 'pg_stat_statements not available'}`);

    return {
      window: { hours, to: now.toISOString() },
      changed: false,
      routes,
      routesWithAdvice: needingWork,
      databaseQueries: queries.installed
        ? { source: 'pg_stat_statements', statements: heavyQueries as JobSummary[] }
        : { source: 'pg_stat_statements', statements: [], notAvailable: queries.reason, fix: queries.fix },
    } as JobSummary;
  },
});
