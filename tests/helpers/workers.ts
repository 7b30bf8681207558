import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Config } from '../../src/config.js';
import type { Db } from '../../src/db/database.js';
import type { JobDefinition } from '../../src/jobs/contract.js';
import { createMailer, type Mailer } from '../../src/jobs/email/mailer.js';
import { JobRegistry } from '../../src/jobs/registry.js';
import { startWorkers, type WorkerPool } from '../../src/jobs/worker.js';
import type { CalendarEntry } from '../../src/queues/calendar.js';
import { createRedis } from '../../src/queues/connection.js';
import { closeQueues, createQueues, type QueueName } from '../../src/queues/queues.js';
import { TEST_REDIS_URL } from './services.js';

export interface TestWorkers extends WorkerPool {
  mailer: Mailer;
}

export interface TestWorkerOptions {
  db: Db;
  config: Config;
  servedQueues: QueueName[];
  definitions: readonly JobDefinition[];
  calendar?: readonly CalendarEntry[];
  shutdownTimeoutMs?: number;
  mailer?: Mailer;
}

/**
 * Starts in-process workers the way worker-main does, with connections of
 * their own; `close()` closes all of them. Without SMTP_URL in `config` the
 * mailer writes to a fresh temporary outbox.
 */
export async function startTestWorkers(options: TestWorkerOptions): Promise<TestWorkers> {
  const connection = createRedis(TEST_REDIS_URL, 'worker');
  const producer = createRedis(TEST_REDIS_URL, 'producer');
  const queues = createQueues(producer, options.config.QUEUE_PREFIX);
  const config = options.config.SMTP_URL
    ? options.config
    : { ...options.config, OUTBOX_DIR: await mkdtemp(join(tmpdir(), 'shipshape-outbox-')) };
  const mailer = options.mailer ?? createMailer(config);

  const pool = startWorkers({
    db: options.db,
    redis: connection,
    queues,
    mailer,
    connection,
    config,
    logger: pino({ level: 'silent' }),
    registry: new JobRegistry(options.definitions, options.calendar ?? []),
    prefix: config.QUEUE_PREFIX,
    servedQueues: options.servedQueues,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5000,
  });

  let closing: Promise<void> | undefined;
  return {
    workers: pool.workers,
    control: pool.control,
    mailer,
    close() {
      closing ??= (async () => {
        await pool.close();
        mailer.close();
        await closeQueues(queues);
        producer.disconnect();
        connection.disconnect();
      })();
      return closing;
    },
  };
}
