import type { AlertSeverity } from '../../db/schema.js';
import { insertEmail } from '../email/email-queue.js';
import { criticalAlertEmail, digestEmail } from './alert-emails.js';
import { scheduleAfterCommit, type AlertDependencies } from './alerts.js';
import { escalationLevels } from './escalation.js';

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

type DigestSeverity = Exclude<AlertSeverity, 'critical'>;

/**
 * Returns the end of the last complete window for a severity at `now`. Windows
 * are aligned to UTC midnight, so with 15 minutes they end at :00, :15, :30 and
 * :45. The low-alert summary window ends daily at ALERT_SUMMARY_HOUR UTC.
 */
export function lastWindowEnd(severity: DigestSeverity, now: Date, deps: Pick<AlertDependencies, 'config'>): Date {
  const { config } = deps;
  if (severity === 'low') {
    const todayAtHour = Math.floor(now.getTime() / DAY_MS) * DAY_MS + config.ALERT_SUMMARY_HOUR * 60 * MINUTE_MS;
    return new Date(now.getTime() >= todayAtHour ? todayAtHour : todayAtHour - DAY_MS);
  }
  const minutes = severity === 'high' ? config.ALERT_HIGH_WINDOW_MINUTES : config.ALERT_MEDIUM_WINDOW_MINUTES;
  const windowMs = minutes * MINUTE_MS;
  return new Date(Math.floor(now.getTime() / windowMs) * windowMs);
}

export interface DispatchSummary {
  digests: Array<{ severity: DigestSeverity; alerts: number; emailId: number; windowEnd: string }>;
  escalations: Array<{ alertId: number; level: number; to: string; emailId: number }>;
}

/**
 * Sends the digests whose window has closed and escalates unacknowledged
 * critical alerts. Safe to run on several workers at once: a digest is keyed
 * by severity and window end, and an escalation step only applies to the
 * level it read.
 */
export async function dispatchAlerts(deps: AlertDependencies, now: Date): Promise<DispatchSummary> {
  const summary: DispatchSummary = { digests: [], escalations: [] };
  const emailIds: number[] = [];

  for (const severity of ['high', 'medium', 'low'] as const) {
    const windowEnd = lastWindowEnd(severity, now, deps);
    const digest = await deps.db.transaction().execute(async (trx) => {
      const alerts = await trx
        .selectFrom('alerts')
        .selectAll()
        .where('severity', '=', severity)
        .where('notified_at', 'is', null)
        .where('status', '<>', 'resolved')
        .where('first_seen_at', '<', windowEnd)
        .orderBy('id')
        .forUpdate()
        .execute();
      if (alerts.length === 0) return undefined;

      const emailId = await insertEmail(trx, digestEmail(severity, alerts, windowEnd, deps.config.ALERT_EMAIL_TO));
      const claimed = await trx
        .insertInto('alert_digests')
        .values({ severity, window_end: windowEnd, alert_count: alerts.length, email_id: emailId })
        .onConflict((conflict) => conflict.columns(['severity', 'window_end']).doNothing())
        .returning('email_id')
        .executeTakeFirst();
      if (!claimed) {
        // Another worker sent this window's digest; these alerts arrived after it and go out with the next one.
        await trx.deleteFrom('email_queue').where('id', '=', emailId).execute();
        return undefined;
      }
      await trx
        .updateTable('alerts')
        .set({ notified_at: now })
        .where('id', 'in', alerts.map((alert) => alert.id))
        .execute();
      return { severity, alerts: alerts.length, emailId, windowEnd: windowEnd.toISOString() };
    });
    if (digest) {
      summary.digests.push(digest);
      emailIds.push(digest.emailId);
    }
  }

  const levels = escalationLevels(deps.config);
  for (const next of levels.slice(1)) {
    const due = await deps.db
      .selectFrom('alerts')
      .selectAll()
      .where('severity', '=', 'critical')
      .where('status', '=', 'open')
      .where('escalation_level', '=', next.level - 1)
      .where('escalated_at', '<=', new Date(now.getTime() - next.afterMinutes * MINUTE_MS))
      .execute();

    for (const alert of due) {
      const emailId = await deps.db.transaction().execute(async (trx) => {
        const stepped = await trx
          .updateTable('alerts')
          .set({ escalation_level: next.level, escalated_at: now })
          .where('id', '=', alert.id)
          .where('status', '=', 'open')
          .where('escalation_level', '=', next.level - 1)
          .returningAll()
          .executeTakeFirst();
        if (!stepped) return undefined;
        return insertEmail(trx, criticalAlertEmail(stepped, next.level, next.to));
      });
      if (emailId === undefined) continue;
      summary.escalations.push({ alertId: alert.id, level: next.level, to: next.to, emailId });
      emailIds.push(emailId);
      deps.logger.warn({ alertId: alert.id, level: next.level }, 'critical alert escalated: not acknowledged in time');
    }
  }

  await scheduleAfterCommit(deps, emailIds);
  return summary;
}
