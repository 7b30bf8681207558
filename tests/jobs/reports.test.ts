import { QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { JobContext } from '../../src/jobs/contract.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { weeklyReport } from '../../src/jobs/reports/weekly-report.js';
import { summaryLines } from '../../src/jobs/reports/report-text.js';
import { calendar } from '../../src/queues/calendar.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('reports');
const DAY_MS = 86_400_000;
const RECIPIENT = 'reports@localhost';
let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let smtp: TestSmtpServer;
let events: QueueEvents;

const run = (name: string, data: Record<string, unknown> = {}) => runJobThroughApi(app, { maintenance: events }, name, data);

/** Inserts a maintenance_logs row `daysAgo` days before now. */
async function logRun(job: string, daysAgo: number, result: 'success' | 'failure', summary: Record<string, unknown> | null, notes: string | null = null) {
  await database.db
    .insertInto('maintenance_logs')
    .values({
      type: 'routine',
      action: job,
      performed_by: 'scheduler',
      duration: '2 seconds',
      result,
      notes,
      job_name: job,
      job_id: `${job}-${daysAgo}-${result}`,
      queue: 'maintenance',
      attempt: 1,
      summary: summary === null ? null : JSON.stringify(summary),
      created_at: new Date(Date.now() - daysAgo * DAY_MS),
    })
    .execute();
}

/** Returns the text of an email as sent: headers unfolded and quoted-printable soft breaks joined. */
const plain = (raw: string) => raw.replace(/\r\n[ \t]+/g, ' ').replace(/=\r\n/g, '');

beforeAll(async () => {
  database = await createTestDatabase('reports');
  smtp = await startSmtpServer();
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, SMTP_URL: smtp.url, REPORT_EMAIL_TO: RECIPIENT });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance', 'email'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();

  await logRun('token-cleanup', 2, 'success', { deleted: 42, sessions: { deleted: 5 } });
  await logRun('storage-cleanup', 3, 'failure', null, 'disk unreachable');
  await logRun('storage-cleanup', 1, 'success', { filesDeleted: 7, orphans: [1, 2, 3] });
  // Older than the week, so the section reports no run.
  await logRun('performance-analysis', 9, 'success', { slowQueries: 3 });
  await logRun('cache-stats', 1, 'success', { keys: 12 });
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await smtp?.stop();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('weekly-report', () => {
  it('stores, serves and emails the report', async () => {
    await run('security-review', { dryRun: true });

    const result = await run('weekly-report');

    expect(result.reportId).toBeGreaterThan(0);
    expect(result.recipient).toBe(RECIPIENT);
    expect(result.noRunThisWeek).toEqual(['performance-analysis', 'health-check', 'backup-database', 'verify-backup']);

    const response = await app.inject({ method: 'GET', url: `/api/reports/${result.reportId}` });
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json();
    expect(report.kind).toBe('weekly');
    expect(report.emailId).toBe(result.emailId);
    const text: string = report.text;
    expect(text).toContain('== Token cleanup ==\nRuns this week: 1 (0 failed)');
    expect(text).toContain('  deleted: 42\n');
    expect(text).toContain('  sessions.deleted: 5\n');
    expect(text).toContain('== Storage cleanup ==\nRuns this week: 2 (1 failed)');
    expect(text).toContain('  orphans: 1, 2, 3\n');
    expect(text).toContain('== Performance analysis ==\nNo run this week.');
    expect(text).toContain('== Security review ==\nRuns this week: 1 (0 failed)');
    expect(text).toContain('  dryRun: true\n');
    expect(text).toMatch(/^cache-stats\s+1\s+0\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC success$/m);
    expect(text).not.toContain('slowQueries');

    const message = await waitFor('the report email', () => smtp.received.find((received) => received.to.includes(RECIPIENT)));
    const sent = plain(message.raw);
    expect(sent).toContain('Subject: [Shipshape] Weekly maintenance report');
    expect(sent).toContain('deleted: 42');
    expect(sent).toContain('No run this week.');
    const email = await waitFor('the email row marked sent', async () => {
      const row = await database.db.selectFrom('email_queue').selectAll().where('id', '=', result.emailId).executeTakeFirst();
      return row?.status === 'sent' ? row : undefined;
    });
    expect(email.source).toBe('report');
  });

  it('retried run reuses its report', async () => {
    const context = {
      db: database.db,
      config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, REPORT_EMAIL_TO: RECIPIENT }),
      queues: app.queues,
      logger: pino({ level: 'silent' }),
      log: async () => {},
      progress: async () => {},
      job: { id: 'retried-1', name: 'weekly-report', queue: 'maintenance' as const, attempt: 1, requestedBy: 'test' },
      signal: new AbortController().signal,
    } as unknown as JobContext;
    const emailsBefore = await database.db.selectFrom('email_queue').select('id').execute();

    const first = await weeklyReport.run(context, {});
    const second = await weeklyReport.run({ ...context, job: { ...context.job, attempt: 2 } }, {});

    expect(first.reused).toBe(false);
    expect(second.reused).toBe(true);
    expect(second.reportId).toBe(first.reportId);
    expect(second.emailId).toBe(first.emailId);
    const emailsAfter = await database.db.selectFrom('email_queue').select('id').execute();
    expect(emailsAfter).toHaveLength(emailsBefore.length + 1);
    const reports = await database.db.selectFrom('reports').select('id').where('job_id', '=', 'retried-1').execute();
    expect(reports).toHaveLength(1);
  });

  it('lists reports a page at a time', async () => {
    for (let index = 0; index < 3; index++) await run('weekly-report', { email: false, days: 1 });

    const first = await app.inject({ method: 'GET', url: '/api/reports?limit=2' });
    expect(first.statusCode).toBe(200);
    const page = first.json();
    expect(page.items).toHaveLength(2);
    expect(page.items[0].id).toBeGreaterThan(page.items[1].id);
    expect(page.items[0].emailId).toBeNull();
    expect(page.items[0]).not.toHaveProperty('text');
    expect(page.nextBefore).toBe(page.items[1].id);

    const collected: number[] = page.items.map((item: { id: number }) => item.id);
    let before: number | null = page.nextBefore;
    while (before !== null) {
      const next = (await app.inject({ method: 'GET', url: `/api/reports?limit=2&before=${before}` })).json();
      expect(next.items.length).toBeGreaterThan(0);
      expect(next.items.length).toBeLessThanOrEqual(2);
      collected.push(...next.items.map((item: { id: number }) => item.id));
      before = next.nextBefore;
    }
    const stored = await database.db.selectFrom('reports').select('id').orderBy('id', 'desc').execute();
    expect(collected).toEqual(stored.map((row) => row.id));
    expect(collected.length).toBeGreaterThanOrEqual(4);
  });

  it('answers 404 for a missing report', async () => {
    const missing = await app.inject({ method: 'GET', url: '/api/reports/999999' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe('REPORT_NOT_FOUND');
    expect(missing.json().message).toContain('Report 999999 does not exist');

    const invalid = await app.inject({ method: 'GET', url: '/api/reports/abc' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().message).toContain('params.id');

    const badQuery = await app.inject({ method: 'GET', url: '/api/reports?limit=0' });
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json().message).toContain('limit');
  });

  it('fires on Mondays at 10:00, after the security review', () => {
    const entry = calendar.find((candidate) => candidate.job === 'weekly-report');
    const expression = CronExpressionParser.parse(entry!.pattern!, { tz: 'UTC', currentDate: new Date('2026-12-04T12:00:00Z') });
    expect([expression.next().toDate().toISOString(), expression.next().toDate().toISOString()]).toEqual([
      '2026-12-07T10:00:00.000Z',
      '2026-12-14T10:00:00.000Z',
    ]);
  });
});

describe('summaryLines', () => {
  it('flattens summaries for the report', () => {
    expect(
      summaryLines({
        a: 1,
        b: { c: true, d: { e: 1, f: 'x' }, g: { h: { i: 1 } } },
        list: ['203.0.113.66'],
        long: Array.from({ length: 9 }, (_, index) => index),
        rows: [{ id: 1 }],
        empty: [],
        text: 'x'.repeat(100),
        none: null,
      }),
    ).toEqual([
      'a: 1',
      'b.c: true',
      'b.d: e=1, f=x',
      'b.g: {...}',
      'list: 203.0.113.66',
      'long: 9 items',
      'rows: 1 item',
      'empty: none',
      `text: ${'x'.repeat(77)}...`,
      'none: -',
    ]);
  });
});
