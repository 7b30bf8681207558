import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { defineJob } from '../contract.js';
import { insertEmail, scheduleSend, sendJobOptions } from '../email/email-queue.js';
import { readHealthWeek } from './health-week.js';
import { WEEKLY_SECTIONS, weeklyReportText, type JobWeek } from './report-text.js';

const REPORT_KIND = 'weekly';
// Left out of the report: send-email runs once per message, and the reports would list themselves.
const LEFT_OUT = ['send-email', 'weekly-report'];
/** The note the worker stores on a dry run; older summaries may lack `dryRun`. */
const DRY_RUN_NOTE = 'dry run: nothing was changed';

/**
 * Reads, per job, the number of runs and failures in the period and the run
 * its section shows. That run is the latest scheduler run that was not a dry
 * run, else the latest run that was not a dry run, else the latest run.
 */
async function readWeek(db: Db, days: number): Promise<{ start: Date; end: Date; weeks: Map<string, JobWeek> }> {
  const { rows: period } = await sql<{ start: Date; end: Date }>`select now() - make_interval(days => ${days}) as start, now() as end`.execute(db);
  const { start, end } = period[0]!;
  const dryRun = sql<boolean>`(coalesce(notes = ${DRY_RUN_NOTE}, false) or coalesce(summary->>'dryRun' = 'true', false))`;

  const counts = await db
    .selectFrom('maintenance_logs')
    .select([
      'job_name',
      sql<number>`count(*)::int`.as('runs'),
      sql<number>`count(*) filter (where result = 'failure')::int`.as('failures'),
      sql<number>`count(*) filter (where type = 'routine')::int`.as('scheduled'),
    ])
    .where('created_at', '>=', start)
    .where('job_name', 'not in', LEFT_OUT)
    .groupBy('job_name')
    .execute();
  const chosen = await db
    .selectFrom('maintenance_logs')
    .distinctOn('job_name')
    .selectAll()
    .select(dryRun.as('dry_run'))
    .where('created_at', '>=', start)
    .where('job_name', 'not in', LEFT_OUT)
    .orderBy('job_name')
    .orderBy(sql`type = 'routine' and not ${dryRun}`, 'desc')
    .orderBy(sql`not ${dryRun}`, 'desc')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();

  const weeks = new Map<string, JobWeek>();
  for (const row of counts) weeks.set(row.job_name, { job: row.job_name, runs: row.runs, failures: row.failures, scheduledRuns: row.scheduled, latest: null });
  for (const row of chosen) {
    const week = weeks.get(row.job_name);
    if (!week) continue;
    week.latest = {
      id: row.id,
      at: row.created_at,
      result: row.result,
      type: row.type,
      performedBy: row.performed_by,
      duration: row.duration,
      notes: row.notes,
      dryRun: row.dry_run,
      summary: row.summary,
    };
  }
  return { start, end, weeks };
}

/**
 * Writes the weekly maintenance report. For each job of WEEKLY_SECTIONS it
 * shows the runs of the past week and the findings of its chosen run ("no run
 * this week" when it has none). Then come the health checks, from their own
 * tables, the monthly jobs that ran, and every other job that ran. One transaction stores
 * the report in `reports` and queues its email to REPORT_EMAIL_TO (default
 * ALERT_EMAIL_TO). A retried job finds its report by job id, so it writes no second one.
 */
export const weeklyReport = defineJob({
  name: 'weekly-report',
  queue: 'maintenance',
  description: "Write the weekly maintenance report from the week's job runs and email it",
  payload: Type.Object(
    {
      days: Type.Optional(Type.Integer({ minimum: 1, maximum: 31, description: 'Days covered, up to the database clock; default 7' })),
      email: Type.Optional(Type.Boolean({ description: 'Email the report; default true' })),
    },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const { db, config } = context;
    const days = payload.days ?? 7;
    const sendEmail = payload.email ?? true;
    const recipient = config.REPORT_EMAIL_TO ?? config.ALERT_EMAIL_TO;

    const week = await readWeek(db, days);
    const health = await readHealthWeek(db, week);
    const body = weeklyReportText(week, week.weeks, health);
    const title = `Weekly maintenance report, ${week.start.toISOString().slice(0, 10)} to ${week.end.toISOString().slice(0, 10)}`;
    const missing = WEEKLY_SECTIONS.filter((section) => !week.weeks.get(section.job)?.latest).map((section) => section.job);
    // health-check writes no maintenance_logs row; its latest result shows whether it ran.
    if (health.latestCheck === null || health.latestCheck < week.start) missing.push('health-check');
    const summary = {
      days,
      jobs: [...week.weeks.values()].map((entry) => ({ job: entry.job, runs: entry.runs, failures: entry.failures, scheduledRuns: entry.scheduledRuns })),
      noRunThisWeek: missing,
      health: {
        latestCheck: health.latestCheck?.toISOString() ?? null,
        components: health.components.map((component) => ({
          component: component.component,
          status: component.status,
          since: component.since.toISOString(),
          changes: component.changes,
          failures: component.failures,
        })),
      },
    };

    const stored = await db.transaction().execute(async (trx) => {
      const existing = await trx.selectFrom('reports').selectAll().where('job_id', '=', context.job.id).executeTakeFirst();
      if (existing) return { report: existing, reused: true };

      const report = await trx
        .insertInto('reports')
        .values({
          kind: REPORT_KIND,
          title,
          period_start: week.start,
          period_end: week.end,
          body,
          summary: JSON.stringify(summary),
          job_id: context.job.id,
          created_by: context.job.requestedBy,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      if (!sendEmail) return { report, reused: false };

      const emailId = await insertEmail(trx, { to: recipient, subject: `[Shipshape] ${title}`, text: body, source: 'report' });
      const updated = await trx.updateTable('reports').set({ email_id: emailId }).where('id', '=', report.id).returningAll().executeTakeFirstOrThrow();
      return { report: updated, reused: false };
    });

    const { report } = stored;
    // After the commit; when Redis fails here the message stays pending and process-email-queue sends it.
    if (report.email_id !== null) await scheduleSend(context.queues.email, report.email_id, 'weekly-report', sendJobOptions(config));

    await context.log(`report ${report.id} stored${report.email_id !== null ? `, email ${report.email_id} queued to ${recipient}` : ''}`);
    return {
      reportId: report.id,
      reused: stored.reused,
      emailId: report.email_id,
      recipient: report.email_id !== null ? recipient : null,
      periodStart: report.period_start.toISOString(),
      periodEnd: report.period_end.toISOString(),
      ...summary,
    };
  },
});
