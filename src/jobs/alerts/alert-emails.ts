import type { AlertRow, AlertSeverity } from '../../db/schema.js';
import type { NewEmail } from '../email/email-queue.js';

const describe = (alert: AlertRow) =>
  [
    `Severity:    ${alert.severity}`,
    `Source:      ${alert.source}`,
    `Key:         ${alert.dedup_key}`,
    `Occurrences: ${alert.occurrences}`,
    `First seen:  ${alert.first_seen_at.toISOString()}`,
    `Last seen:   ${alert.last_seen_at.toISOString()}`,
    ...(alert.details ? [`Details:     ${JSON.stringify(alert.details)}`] : []),
  ].join('\n');

/** Builds the email that sends a critical alert to one escalation level. */
export function criticalAlertEmail(alert: AlertRow, level: number, to: string): NewEmail {
  return {
    to,
    source: 'alert',
    subject: `[CRITICAL] ${alert.source}: ${alert.message}${level > 1 ? ` (escalation level ${level})` : ''}`,
    text: [
      alert.message,
      '',
      describe(alert),
      '',
      level > 1 ? `Escalated to level ${level}: nobody acknowledged this alert in time.\n` : '',
      `Acknowledge it to stop the escalation: POST /api/alerts/${alert.id}/ack`,
    ].join('\n'),
  };
}

/** Builds one email for the alerts of one severity collected over one window. */
export function digestEmail(severity: AlertSeverity, alerts: AlertRow[], windowEnd: Date, to: string): NewEmail {
  const title = severity === 'low' ? 'Daily summary of low alerts' : `${alerts.length} ${severity} alert${alerts.length === 1 ? '' : 's'}`;
  return {
    to,
    source: 'alert',
    subject: `[${severity.toUpperCase()}] ${title} up to ${windowEnd.toISOString()}`,
    text: alerts.map((alert) => `${alert.message}\n${describe(alert)}`).join('\n\n'),
  };
}

/** Builds the email that reports a critical or high alert resolved, for the people who received it. */
export function resolvedAlertEmail(alert: AlertRow, to: string): NewEmail {
  return {
    to,
    source: 'alert',
    subject: `[RESOLVED] ${alert.source}: ${alert.message}`,
    text: [
      `Resolved at ${alert.resolved_at?.toISOString() ?? 'unknown time'}${alert.resolved_by ? ` by ${alert.resolved_by}` : ''}.`,
      '',
      describe(alert),
    ].join('\n'),
  };
}
