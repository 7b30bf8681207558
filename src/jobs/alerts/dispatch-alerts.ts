import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { databaseNow } from '../../db/clock.js';
import { dispatchAlerts } from './dispatch.js';

export const dispatchAlertsJob = defineJob({
  name: 'dispatch-alerts',
  queue: 'email',
  description: 'Email the alert digests whose window closed and escalate unacknowledged critical alerts',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'routine',
  // It runs every minute; alert_digests, alerts and email_queue record what it sent.
  logRuns: false,
  async run(context) {
    const deps = { db: context.db, emailQueue: context.queues.email, config: context.config, logger: context.logger };
    const summary = await dispatchAlerts(deps, await databaseNow(deps));
    return { digests: summary.digests, escalations: summary.escalations };
  },
});
