import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { runHealthCheck } from './run-health-check.js';

export const healthCheck = defineJob({
  name: 'health-check',
  queue: 'health',
  description: 'Check API endpoints, database, storage, email, CPU and memory; record status changes and alert on them',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'viewer',
  destructive: false,
  kind: 'routine',
  // It runs every 30 seconds, 2,880 times a day. health_check_state,
  // health_check_history and alerts record its results, so a
  // maintenance_logs row per run would only bury the other jobs' rows.
  logRuns: false,
  async run(context) {
    return runHealthCheck({
      db: context.db,
      redis: context.redis,
      mailer: context.mailer,
      config: context.config,
      logger: context.logger,
      emailQueue: context.queues.email,
    });
  },
});
