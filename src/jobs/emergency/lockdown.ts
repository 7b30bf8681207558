import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { countMatching } from '../../db/batches.js';
import { raiseAlert, resolveAlertByKey, type AlertDependencies } from '../alerts/alerts.js';
import { defineJob, type JobContext } from '../contract.js';
import { forceLogoutAll } from '../sessions/force-logout-all.js';
import { choiceValidator } from './payload-rules.js';
import { changeSettings, describeSettings } from './settings-state.js';

export const LOCKDOWN_MESSAGE = 'The platform is locked down by its operators. Please try again later.';
const ALERT_KEY = 'lockdown';

const alertDependencies = (context: JobContext): AlertDependencies => ({
  db: context.db,
  emailQueue: context.queues.email,
  config: context.config,
  logger: context.logger,
});

/**
 * Locks the platform down: maintenance mode on with a lockdown message,
 * `lockdown` on, every user logged out (the force-logout-all job's run), and
 * one critical alert. Off clears lockdown and maintenance mode and resolves
 * that alert, so the next lockdown raises and emails a new one.
 */
export const lockdown = defineJob({
  name: 'lockdown',
  queue: 'maintenance',
  description: 'Lock the platform down: maintenance mode, log every user out, critical alert; or lift it',
  payload: Type.Object(
    {
      on: Type.Optional(Type.Literal(true, { description: 'Lock the platform down' })),
      off: Type.Optional(Type.Literal(true, { description: 'Lift the lockdown and maintenance mode' })),
      dryRun: Type.Optional(Type.Boolean({ description: 'Report the current state and the sessions that would be revoked; change nothing' })),
    },
    { additionalProperties: false },
  ),
  validate: choiceValidator({ choices: ['on', 'off'] }),
  role: 'admin',
  destructive: true,
  kind: 'emergency',
  async run(context, payload) {
    const { db } = context;

    if (payload.dryRun) {
      const current = await db.selectFrom('platform_settings').selectAll().executeTakeFirstOrThrow();
      const sessions = payload.on ? await countMatching(db, 'user_sessions', sql`revoked_at is null`) : 0;
      return { dryRun: true, before: describeSettings(current), sessionsToRevoke: sessions };
    }

    if (payload.off) {
      const change = await changeSettings(
        db,
        { lockdown: false, maintenance_mode: false, maintenance_message: null, maintenance_until: null },
        context.job.requestedBy,
      );
      const resolved = await resolveAlertByKey(alertDependencies(context), ALERT_KEY, context.job.requestedBy);
      await context.log('lockdown lifted');
      return { dryRun: false, ...change, alertResolved: resolved.outcome === 'done' };
    }

    // The flags go first: the platform rejects requests from here on even if a
    // later step fails.
    const change = await changeSettings(
      db,
      { lockdown: true, maintenance_mode: true, maintenance_message: LOCKDOWN_MESSAGE, maintenance_until: null },
      context.job.requestedBy,
    );
    await context.log('lockdown on: maintenance mode set');

    const logout = await forceLogoutAll.run(context, {});

    const raised = await raiseAlert(alertDependencies(context), {
      severity: 'critical',
      source: 'lockdown',
      key: ALERT_KEY,
      message: `Platform locked down by ${context.job.requestedBy}; ${String(logout.sessionsRevoked)} sessions revoked`,
      details: { requestedBy: context.job.requestedBy, jobId: context.job.id, sessionsRevoked: logout.sessionsRevoked },
    });

    const after = await db.selectFrom('platform_settings').selectAll().executeTakeFirstOrThrow();
    return {
      dryRun: false,
      before: change.before,
      after: describeSettings(after),
      sessionsRevoked: logout.sessionsRevoked,
      tokensValidAfter: logout.tokensValidAfter,
      alertId: raised.alert.id,
      alertCreated: raised.created,
    };
  },
});
