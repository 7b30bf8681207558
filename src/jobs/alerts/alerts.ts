import type { Queue } from 'bullmq';
import { sql } from 'kysely';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { AlertRow, AlertSeverity } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import { insertEmail, scheduleSend, sendJobOptions } from '../email/email-queue.js';
import { criticalAlertEmail, resolvedAlertEmail } from './alert-emails.js';
import { escalationLevels } from './escalation.js';

/*
 * Alerts: what any job raises when something needs a person.
 *
 * Routing by severity: a critical alert is emailed at once to the first
 * escalation level, and dispatch-alerts escalates it until someone
 * acknowledges it. High and medium alerts are grouped into one email per
 * window, and low ones go into the daily summary. While an alert is
 * unresolved, raising its key again counts an occurrence on the same row and
 * sends nothing, unless the repeat raises the alert to critical.
 */

// Most severe first, for comparing severities in SQL.
const SEVERITY_ORDER = sql`array['critical', 'high', 'medium', 'low']`;

export interface AlertInput {
  severity: AlertSeverity;
  /** The job or component that raised it, for example `health-check`. */
  source: string;
  /** Deduplication key: the same condition always raises the same key. */
  key: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface AlertDependencies {
  db: Db;
  emailQueue: Queue;
  config: Config;
  logger: Pick<Logger, 'info' | 'warn'>;
}

export interface RaisedAlert {
  alert: AlertRow;
  /** False when the key was already open and this call counted an occurrence. */
  created: boolean;
  emailId: number | null;
}

/**
 * Enqueues the send jobs of messages already committed to email_queue. When
 * Redis fails here the messages stay pending, and process-email-queue sends
 * them on its next run.
 */
export async function scheduleAfterCommit(deps: AlertDependencies, emailIds: number[]): Promise<void> {
  for (const emailId of emailIds) {
    try {
      await scheduleSend(deps.emailQueue, emailId, 'alert', sendJobOptions(deps.config));
    } catch (error) {
      deps.logger.warn({ err: error, emailId }, 'alert email stays pending: enqueueing its send job failed');
    }
  }
}

/** Records an alert, or counts a repeat of an unresolved one, and emails a new critical alert at once. */
export async function raiseAlert(deps: AlertDependencies, input: AlertInput, now = new Date()): Promise<RaisedAlert> {
  const firstLevel = escalationLevels(deps.config)[0];

  const result = await deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('alerts')
      .values({
        severity: input.severity,
        source: input.source,
        dedup_key: input.key,
        message: input.message,
        details: input.details ? JSON.stringify(input.details) : null,
        first_seen_at: now,
        last_seen_at: now,
      })
      .onConflict((conflict) =>
        conflict
          .column('dedup_key')
          .where('status', '<>', 'resolved')
          .doUpdateSet({
            occurrences: sql`alerts.occurrences + 1`,
            last_seen_at: now,
            // A repeat can raise the severity, never lower it. The message stays the first one.
            severity: sql`case when array_position(${SEVERITY_ORDER}, excluded.severity) < array_position(${SEVERITY_ORDER}, alerts.severity) then excluded.severity else alerts.severity end`,
            details: input.details ? JSON.stringify(input.details) : null,
          }),
      )
      .returningAll()
      // xmax is 0 on a freshly inserted row version and set on an updated one.
      .returning(sql<boolean>`xmax = 0`.as('created'))
      .executeTakeFirstOrThrow();
    const { created, ...alert } = row;

    // A critical alert at escalation level 0 was just created, or just raised to critical by a repeat.
    if (alert.severity !== 'critical' || alert.escalation_level > 0 || !firstLevel) return { alert, created, emailId: null };

    const emailId = await insertEmail(trx, criticalAlertEmail(alert, 1, firstLevel.to));
    const notified = await trx
      .updateTable('alerts')
      .set({ notified_at: now, escalation_level: 1, escalated_at: now })
      .where('id', '=', alert.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { alert: notified, created, emailId };
  });

  deps.logger.info(
    { alertId: result.alert.id, severity: input.severity, key: input.key, created: result.created },
    result.created ? 'alert raised' : 'alert repeated',
  );
  if (result.emailId !== null) await scheduleAfterCommit(deps, [result.emailId]);
  return result;
}

export type AlertTransition = { outcome: 'done'; alert: AlertRow } | { outcome: 'not-found' } | { outcome: 'conflict'; alert: AlertRow };

/** Explains why a state change matched no row: the alert is missing, or in a state that forbids the change. */
async function failedTransition(db: Db, id: number): Promise<AlertTransition> {
  const existing = await db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
  return existing ? { outcome: 'conflict', alert: existing } : { outcome: 'not-found' };
}

/** Marks an open alert acknowledged, which stops its escalation. */
export async function acknowledgeAlert(db: Db, id: number, by: string, now = new Date()): Promise<AlertTransition> {
  const alert = await db
    .updateTable('alerts')
    .set({ status: 'acknowledged', acknowledged_at: now, acknowledged_by: by })
    .where('id', '=', id)
    .where('status', '=', 'open')
    .returningAll()
    .executeTakeFirst();
  if (alert) return { outcome: 'done', alert };
  return failedTransition(db, id);
}

/**
 * Resolves an alert. A critical or high alert that was emailed gets one
 * "resolved" email to the same people: every escalation level reached, or
 * ALERT_EMAIL_TO for a high alert.
 */
export async function resolveAlert(deps: AlertDependencies, id: number, by: string, now = new Date()): Promise<AlertTransition> {
  const levels = escalationLevels(deps.config);

  const result = await deps.db.transaction().execute(async (trx) => {
    const alert = await trx
      .updateTable('alerts')
      .set({ status: 'resolved', resolved_at: now, resolved_by: by })
      .where('id', '=', id)
      .where('status', '<>', 'resolved')
      .returningAll()
      .executeTakeFirst();
    if (!alert) return { alert: undefined, emailId: null };

    const notify = alert.notified_at !== null && (alert.severity === 'critical' || alert.severity === 'high');
    if (!notify) return { alert, emailId: null };

    const recipients =
      alert.severity === 'critical'
        ? levels.filter((level) => level.level <= alert.escalation_level).map((level) => level.to).join(',')
        : deps.config.ALERT_EMAIL_TO;
    const emailId = await insertEmail(trx, resolvedAlertEmail(alert, recipients));
    const updated = await trx
      .updateTable('alerts')
      .set({ resolution_notified_at: now })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { alert: updated, emailId };
  });

  if (!result.alert) return failedTransition(deps.db, id);
  deps.logger.info({ alertId: id, by }, 'alert resolved');
  if (result.emailId !== null) await scheduleAfterCommit(deps, [result.emailId]);
  return { outcome: 'done', alert: result.alert };
}

/** Resolves the unresolved alert with this key, if any; for jobs that detect recovery. */
export async function resolveAlertByKey(deps: AlertDependencies, key: string, by: string, now = new Date()): Promise<AlertTransition> {
  const open = await deps.db.selectFrom('alerts').select('id').where('dedup_key', '=', key).where('status', '<>', 'resolved').executeTakeFirst();
  if (!open) return { outcome: 'not-found' };
  return resolveAlert(deps, open.id, by, now);
}

