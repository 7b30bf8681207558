import type { Queue } from 'bullmq';
import { sql } from 'kysely';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import { raiseAlert, resolveAlertByKey, type AlertDependencies } from '../alerts/alerts.js';
import { escalationLevels } from '../alerts/escalation.js';
import type { Mailer } from '../email/mailer.js';
import type { AlertAction } from './transitions.js';

export interface HealthAlertDependencies {
  db: Db;
  emailQueue: Queue;
  config: Config;
  mailer: Mailer;
  logger: Logger;
}

const SOURCE = 'health-check';

function alertDeps(deps: HealthAlertDependencies): AlertDependencies {
  return { db: deps.db, emailQueue: deps.emailQueue, config: deps.config, logger: deps.logger };
}

/** Applies one alert action through the alerts table, which emails it as its severity requires. */
export async function applyAlert(deps: HealthAlertDependencies, action: AlertAction): Promise<void> {
  if (action.type === 'resolve') {
    await resolveAlertByKey(alertDeps(deps), action.key, SOURCE, new Date(action.at));
    return;
  }
  await raiseAlert(alertDeps(deps), { severity: action.severity, source: SOURCE, key: action.key, message: action.message, details: action.details }, new Date(action.at));
}

/**
 * Sends a critical alert straight through the mailer, to the first escalation
 * level, for when Postgres cannot take the alert row (and its email_queue row).
 * Returns the time it was sent.
 */
export async function emailAlertDirectly(deps: HealthAlertDependencies, action: Extract<AlertAction, { type: 'raise' }>): Promise<string> {
  const to = escalationLevels(deps.config)[0]?.to ?? deps.config.ALERT_EMAIL_TO;
  await deps.mailer.send({
    to,
    subject: `[CRITICAL] ${SOURCE}: ${action.message}`,
    text: [
      action.message,
      '',
      `Severity:    ${action.severity}`,
      `Source:      ${SOURCE}`,
      `Key:         ${action.key}`,
      `First seen:  ${action.at}`,
      `Details:     ${JSON.stringify(action.details)}`,
      '',
      'Shipshape could not store this alert because PostgreSQL is unreachable, so it was sent directly.',
      'It appears in GET /api/alerts, where it can be acknowledged, once the database is back.',
    ].join('\n'),
  });
  return new Date().toISOString();
}

/**
 * Records an alert that was already emailed directly: the row is stored as
 * notified at escalation level 1, so neither raiseAlert nor dispatch-alerts
 * sends the first email again, and escalation continues from the send time.
 */
export async function recordEmailedAlert(deps: HealthAlertDependencies, action: Extract<AlertAction, { type: 'raise' }>, emailedAt: string): Promise<void> {
  await deps.db
    .insertInto('alerts')
    .values({
      severity: action.severity,
      source: SOURCE,
      dedup_key: action.key,
      message: action.message,
      details: JSON.stringify(action.details),
      first_seen_at: action.at,
      last_seen_at: action.at,
      notified_at: emailedAt,
      escalation_level: 1,
      escalated_at: emailedAt,
    })
    .onConflict((conflict) =>
      conflict.column('dedup_key').where('status', '<>', 'resolved').doUpdateSet({ occurrences: sql`alerts.occurrences + 1`, last_seen_at: action.at }),
    )
    .execute();
}
