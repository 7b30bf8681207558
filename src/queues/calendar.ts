/**
 * The runbook's calendar as data, in UTC. Each entry becomes one BullMQ job
 * scheduler whose id is the job name. An entry is added here when its job
 * exists; the registry check at start rejects an entry without a job.
 *
 * Cron trap: when both day-of-month and day-of-week are set, cron fires on
 * either. "First Sunday" is `0 2 * * 0#1` and "last Tuesday" is `* * * * 2L`
 * (cron-parser syntax, the parser BullMQ uses), never `1-7` plus a weekday.
 */
export type CalendarEntry = {
  job: string;
  /** When it runs, in the runbook's words. */
  description: string;
  payload?: Record<string, unknown>;
} & ({ pattern: string; every?: never } | { every: number; pattern?: never });

/** Every calendar entry runs in UTC, whatever the server's time zone. */
export const CALENDAR_TIME_ZONE = 'UTC';

export const calendar: readonly CalendarEntry[] = [
  { job: 'token-cleanup', pattern: '0 3 * * *', description: 'daily at 03:00 UTC' },
  // Not a runbook entry: without it, a message the platform inserts into
  // email_queue, or one whose job ran out of attempts, would wait for an operator.
  { job: 'process-email-queue', pattern: '*/10 * * * *', description: 'every 10 minutes' },
  // Alert routing: closes digest windows and escalates critical alerts, to the minute.
  { job: 'dispatch-alerts', every: 60_000, description: 'every minute' },
  { job: 'health-check', every: 30_000, description: 'every 30 seconds' },
  // Not a runbook entry: refreshes the database figures that /metrics serves.
  { job: 'metrics-update', every: 60_000, description: 'every minute' },
  // The nightly dump runs before verify-backup checks it at 04:00.
  { job: 'backup-database', pattern: '0 1 * * *', description: 'daily at 01:00 UTC' },
  { job: 'verify-backup', pattern: '0 4 * * *', description: 'daily at 04:00 UTC' },
  { job: 'full-backup', pattern: '0 2 * * 0#1', description: 'first Sunday of each month at 02:00 UTC' },
  { job: 'performance-analysis', pattern: '0 10 * * 3', description: 'Wednesdays at 10:00 UTC' },
  { job: 'security-review', pattern: '0 9 * * 1', description: 'Mondays at 09:00 UTC' },
  { job: 'security-audit', pattern: '0 8 15 * *', description: 'on the 15th of each month at 08:00 UTC' },
  { job: 'storage-cleanup', pattern: '0 2 * * 5', description: 'Fridays at 02:00 UTC' },
  { job: 'certificate-check', pattern: '0 6 1 * *', description: 'on the 1st of each month at 06:00 UTC' },
  // `2L` is cron-parser's "last Tuesday of the month"; a day-of-month range would mean "or".
  { job: 'dependency-audit', pattern: '0 6 * * 2L', description: 'last Tuesday of each month at 06:00 UTC' },
  // An hour after security-review, so the report covers its run and the week's Wednesday and Friday jobs.
  { job: 'weekly-report', pattern: '0 10 * * 1', description: 'Mondays at 10:00 UTC' },
];
