import { Type } from '@sinclair/typebox';
import { collectDatabaseMetrics, storeDatabaseMetrics } from '../../metrics/database-metrics.js';
import { pushWorkerMetrics } from '../../metrics/worker-push.js';
import { defineJob } from '../contract.js';

export const metricsUpdate = defineJob({
  name: 'metrics-update',
  queue: 'health',
  description: 'Read the database figures /metrics serves (sessions, users, alerts, emails, failed runs) and push this worker’s job metrics',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'viewer',
  destructive: false,
  kind: 'routine',
  // It runs every minute; the figures it writes are the record.
  logRuns: false,
  async run(context) {
    const prefix = context.config.QUEUE_PREFIX;
    const figures = await collectDatabaseMetrics(context.db);
    await storeDatabaseMetrics(context.redis, prefix, figures);
    const metricFamilies = await pushWorkerMetrics(context.redis, prefix);
    return {
      activeSessions: figures.activeSessions,
      activeUsers: figures.activeUsers,
      openAlerts: figures.openAlerts,
      emails: figures.emails,
      failedRuns24h: figures.failedRuns24h,
      workerMetricFamiliesPushed: metricFamilies,
      readAt: new Date(figures.at).toISOString(),
    };
  },
});
