import { QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { JobContext } from '../../src/jobs/contract.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { weeklyReport } from '../../src/jobs/reports/weekly-report.js';
import { summaryLines, UNLOGGED_JOBS } from '../../src/jobs/reports/report-text.js';
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

/** Inserts a maintenance_logs row `daysAgo` days before now, by the scheduler unless `requestedBy` names a person. */
async function logRun(
  job: string,
  daysAgo: number,
  result: 'success' | 'failure',
  summary: Record<string, unknown> | null,
  notes: string | null = null,
  requestedBy = 'scheduler',
) {
  await database.db
    .insertInto('maintenance_logs')
    .values({
      type: requestedBy === 'scheduler' ? 'routine' : 'scheduled',
      action: job,
      performed_by: requestedBy,
      duration: '2 seconds',
      result,
      notes,
      job_name: job,
      job_id: `${job}-${daysAgo}-${result}-${requestedBy}`,
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
    expect(result.noRunThisWeek).toEqual(['performance-analysis', 'backup-database', 'verify-backup', 'health-check']);

    const response = await app.inject({ method: 'GET', url: `/api/reports/${result.reportId}` });
    expect(response.statusCode, response.body).toBe(200);
    const report = response.json();
    expect(report.kind).toBe('weekly');
    expect(report.emailId).toBe(result.emailId);
    const text: string = report.text;
    expect(text).toContain('== Token cleanup ==\nRuns this week: 1 (0 failed, 1 by the scheduler)\nLatest scheduled run: ');
    expect(text).toContain('  deleted: 42\n');
    expect(text).toContain('  sessions.deleted: 5\n');
    expect(text).toContain('== Storage cleanup ==\nRuns this week: 2 (1 failed, 2 by the scheduler)');
    expect(text).toContain('  orphans: 1, 2, 3\n');
    expect(text).toContain('== Performance analysis ==\nNo run this week.');
    expect(text).toContain('== Security review ==\nRuns this week: 1 (0 failed, 0 by the scheduler)\nLatest run (dry run, requested by ');
    expect(text).toContain('  dryRun: true\n');
    expect(text).toContain('== Health checks ==\nNo health check has run yet.');
    expect(text).toContain('Not listed: dispatch-alerts, metrics-update, send-email write no maintenance_logs row.');
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

  it('builds the health section from the health tables', async () => {
    const ago = (days: number) => new Date(Date.now() - days * DAY_MS);
    await database.db
      .insertInto('health_check_state')
      .values([
        { component: 'database', status: 'pass', since: ago(2), output: null, checked_at: ago(0.001) },
        { component: 'storage', status: 'fail', since: ago(1), output: 'disk 97% full', checked_at: ago(0.001) },
      ])
      .execute();
    type Status = 'pass' | 'warn' | 'fail';
    const change = (component: string, status: Status, previous: Status, daysAgo: number) => ({
      component, kind: 'change' as const, status, previous_status: previous, output: null, measurements: '[]', checked_at: ago(daysAgo),
    });
    await database.db
      .insertInto('health_check_history')
      .values([
        change('database', 'fail', 'pass', 3),
        change('database', 'pass', 'fail', 2),
        change('storage', 'warn', 'pass', 4),
        change('storage', 'fail', 'warn', 1),
        // Outside the week: not counted.
        change('storage', 'fail', 'pass', 20),
        { component: 'storage', kind: 'sample', status: 'fail', previous_status: null, output: null, measurements: '[]', checked_at: ago(0.5) },
      ])
      .execute();

    const result = await run('weekly-report', { email: false });

    expect(result.noRunThisWeek).not.toContain('health-check');
    expect(result.health.components).toEqual([
      expect.objectContaining({ component: 'database', status: 'pass', changes: 2, failures: 1 }),
      expect.objectContaining({ component: 'storage', status: 'fail', changes: 2, failures: 1 }),
    ]);
    const text = (await database.db.selectFrom('reports').select('body').where('id', '=', result.reportId).executeTakeFirstOrThrow()).body;
    expect(text).toContain('== Health checks ==\nChecks ran this week; latest result ');
    expect(text).toContain('Status changes this week: 4 changes (2 to fail)');
    expect(text).toMatch(/^ {2}database: pass since \S+ \S+ UTC, 2 changes \(1 to fail\), checked /m);
    expect(text).toMatch(/^ {2}storage: fail since \S+ \S+ UTC, 2 changes \(1 to fail\), checked .*: disk 97% full$/m);
    expect(text).not.toMatch(/== Health checks ==\nNo run this week/);
  });

  it('prints findings and prefers the scheduled run', async () => {
    const ipBursts = Array.from({ length: 12 }, (_, index) => ({ maxInWindow: 40 - index, ip: `203.0.113.${index + 1}`, failures: 50, allowlisted: false }));
    await logRun('security-review', 2, 'success', {
      wouldBlock: [],
      dryRun: false,
      ipBursts,
      manyIpAccounts: [{ ips: 15, account: 'victim@fleetmail.example', failures: 15 }],
      failedLogins: { attempts: 900, topIps: [{ ip: '203.0.113.1', failures: 40 }], byReason: { unknown_account: 3, invalid_password: 90 } },
      thresholds: { limits: { deep: { deeper: { deepest: 1 } } } },
    });
    // Later runs on request, one of them a dry run: the section still shows the scheduler's run.
    await logRun('security-review', 1, 'success', { dryRun: false, ipBursts: [] }, null, 'alice');
    await logRun('dependency-audit', 1, 'success', {
      problems: ['Dependency audit of /srv could not reach the registry or read the project: npm audit failed: ECONNREFUSED'],
      audit: { ok: false, error: 'ECONNREFUSED' },
    });

    const result = await run('weekly-report', { email: false });
    const text = (await database.db.selectFrom('reports').select('body').where('id', '=', result.reportId).executeTakeFirstOrThrow()).body;
    const section = text.slice(text.indexOf('== Security review =='), text.indexOf('== Performance analysis =='));

    expect(section).toContain('Latest scheduled run: ');
    expect(section).not.toContain('alice');
    const lines = section.split('\n');
    const bursts = lines.indexOf('  ipBursts: 12 items');
    expect(bursts).toBeGreaterThan(0);
    expect(lines[bursts + 1]).toBe('    - ip=203.0.113.1, allowlisted=false, failures=50, maxInWindow=40');
    expect(lines[bursts + 10]).toBe('    - ip=203.0.113.10, allowlisted=false, failures=50, maxInWindow=31');
    expect(lines[bursts + 11]).toBe('    - and 2 more');
    expect(section).toContain('    - account=victim@fleetmail.example, failures=15, ips=15\n');
    expect(section).toContain('    - ip=203.0.113.1, failures=40\n');
    expect(section).toContain('  failedLogins.byReason.invalid_password: 90\n  failedLogins.byReason.unknown_account: 3\n');
    expect(section).toContain('  thresholds.limits.deep.deeper: {"deepest":1}\n');
    expect(section).not.toContain('{...}');
    // Findings first, in the section's order, before the other values.
    expect(section.indexOf('ipBursts')).toBeLessThan(section.indexOf('manyIpAccounts'));
    expect(section.indexOf('manyIpAccounts')).toBeLessThan(section.indexOf('dryRun'));

    expect(text).toContain('== Dependency audit ==');
    expect(text).toContain('  problems: 1 item\n    - Dependency audit of /srv could not reach the registry or read the project: npm audit failed: ECONNREFUSED\n');
    expect(text).toMatch(/== Other jobs this week ==\n(?:(?!dependency-audit).)*$/s);
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
        b: { d: { f: 'x', e: 1 }, c: true, g: { h: { i: { j: 1 } } } },
        a: 1,
        list: ['203.0.113.66'],
        long: Array.from({ length: 12 }, (_, index) => index),
        rows: [{ note: 'n', id: 1 }],
        empty: [],
        text: 'x'.repeat(200),
      notes: ['y'.repeat(120)],
        none: null,
      }),
    ).toEqual([
      'a: 1',
      'b.c: true',
      'b.d.e: 1',
      'b.d.f: x',
      'b.g.h.i: {"j":1}',
      'empty: none',
      'list: 203.0.113.66',
      'long: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, and 2 more',
      'none: -',
      'notes: 1 item',
      `  - ${'y'.repeat(120)}`,
      'rows: 1 item',
      '  - id=1, note=n',
      `text: ${'x'.repeat(157)}...`,
    ]);
  });

  it('lists every job that writes no maintenance_logs row', () => {
    const unlogged = jobDefinitions.filter((definition) => definition.logRuns === false).map((definition) => definition.name);
    expect(unlogged.filter((name) => name !== 'health-check').sort()).toEqual([...UNLOGGED_JOBS]);
    expect(unlogged).toContain('health-check');
  });
});
