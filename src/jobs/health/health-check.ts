import { Type } from '@sinclair/typebox';
import { defineJob, type JobSummary } from '../contract.js';
import { runHealthCheck } from './run-health-check.js';

const SCHEDULER = 'scheduler';

/** Lists the components whose result in this run is fail, each with its problem. */
export function failingComponents(summary: JobSummary): string[] {
  const observed = (summary.observed ?? {}) as Record<string, string>;
  const problems = (summary.problems ?? {}) as Record<string, string>;
  return Object.entries(observed)
    .filter(([, status]) => status === 'fail')
    .map(([component]) => `${component}: ${problems[component] ?? 'failed'}`);
}

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
    const summary = await runHealthCheck({
      db: context.db,
      redis: context.redis,
      mailer: context.mailer,
      config: context.config,
      logger: context.logger,
      emailQueue: context.queues.email,
    });
    // A run someone requested (health:check-all, the daily script) fails when a component
    // fails, so its exit code shows it. Calendar runs complete: their record is the state and the alerts.
    if (context.job.requestedBy !== SCHEDULER) {
      const failing = failingComponents(summary);
      if (failing.length > 0) throw new Error(`health check failed: ${failing.join('; ')}`);
    }
    return summary;
  },
});
