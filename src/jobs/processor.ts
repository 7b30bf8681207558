import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { QueueName, Queues } from '../queues/queues.js';
import type { Mailer } from './email/mailer.js';
import type { JobContext, JobEnvelope, JobSummary } from './contract.js';
import { maintenanceType, recordRun, toInterval } from './maintenance-log.js';
import { checkPayload } from './payload.js';
import { isMissedRun } from '../queues/scheduled-run-data.js';
import { enterScheduledRun } from './scheduled-run.js';
import type { JobRegistry } from './registry.js';

export interface ProcessorDependencies {
  db: Db;
  redis: Redis;
  queues: Queues;
  mailer: Mailer;
  config: Config;
  logger: Logger;
  registry: JobRegistry;
  /** Aborted when the worker process has waited long enough for running jobs at shutdown. */
  shutdownSignal: AbortSignal;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Returns true for job data in Shipshape's envelope: a payload object (or none) and who requested the run. */
function isEnvelope(data: unknown): data is { payload?: Record<string, unknown>; requestedBy: string } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const { payload, requestedBy } = data as { payload?: unknown; requestedBy?: unknown };
  const payloadOk = payload === undefined || (typeof payload === 'object' && payload !== null && !Array.isArray(payload));
  return payloadOk && typeof requestedBy === 'string';
}

/**
 * Creates the BullMQ processor for one queue. Around every run it validates
 * the payload, records one maintenance_logs row (success or failure), and
 * rethrows failures so BullMQ applies the queue's retry policy. A payload the
 * schema rejects and an unknown job name fail at once, without retries.
 * A run interrupted by shutdown goes back to the waiting list unchanged.
 */
export function createProcessor(queue: QueueName, deps: ProcessorDependencies) {
  return async function process(job: Job<JobEnvelope>, token?: string, bullSignal?: AbortSignal): Promise<JobSummary> {
    const attempt = job.attemptsMade + 1;
    const logger = deps.logger.child({ queue, jobName: job.name, jobId: job.id, attempt });
    const definition = deps.registry.get(job.name);
    if (!definition) {
      logger.error('job has no definition in this worker; failing it without retries');
      throw new UnrecoverableError(`Unknown job "${job.name}": this worker runs ${deps.registry.names().join(', ')}`);
    }

    // Jobs added any other way than Shipshape's own API and calendar, such as a script
    // calling queue.add, lack the envelope. Running them with default values would ignore the request.
    if (!isEnvelope(job.data)) {
      logger.error('job data is not { payload, requestedBy }; failing it without retries');
      throw new UnrecoverableError(
        `Job data must be {"payload": {...}, "requestedBy": "..."}; request runs with POST /api/jobs/${job.name} instead of adding them to the queue directly`,
      );
    }
    const envelope: JobEnvelope = { payload: job.data.payload ?? {}, requestedBy: job.data.requestedBy };
    // A missed run enqueued at API start stands for a calendar slot, like a run the scheduler produced.
    const fromScheduler = Boolean(job.repeatJobKey) || isMissedRun(job.data);
    const started = Date.now();
    const record = async (result: 'success' | 'failure', notes: string | null, summary: JobSummary | null) => {
      if (definition.logRuns === false) return;
      try {
        await recordRun(deps.db, {
          type: maintenanceType(definition, fromScheduler),
          action: definition.description,
          performed_by: envelope.requestedBy,
          duration: toInterval(Date.now() - started),
          result,
          notes,
          job_name: definition.name,
          job_id: String(job.id),
          queue,
          attempt,
          summary: summary === null ? null : JSON.stringify(summary),
        });
      } catch (error) {
        // The run's own outcome matters more than its log row: report and go on.
        logger.error({ err: error }, 'failed to write the maintenance_logs row');
      }
    };

    const check = checkPayload(definition, envelope.payload, { config: deps.config });
    if (!check.valid) {
      const message = `Invalid payload: ${check.errors.join('; ')}`;
      logger.warn({ errors: check.errors }, 'job payload rejected');
      await record('failure', message, null);
      throw new UnrecoverableError(message);
    }

    const signals = [deps.shutdownSignal, ...(bullSignal ? [bullSignal] : [])];
    const context: JobContext = {
      db: deps.db,
      redis: deps.redis,
      queues: deps.queues,
      mailer: deps.mailer,
      config: deps.config,
      logger,
      job: { id: String(job.id), name: job.name, queue, attempt, requestedBy: envelope.requestedBy },
      progress: (value) => job.updateProgress(value),
      log: async (line) => {
        await job.log(line);
      },
      signal: AbortSignal.any(signals),
    };

    // Skips a scheduled run whose schedule is paused or whose previous run still runs; marks a late one.
    const scheduled = await enterScheduledRun({ job, queue, redis: deps.redis, queues: deps.queues, config: deps.config, logger });
    if (scheduled.skipped) return scheduled.skipped;

    logger.info({ requestedBy: envelope.requestedBy, fromScheduler }, 'job started');
    try {
      const summary = scheduled.mark(await definition.run(context, check.payload));
      const notes = check.payload.dryRun === true ? 'dry run: nothing was changed' : null;
      await record('success', notes, summary);
      logger.info({ durationMs: Date.now() - started }, 'job completed');
      return summary;
    } catch (error) {
      if (deps.shutdownSignal.aborted && token) {
        await record('failure', 'interrupted by worker shutdown; returned to the queue', null);
        logger.warn('job interrupted by shutdown; moving it back to waiting');
        await job.moveToWait(token);
        throw new WaitingError();
      }
      await record('failure', errorMessage(error), null);
      logger.error({ err: error, durationMs: Date.now() - started }, 'job failed');
      throw error;
    } finally {
      await scheduled.release();
    }
  };
}
