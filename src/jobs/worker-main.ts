import { parseArgs } from 'node:util';
import closeWithGrace from 'close-with-grace';
import { loadConfig } from '../config.js';
import { createDatabase } from '../db/database.js';
import { createLogger } from '../logger.js';
import { runMain } from '../main-wrapper.js';
import { calendar } from '../queues/calendar.js';
import { createRedis, logConnectionErrors } from '../queues/connection.js';
import { closeQueues, createQueues, isQueueName, queueNames, type QueueName } from '../queues/queues.js';
import { createMailer } from './email/mailer.js';
import { JobRegistry, jobDefinitions } from './registry.js';
import { startWorkers } from './worker.js';

const usage = `Usage: npm run start:worker -- [--queues health,maintenance,backups,email]

Starts one BullMQ worker per queue. --queues sets the queues this process
serves, comma-separated; the default is all four.`;

function parseQueues(argv: string[]): QueueName[] {
  const { values } = parseArgs({
    args: argv,
    options: { queues: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.error(usage);
    process.exit(0);
  }
  if (values.queues === undefined) return [...queueNames];

  const requested = values.queues.split(',').map((name) => name.trim()).filter(Boolean);
  if (requested.length === 0) throw new Error(`--queues is empty; name one or more of ${queueNames.join(', ')}`);
  const unknown = requested.filter((name) => !isQueueName(name));
  if (unknown.length > 0) {
    throw new Error(`--queues: unknown queue "${unknown.join(', ')}"; choose from ${queueNames.join(', ')}`);
  }
  return [...new Set(requested)] as QueueName[];
}

runMain(async () => {
  const servedQueues = parseQueues(process.argv.slice(2));
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, { process: 'worker' });
  const registry = new JobRegistry(jobDefinitions, calendar);

  const db = createDatabase(config.DATABASE_URL, {
    applicationName: 'shipshape-worker',
    onIdleError: (error) => logger.warn({ err: error }, 'idle database connection lost; the pool reconnects on demand'),
  });
  const connection = createRedis(config.REDIS_URL, 'worker');
  logConnectionErrors(connection, logger);
  // Jobs enqueue follow-up jobs (emails, retries) through their own producer connection.
  const producer = createRedis(config.REDIS_URL, 'producer');
  const producerQueues = createQueues(producer, config.QUEUE_PREFIX);
  for (const queue of Object.values(producerQueues)) queue.on('error', () => {});
  const mailer = createMailer(config);
  const pool = startWorkers({
    db,
    redis: connection,
    queues: producerQueues,
    mailer,
    connection,
    config,
    logger,
    registry,
    prefix: config.QUEUE_PREFIX,
    servedQueues,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });

  // The hard deadline leaves the pool's own timeout room to hand jobs back.
  closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS + 10_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'worker crashed; closing');
    else logger.info({ signal }, 'worker shutting down');
    await pool.close();
    mailer.close();
    await closeQueues(producerQueues);
    producer.disconnect();
    await db.destroy();
    await connection.quit();
  });
});
