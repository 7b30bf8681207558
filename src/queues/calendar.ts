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
];
