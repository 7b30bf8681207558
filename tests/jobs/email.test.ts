import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { enqueueEmail, sendJobId } from '../../src/jobs/email/email-queue.js';
import { createMailer } from '../../src/jobs/email/mailer.js';
import { dispatchAlerts } from '../../src/jobs/alerts/dispatch.js';
import { pino } from 'pino';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('email');
let database: TestDatabase;
let smtp: TestSmtpServer;
let config: Config;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let maintenanceEvents: QueueEvents;

async function emailRow(id: number) {
  return database.db.selectFrom('email_queue').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

const runJob = (name: string, data: Record<string, unknown> = {}) =>
  runJobThroughApi(app, { email: events, maintenance: maintenanceEvents }, name, data);

beforeAll(async () => {
  database = await createTestDatabase('email');
  smtp = await startSmtpServer();
  config = testConfig({
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Shipshape <maintenance@fleet.example>',
    EMAIL_ATTEMPTS: '2',
    EMAIL_BACKOFF_MS: '50',
  });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({
    db: database.db,
    config,
    servedQueues: ['email', 'maintenance'],
    definitions: jobDefinitions,
  });
  events = new QueueEvents('email', { connection: { url: TEST_REDIS_URL }, prefix });
  maintenanceEvents = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await Promise.all([events.waitUntilReady(), maintenanceEvents.waitUntilReady()]);
});

beforeEach(async () => {
  smtp.setRecipientRule(() => 'accept');
  smtp.received.length = 0;
  await sql`truncate email_queue, alerts, alert_digests restart identity`.execute(database.db);
  await app.queues.email.obliterate({ force: true });
});

afterAll(async () => {
  await events?.close();
  await maintenanceEvents?.close();
  await workers?.close();
  await app?.close();
  await smtp?.stop();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('delivery', () => {
  it('sends the exact headers and body', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/emails',
      payload: { to: 'second.officer@fleet.example', subject: 'Ballast water training due', text: 'Please complete module 10 by Friday.' },
    });
    expect(response.statusCode).toBe(202);
    const { id } = response.json();

    const row = await waitFor('the email to be sent', async () => {
      const current = await emailRow(id);
      return current.status === 'sent' ? current : undefined;
    });

    expect(smtp.received).toHaveLength(1);
    const [message] = smtp.received;
    expect(message?.from).toBe('maintenance@fleet.example');
    expect(message?.to).toEqual(['second.officer@fleet.example']);
    expect(message?.raw).toMatch(/^From: Shipshape <maintenance@fleet\.example>\r?$/m);
    expect(message?.raw).toMatch(/^To: second\.officer@fleet\.example\r?$/m);
    expect(message?.raw).toMatch(/^Subject: Ballast water training due\r?$/m);
    expect(message?.raw).toContain(`Message-ID: ${row.message_id}`);
    expect(message?.raw).toContain('Please complete module 10 by Friday.');
    expect(row.smtp_response).toMatch(/^250/);
    expect(row.sent_at).not.toBeNull();
    expect(row.attempts).toBe(1);
    const logs = await database.db.selectFrom('maintenance_logs').select('id').where('job_name', '=', 'send-email').execute();
    expect(logs).toEqual([]);
  });

  it('rejects send-email requested directly', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/send-email', payload: { data: { emailId: 1 } } });

    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('JOB_NOT_REQUESTABLE');
    expect(response.json().message).toContain('POST /api/emails');
  });

  it('accepts single-label addresses everywhere', async () => {
    const email = await app.inject({ method: 'POST', url: '/api/emails', payload: { to: 'ops@localhost', subject: 's', text: 't' } });
    const test = await app.inject({ method: 'POST', url: '/api/jobs/test-email', payload: { data: { to: 'ops@localhost' } } });

    expect(email.statusCode).toBe(202);
    expect(test.statusCode).toBe(202);
  });

  const rejected: Array<[string, string, unknown]> = [
    ['a NUL character', '/api/emails', { to: 'a@fleet.example', subject: 'a\u0000b', text: 't' }],
    ['an id past 2^53', '/api/emails/99999999999999999999', undefined],
    ['a cursor past 2^53', '/api/emails?before=99999999999999999999', undefined],
  ];
  for (const [name, url, payload] of rejected) {
    it(`rejects ${name} with 400`, async () => {
      const response = payload
        ? await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload).replace('\\\\u0000', '\\u0000') })
        : await app.inject({ method: 'GET', url });

      expect(response.statusCode).toBe(400);
    });
  }

  it('rejects an invalid recipient at the API', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/emails', payload: { to: 'not-an-address', subject: 'x', text: 'y' } });

    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('body.to');
  });

  it('fails a 5xx rejection at once', async () => {
    smtp.setRecipientRule(() => 550);

    const id = await enqueueEmail(database.db, app.queues.email, { to: 'gone@fleet.example', subject: 'x', text: 'y', source: 'test' }, { attempts: 5, backoff: 0 });
    const job = await app.queues.email.getJob(sendJobId(id));
    await expect(job!.waitUntilFinished(events, 20_000)).rejects.toThrow(/SMTP rejected the message.*550/);

    const row = await emailRow(id);
    expect(row.status).toBe('failed');
    expect(row.last_error).toContain('550');
    expect(row.attempts).toBe(1);
    expect((await app.queues.email.getJob(sendJobId(id)))?.attemptsMade).toBe(1);
  });

  it('retries a 4xx reply and delivers once', async () => {
    smtp.setRecipientRule((_address, attempt) => (attempt === 1 ? 451 : 'accept'));

    const id = await enqueueEmail(database.db, app.queues.email, { to: 'busy@fleet.example', subject: 'Retry', text: 'body', source: 'test' }, { attempts: 3, backoff: 0 });
    const job = await app.queues.email.getJob(sendJobId(id));
    await job!.waitUntilFinished(events, 20_000);

    const row = await emailRow(id);
    expect(row.status).toBe('sent');
    expect(row.attempts).toBe(2);
    // Counted by recipient: under load, a job of an earlier test can still finish after the reset.
    expect(smtp.received.filter((message) => message.to.includes('busy@fleet.example'))).toHaveLength(1);
  });
});

describe('SMTP server down, then up', () => {
  it('keeps messages pending and delivers each once', async () => {
    await smtp.stop();
    const ids: number[] = [];
    try {
      for (let index = 0; index < 5; index += 1) {
        const response = await app.inject({
          method: 'POST',
          url: '/api/emails',
          payload: { to: `crew${index}@fleet.example`, subject: `Roster ${index}`, text: `Message ${index}` },
        });
        ids.push(response.json().id);
      }

      const failed = await waitFor('five failed send jobs', async () => {
        const jobs = await app.queues.email.getFailed(0, -1);
        return jobs.length === 5 ? jobs : undefined;
      });
      for (const job of failed) expect(job.failedReason).toMatch(/ECONNREFUSED|connect/i);
      const board = await app.inject({ method: 'GET', url: '/admin/queues/api/queues?activeQueue=email&status=failed' });
      const emailQueue = board.json().queues.find((queue: { name: string }) => queue.name === 'email');
      expect(emailQueue.counts.failed).toBe(5);
      expect(emailQueue.jobs[0].failedReason).toMatch(/ECONNREFUSED|connect/i);
      for (const id of ids) {
        const row = await emailRow(id);
        expect(row.status).toBe('pending');
        expect(row.last_error).toMatch(/ECONNREFUSED|connect/i);
      }
    } finally {
      await smtp.start();
    }

    const summary = await runJob('process-email-queue');

    expect(summary).toMatchObject({ pending: 5, jobs: { retried: 5 } });
    await waitFor('five sent emails', async () => {
      const rows = await database.db.selectFrom('email_queue').select('status').where('status', '=', 'sent').execute();
      return rows.length === 5 ? true : undefined;
    });
    expect(smtp.received).toHaveLength(5);
    const messageIds = smtp.received.map((message) => /^Message-ID: (.*)$/m.exec(message.raw)?.[1]?.trim());
    expect(new Set(messageIds).size).toBe(5);
  });
});

describe('process-email-queue', () => {
  it('recovers stuck and platform-inserted messages', async () => {
    const insert = (values: Record<string, unknown>) =>
      database.db
        .insertInto('email_queue')
        .values({ recipient: 'deck@fleet.example', subject: 'stuck', body_text: 'body', ...values })
        .returning('id')
        .executeTakeFirstOrThrow();
    const neverHandedOff = await insert({ status: 'sending', locked_until: sql`now() - interval '1 minute'` as never });
    const handedOff = await insert({
      status: 'sending',
      locked_until: sql`now() - interval '1 minute'` as never,
      handed_off_at: sql`now() - interval '2 minutes'` as never,
    });
    const stillLeased = await insert({ status: 'sending', locked_until: sql`now() + interval '5 minutes'` as never });
    const inserted = await insert({ status: 'pending', source: 'platform' });

    const dryRun = await runJob('process-email-queue', { dryRun: true });
    expect(dryRun).toMatchObject({ releasedFromSending: 1, markedUnknown: 1, pending: 1 });
    expect((await emailRow(neverHandedOff.id)).status).toBe('sending');

    const summary = await runJob('process-email-queue');

    expect(summary).toMatchObject({ releasedFromSending: 1, markedUnknown: 1, pending: 2, jobs: { added: 2 } });
    await waitFor('recovered messages to be sent', async () => {
      const sent = await database.db.selectFrom('email_queue').select('id').where('status', '=', 'sent').execute();
      return sent.length === 2 ? true : undefined;
    });
    expect((await emailRow(neverHandedOff.id)).status).toBe('sent');
    expect((await emailRow(inserted.id)).status).toBe('sent');
    expect((await emailRow(handedOff.id)).status).toBe('failed');
    expect((await emailRow(handedOff.id)).last_error).toContain('delivery state unknown');
    expect((await emailRow(stillLeased.id)).status).toBe('sending');
    expect(smtp.received).toHaveLength(2);
  });
});

describe('clear-failed-emails', () => {
  it('removes failed messages and their jobs only', async () => {
    smtp.setRecipientRule((address) => (address.startsWith('bounce') ? 550 : 'accept'));
    const failedIds: number[] = [];
    for (const to of ['bounce1@fleet.example', 'bounce2@fleet.example']) {
      const id = await enqueueEmail(database.db, app.queues.email, { to, subject: 'x', text: 'y', source: 'test' }, { attempts: 1 });
      failedIds.push(id);
    }
    const sentId = await enqueueEmail(database.db, app.queues.email, { to: 'ok@fleet.example', subject: 'x', text: 'y', source: 'test' });
    const { id: pendingId } = await database.db
      .insertInto('email_queue')
      .values({ recipient: 'later@fleet.example', subject: 'x', body_text: 'y' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await waitFor('two failed jobs and one sent email', async () => {
      const failed = await app.queues.email.getFailedCount();
      const sent = await emailRow(sentId);
      return failed === 2 && sent.status === 'sent' ? true : undefined;
    });
    // One failure is old enough for the age filter below.
    await sql`update email_queue set updated_at = now() - interval '10 days' where id = ${failedIds[0]!}`.execute(database.db);

    const dryRun = await runJob('clear-failed-emails', { dryRun: true });
    expect(dryRun).toEqual({ dryRun: true, olderThanDays: 0, messages: 2 });
    expect(await app.queues.email.getFailedCount()).toBe(2);

    const oldOnly = await runJob('clear-failed-emails', { olderThanDays: 7 });
    expect(oldOnly).toMatchObject({ messages: 1, jobsRemoved: 1 });

    const rest = await runJob('clear-failed-emails');
    expect(rest).toMatchObject({ messages: 1, jobsRemoved: 1 });

    const remaining = await database.db.selectFrom('email_queue').select(['id', 'status']).orderBy('id').execute();
    expect(remaining).toEqual([
      { id: sentId, status: 'sent' },
      { id: pendingId, status: 'pending' },
    ]);
    expect(await app.queues.email.getFailedCount()).toBe(0);
  });
});

describe('test-email', () => {
  it('reports the SMTP reply and timing', async () => {
    const result = await runJob('test-email', { to: 'radio@fleet.example' });

    expect(result).toMatchObject({ transport: 'smtp', to: 'radio@fleet.example', accepted: ['radio@fleet.example'] });
    expect(result.response).toMatch(/^250/);
    expect(result.ms).toBeGreaterThanOrEqual(0);
    expect(smtp.received[0]?.raw).toContain('Subject: Shipshape test message');
  });

  it('rejects a payload without an address', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/test-email', payload: { data: { to: 'nobody' } } });

    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('data.to');
  });
});

describe('outbox mailer', () => {
  it('writes a complete .eml file', async () => {
    const outbox = join(await import('node:os').then((os) => os.tmpdir()), uniqueName('outbox'));
    const mailer = createMailer({ ...config, SMTP_URL: undefined, OUTBOX_DIR: outbox });

    const delivery = await mailer.send({ to: 'bosun@fleet.example', subject: 'Outbox check', text: 'Stored, not sent.' });
    mailer.close();

    const files = await readdir(outbox);
    expect(files).toHaveLength(1);
    const content = await readFile(join(outbox, files[0]!), 'utf8');
    expect(content).toContain('Subject: Outbox check');
    expect(content).toContain(`Message-ID: ${delivery.messageId}`);
    expect(content).toContain('Stored, not sent.');
    expect(delivery.response).toContain(outbox);
  });
});

describe('alert emails end to end', () => {
  it('delivers a critical alert at once and three high ones as one email', async () => {
    const raise = (severity: string, key: string, message: string) =>
      app.inject({ method: 'POST', url: '/api/alerts', payload: { severity, source: 'health-check', key, message } });

    const critical = await raise('critical', 'database:down', 'Database unreachable');
    expect(critical.statusCode).toBe(201);
    await waitFor('the critical alert email', () => (smtp.received.length === 1 ? true : undefined));
    expect(smtp.received[0]?.raw).toContain('Subject: [CRITICAL] health-check: Database unreachable');

    for (const [key, message] of [['cpu', 'CPU at 75%'], ['memory', 'Memory at 82%'], ['disk', 'Disk at 86%']]) {
      expect((await raise('high', key!, message!)).statusCode).toBe(201);
    }
    const windowClose = new Date(Math.ceil((Date.now() + 1) / (15 * 60_000)) * 15 * 60_000);
    const deps = { db: database.db, emailQueue: app.queues.email, config, logger: pino({ level: 'silent' }) };
    const summary = await dispatchAlerts(deps, windowClose);

    expect(summary.digests).toMatchObject([{ severity: 'high', alerts: 3 }]);
    await waitFor('the grouped high alert email', () => (smtp.received.length === 2 ? true : undefined));
    const grouped = smtp.received[1]!.raw;
    expect(grouped).toContain('Subject: [HIGH] 3 high alerts');
    for (const text of ['CPU at 75%', 'Memory at 82%', 'Disk at 86%']) expect(grouped).toContain(text);
  });
});

describe('email API', () => {
  it('lists emails by status with pagination', async () => {
    await database.db
      .insertInto('email_queue')
      .values(Array.from({ length: 5 }, (_, index) => ({ recipient: `c${index}@fleet.example`, subject: 's', body_text: 'b', status: index % 2 ? 'sent' as const : 'failed' as const })))
      .execute();

    const first = await app.inject({ method: 'GET', url: '/api/emails?status=failed&limit=2' });
    const second = await app.inject({ method: 'GET', url: `/api/emails?status=failed&limit=2&before=${first.json().nextBefore}` });

    expect(first.json().items.map((item: { id: number }) => item.id)).toEqual([5, 3]);
    expect(second.json().items.map((item: { id: number }) => item.id)).toEqual([1]);
    expect(second.json().nextBefore).toBeNull();
  });

  it('rejects an unknown status', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/emails?status=lost' });

    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('status');
  });

  it('returns 404 for an unknown email', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/emails/424242' });

    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('EMAIL_NOT_FOUND');
  });
});
