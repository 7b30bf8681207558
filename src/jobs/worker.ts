import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { createErrorThrottle } from '../queues/connection.js';
import { queueSettings, type QueueName } from '../queues/queues.js';
import { attachWorkerControl, type WorkerControl } from '../queues/worker-control.js';
import { createProcessor, type ProcessorDependencies } from './processor.js';
import { recordJobOutcome } from '../metrics/job-metrics.js';
import { startWorkerMetricsPush } from '../metrics/worker-push.js';

export interface WorkerPoolOptions extends Omit<ProcessorDependencies, 'shutdownSignal'> {
  /** A connection with `maxRetriesPerRequest: null`; BullMQ duplicates it for blocking calls. */
  connection: Redis;
  prefix: string;
  /** The queues this process takes jobs from. */
  servedQueues: readonly QueueName[];
  /** Milliseconds to wait for running jobs at close before they are interrupted and handed back. */
  shutdownTimeoutMs: number;
}

export interface WorkerPool {
  workers: Worker[];
  /** Applies concurrency changes made at run time (the `scale-up` job). */
  control: WorkerControl;
  /** Stops taking jobs, waits for running ones (interrupting them after the timeout), then closes. */
  close(): Promise<void>;
}

function secondsBetween(start: number | undefined, end: number | undefined): number | undefined {
  return start !== undefined && end !== undefined ? (end - start) / 1000 : undefined;
}

/** Starts one BullMQ Worker per queue, each with its queue's concurrency. */
export function startWorkers(options: WorkerPoolOptions): WorkerPool {
  const shutdown = new AbortController();
  const { logger } = options;
  const workerErrors = createErrorThrottle(logger, 'worker error');

  const workers = options.servedQueues.map((queue) => {
    const processor = createProcessor(queue, { ...options, shutdownSignal: shutdown.signal });
    const worker = new Worker(queue, processor, {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: queueSettings[queue].concurrency,
    });
    worker.on('error', (error) => workerErrors.report(error, { queue }));
    worker.on('stalled', (jobId) => logger.warn({ queue, jobId }, 'job stalled; BullMQ moved it back to waiting'));
    // Job metrics for /metrics: one count per finished attempt, and its duration when BullMQ recorded both ends.
    worker.on('completed', (job) => recordJobOutcome(queue, job.name, 'completed', secondsBetween(job.processedOn, job.finishedOn)));
    worker.on('failed', (job) => {
      if (job) recordJobOutcome(queue, job.name, 'failed', secondsBetween(job.processedOn, job.finishedOn));
    });
    return worker;
  });
  logger.info({ queues: options.servedQueues, prefix: options.prefix }, 'workers started');
  const metricsPush = startWorkerMetricsPush(options.connection, options.prefix, options.config.METRICS_PUSH_INTERVAL_MS, logger);
  const control = attachWorkerControl({
    connection: options.connection,
    prefix: options.prefix,
    workers: new Map(options.servedQueues.map((queue, index) => [queue, workers[index]!])),
    logger,
  });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const timer = setTimeout(() => {
        logger.warn({ timeoutMs: options.shutdownTimeoutMs }, 'shutdown timeout reached; interrupting running jobs');
        shutdown.abort(new Error('worker shutdown'));
      }, options.shutdownTimeoutMs);
      try {
        await control.close();
        await Promise.all(workers.map((worker) => worker.close()));
        await metricsPush.stop();
      } finally {
        clearTimeout(timer);
      }
      logger.info('workers closed');
    })();
    return closing;
  };

  return { workers, control, close };
}
