import { Type } from '@sinclair/typebox';
import { databaseNow } from '../../db/clock.js';
import { defineJob, type JobContext, type JobSummary } from '../contract.js';
import { endpointFigures } from '../performance/latency-report.js';
import { resourceUtilization } from '../performance/resource-report.js';
import { findBloatedIndexes, findDuplicateIndexes, findInvalidIndexes, findUnusedIndexes } from './index-report.js';
import { findForeignKeyCovers, planIndexDrops } from './index-drops.js';
import { withReportSession, type PinnedConnection } from './maintenance-session.js';
import { recommend } from './recommendations.js';
import { findVacuumCandidates, readIndexSizes, readTableSizes } from './size-report.js';
import { readSlowQueries } from './slow-query-report.js';
import { SlowQueryFields } from './slow-queries.js';
import { readStatisticsAge, statisticsTooYoung } from './statistics-age.js';

/** Indexes smaller than this are never worth a REINDEX recommendation. */
const BLOAT_MIN_BYTES = 1_048_576;
/** An index this many times its estimated size is flagged for REINDEX. */
const BLOAT_RATIO = 2;
/** Tables and indexes listed in the size section. */
const SIZE_LIMIT = 20;
/** The API response-time section covers the week before the run, compared with the week before that. */
const API_WINDOW_HOURS = 7 * 24;
const API_ENDPOINTS_LISTED = 10;

/** Reads the API's response times of the past week per endpoint, slowest first, and the resources against their thresholds. */
async function serviceSections(context: JobContext) {
  const now = await databaseNow(context);
  const endpoints = await endpointFigures(context.redis, context.config.QUEUE_PREFIX, now, API_WINDOW_HOURS);
  endpoints.sort((a, b) => (b.p95Ms ?? 0) - (a.p95Ms ?? 0));
  const resources = await resourceUtilization(context.redis, context.db, context.config);
  return {
    apiResponseTimes: {
      windowHours: API_WINDOW_HOURS,
      endpoints: endpoints.slice(0, API_ENDPOINTS_LISTED).map((figures) => ({ ...figures, trend: { ...figures.trend } })),
      slower: endpoints.filter((figures) => figures.trend.direction === 'slower').map((figures) => figures.endpoint),
    },
    resources: resources.map((figure) => ({ ...figure })),
  };
}

/** Collects every section of the report on one connection, then derives the recommendations. */
async function analyze(context: JobContext, db: PinnedConnection, payload: { limit?: number; minTotalMs?: number }): Promise<JobSummary> {
  const slowQueries = await readSlowQueries(db, { limit: payload.limit ?? 20, minTotalMs: payload.minTotalMs ?? 1000 });
  await context.progress(25);

  const unused = await findUnusedIndexes(db);
  const duplicates = await findDuplicateIndexes(db);
  const invalid = await findInvalidIndexes(db);
  const bloated = await findBloatedIndexes(db, { minBytes: BLOAT_MIN_BYTES, ratio: BLOAT_RATIO });
  const statistics = await readStatisticsAge(db);
  const plan = planIndexDrops(
    { unused, duplicates, covers: await findForeignKeyCovers(db) },
    { statisticsDays: statistics.days, minStatisticsDays: context.config.INDEX_STATS_MIN_DAYS, minDropBytes: context.config.INDEX_DROP_MIN_BYTES },
  );
  await context.progress(60);

  const tables = await readTableSizes(db, SIZE_LIMIT);
  const indexes = await readIndexSizes(db, SIZE_LIMIT);
  const vacuum = await findVacuumCandidates(db);

  const recommendations = recommend({ drops: plan.drops, invalid, bloated, vacuum });
  const service = await serviceSections(context);
  const overThreshold = service.resources.filter((figure) => figure.status === 'over').map((figure) => figure.resource);
  await context.log(
    `${slowQueries.installed ? `${slowQueries.queries.length} slow statements` : 'pg_stat_statements not installed'}, ` +
      `${unused.length} unused, ${duplicates.length} duplicate sets, ${invalid.length} invalid indexes, ${recommendations.length} recommendations, ` +
      `${service.apiResponseTimes.slower.length} endpoints slower than the week before, resources over threshold: ${overThreshold.join(', ') || 'none'}`,
  );

  return {
    slowQueries,
    indexes: {
      statisticsSince: statistics.since,
      statistics: { ...statistics },
      // Why no unused index has a DROP recommendation this run; null when the statistics are old enough.
      unusedDropsWithheld: statisticsTooYoung(statistics, context.config.INDEX_STATS_MIN_DAYS),
      unused: plan.unused.map((row) => ({ ...row })),
      keptForForeignKeys: plan.keptForForeignKeys.map((row) => ({ ...row })),
      duplicates: duplicates.map((set) => ({ ...set })),
      invalid: invalid.map((row) => ({ ...row })),
      bloated: bloated.map((row) => ({ ...row })),
    },
    sizes: { tableCount: tables.total, tables: tables.tables, indexes },
    vacuumCandidates: vacuum.map((row) => ({ ...row })),
    ...service,
    resourcesOverThreshold: overThreshold,
    recommendations: recommendations.map((row) => ({ ...row })),
  };
}

/**
 * The weekly performance analysis (Wednesdays 10:00 UTC): slow statements,
 * index usage, sizes, and recommendations with the statement to run. It
 * reads statistics only and applies nothing.
 */
export const performanceAnalysis = defineJob({
  name: 'performance-analysis',
  queue: 'maintenance',
  description: 'Report slow queries, unused and duplicate indexes, sizes, and the statements that would fix what it finds',
  payload: Type.Object(SlowQueryFields, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    return withReportSession(context.db, context.config.DB_LOCK_TIMEOUT_MS, (db) => analyze(context, db, payload));
  },
});
