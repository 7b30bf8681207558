import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { loadConfig, type Config } from '../src/config.js';
import { createDatabase, type Db } from '../src/db/database.js';
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js';
import { enqueueEmail, sendJobOptions, type NewEmail } from '../src/jobs/email/email-queue.js';
import { createMailer, createMessageId } from '../src/jobs/email/mailer.js';
import { JobRegistry, jobDefinitions } from '../src/jobs/registry.js';
import { startWorkers } from '../src/jobs/worker.js';
import { createLogger } from '../src/logger.js';
import { calendar } from '../src/queues/calendar.js';
import { createRedis } from '../src/queues/connection.js';
import { closeQueues, createQueues, queueSettings } from '../src/queues/queues.js';
import { removeRedisKeys } from '../tests/helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../tests/helpers/smtp.js';

/*
 * Email delivery benchmark: Shipshape's path against nodemailer alone, both
 * delivering the same messages to one local SMTP server (smtp-server on
 * 127.0.0.1) in one process.
 *
 *   npm run bench:email -- [--messages 2000] [--timeout 600] [--database-url URL] [--redis-url URL]
 *
 * --timeout is in seconds and applies to each path separately.
 *
 * Shipshape's path starts with the API's enqueueEmail, which writes an
 * email_queue row and adds one send-email job per message. A BullMQ worker on
 * the email queue, started as worker-main starts it, claims the row, sends
 * through createMailer's pooled transport and marks the row sent. The path is
 * timed from the first enqueue until every row is `sent`.
 *
 * The reference is a nodemailer pooled SMTP transport with the same 5
 * connections as createMailer, sending the same messages with 50 sendMail
 * calls in flight: no database, no queue, no delivery record.
 */

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    timeout: { type: 'string', default: '600' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://127.0.0.1:5432/shipshape_bench_email' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});

function positiveInteger(flag: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${flag} must be a positive integer (got "${value}")`);
  return parsed;
}

const messageCount = positiveInteger('messages', values.messages);
/** Seconds each path may take before the benchmark gives up. */
const timeoutMs = positiveInteger('timeout', values.timeout) * 1000;
const databaseUrl = values['database-url'];
const redisUrl = values['redis-url'];
const prefix = `shipshape_bench_email_${randomBytes(4).toString('hex')}`;

const MAIL_FROM = 'Shipshape <maintenance@fleet.example>';
/** sendMail calls in flight for the reference, and enqueueEmail calls in flight for Shipshape. */
const IN_FLIGHT = 50;
/** Connections of the reference transport: createMailer's maxConnections. */
const SMTP_CONNECTIONS = 5;
/** How often Shipshape's run counts sent rows. */
const POLL_MS = 10;
const BODY = `${'Your next rotation starts at Rotterdam on Monday. Report to the gangway at 07:00 with your seaman book. '.repeat(10)}\n`;

function benchMessage(index: number): NewEmail {
  return { to: `crew${index}@fleet.example`, subject: `Rotation notice ${index}`, text: BODY, source: 'bench' };
}

/** Calls `task` for the indexes 0 to count - 1, with at most `limit` calls running at once. */
async function forEachConcurrently(count: number, limit: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await task(index);
    }
  });
  await Promise.all(lanes);
}

/** Rejects with `message` after `ms`, unless `work` settles first. */
async function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

interface PhaseResult {
  seconds: number;
  received: number;
  distinctRecipients: number;
  /** Shipshape only: seconds until the last enqueueEmail call returned. */
  enqueueSeconds?: number;
  /** CPU time of this process (user and system) per second of the phase, so 1 is one core busy throughout. */
  processCpu: number;
}

/** Returns CPU seconds of this process used since `since`. */
function cpuSecondsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1_000_000;
}

/** Returns what the SMTP server received since the last call, and empties its list. */
function takeReceived(smtp: TestSmtpServer): Pick<PhaseResult, 'received' | 'distinctRecipients'> {
  const received = smtp.received.length;
  const distinctRecipients = new Set(smtp.received.flatMap((message) => message.to)).size;
  smtp.received.length = 0;
  return { received, distinctRecipients };
}

async function runReference(smtp: TestSmtpServer): Promise<PhaseResult> {
  const transport = nodemailer.createTransport({ pool: true, maxConnections: SMTP_CONNECTIONS, host: '127.0.0.1', port: smtp.port, secure: false });
  try {
    const cpuStart = process.cpuUsage();
    const started = performance.now();
    const sending = forEachConcurrently(messageCount, IN_FLIGHT, async (index) => {
      const message = benchMessage(index);
      await transport.sendMail({ from: MAIL_FROM, to: message.to, subject: message.subject, text: message.text, messageId: createMessageId(MAIL_FROM) });
    });
    await withDeadline(sending, timeoutMs, `reference: sending ${messageCount} messages timed out after ${timeoutMs / 1000} s; raise --timeout`);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, processCpu: cpuSecondsSince(cpuStart) / seconds, ...takeReceived(smtp) };
  } finally {
    transport.close();
  }
}

/** Polls email_queue until every row is `sent`. Throws on the first failed row or at the deadline. */
async function waitUntilAllSent(db: Db, deadline: number): Promise<void> {
  for (;;) {
    const counts = await db
      .selectFrom('email_queue')
      .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy('status')
      .execute();
    const byStatus = Object.fromEntries(counts.map((row) => [row.status, row.count]));
    if ((byStatus.failed ?? 0) > 0) {
      const failed = await db.selectFrom('email_queue').select(['id', 'last_error']).where('status', '=', 'failed').executeTakeFirstOrThrow();
      throw new Error(`shipshape: email ${failed.id} failed: ${failed.last_error}`);
    }
    if (byStatus.sent === messageCount) return;
    if (Date.now() > deadline) {
      throw new Error(`shipshape: delivery timed out after ${timeoutMs / 1000} s with rows by status ${JSON.stringify(byStatus)}; raise --timeout`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function runShipshape(smtp: TestSmtpServer, config: Config): Promise<PhaseResult> {
  // The API side: its own pool and producer connection, as resourcesPlugin opens them.
  const apiDb = createDatabase(databaseUrl, { max: 5, applicationName: 'shipshape-bench-api' });
  const apiRedis = createRedis(redisUrl, 'producer');
  const apiQueues = createQueues(apiRedis, prefix);

  // The worker side, opened as worker-main opens it, serving the email queue only.
  const workerDb = createDatabase(databaseUrl, { applicationName: 'shipshape-bench-worker' });
  const connection = createRedis(redisUrl, 'worker');
  const producer = createRedis(redisUrl, 'producer');
  const producerQueues = createQueues(producer, prefix);
  const mailer = createMailer(config);
  const pool = startWorkers({
    db: workerDb,
    redis: connection,
    queues: producerQueues,
    mailer,
    connection,
    config,
    logger: createLogger(config.LOG_LEVEL, { process: 'bench-worker' }),
    registry: new JobRegistry(jobDefinitions, calendar),
    prefix,
    servedQueues: ['email'],
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });

  try {
    await Promise.all(pool.workers.map((worker) => worker.waitUntilReady()));
    const cpuStart = process.cpuUsage();
    const started = performance.now();
    const deadline = Date.now() + timeoutMs;
    const enqueueing = forEachConcurrently(messageCount, IN_FLIGHT, async (index) => {
      await enqueueEmail(apiDb, apiQueues.email, benchMessage(index), sendJobOptions(config));
    });
    await withDeadline(enqueueing, timeoutMs, `shipshape: enqueueing ${messageCount} messages timed out after ${timeoutMs / 1000} s; raise --timeout`);
    const enqueueSeconds = (performance.now() - started) / 1000;
    await waitUntilAllSent(apiDb, deadline);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, enqueueSeconds, processCpu: cpuSecondsSince(cpuStart) / seconds, ...takeReceived(smtp) };
  } finally {
    await pool.close();
    mailer.close();
    await closeQueues(producerQueues);
    producer.disconnect();
    await workerDb.destroy();
    connection.disconnect();
    await closeQueues(apiQueues);
    apiRedis.disconnect();
    await apiDb.destroy();
  }
}

function describePhase(result: PhaseResult): string {
  const rate = Math.round(messageCount / result.seconds);
  return (
    `${rate} messages/s (${result.seconds.toFixed(2)} s, process CPU ${result.processCpu.toFixed(2)} cores), ` +
    `server received ${result.received} (${result.distinctRecipients} distinct recipients)`
  );
}

await ensureDatabase(databaseUrl);
const setupDb = createDatabase(databaseUrl, { max: 1, applicationName: 'shipshape-bench' });
const smtp = await startSmtpServer();
const cleanupRedis = createRedis(redisUrl, 'producer');
try {
  await migrateToLatest(setupDb);
  await sql`truncate email_queue, maintenance_logs restart identity`.execute(setupDb);
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    SMTP_URL: smtp.url,
    MAIL_FROM,
    // Failures still print as JSON lines, but the info lines of every job would drown the results.
    LOG_LEVEL: 'warn',
  });

  const reference = await runReference(smtp);
  const shipshape = await runShipshape(smtp, config);

  console.log(`messages: ${messageCount}, SMTP server smtp-server on 127.0.0.1`);
  console.log(`reference: ${describePhase(reference)}`);
  console.log(`           nodemailer pooled transport, ${SMTP_CONNECTIONS} connections, ${IN_FLIGHT} sends in flight`);
  console.log(`shipshape: ${describePhase(shipshape)}`);
  console.log(
    `           enqueueEmail with ${IN_FLIGHT} calls in flight, one worker at email concurrency ${queueSettings.email.concurrency}, ` +
      `timed until every row is sent; all enqueued after ${shipshape.enqueueSeconds?.toFixed(2)} s`,
  );
  console.log(`ratio:     ${(reference.seconds / shipshape.seconds).toFixed(2)}x (shipshape / reference, in messages/s)`);

  for (const [name, result] of [['reference', reference], ['shipshape', shipshape]] as const) {
    if (result.received !== messageCount || result.distinctRecipients !== messageCount) {
      throw new Error(`${name}: the server received ${result.received} messages for ${result.distinctRecipients} recipients, expected ${messageCount} each`);
    }
  }
  await sql`truncate email_queue, maintenance_logs`.execute(setupDb);
} finally {
  await removeRedisKeys(cleanupRedis, prefix);
  cleanupRedis.disconnect();
  await smtp.stop();
  await setupDb.destroy();
}
