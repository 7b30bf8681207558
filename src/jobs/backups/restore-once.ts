import { UnrecoverableError } from 'bullmq';
import { raiseAlert } from '../alerts/alerts.js';
import type { JobContext } from '../contract.js';
import { readonlyMode } from '../emergency/readonly-mode.js';

/*
 * A restore over the live database runs at most once per request. BullMQ
 * starts a job again after a failed attempt or after its worker died
 * (a stalled job), and a second restore would replace the data written since
 * the first. Before changing anything, restore-db records its start in Redis
 * under the job id. A later start of the same job finds that record and
 * fails without retries.
 */

// Kept long enough to cover any retry or stalled re-run of the job.
const RECORD_TTL_SECONDS = 30 * 86_400;

export type RestoreStage = 'started' | 'read-only-on' | 'finished';

interface RestoreRecord {
  stage: RestoreStage;
  startedAt: string;
  /** Whether this run turned read-only mode on, so that a later start turns it off. */
  turnedReadOnlyOn: boolean;
}

function recordKey(context: JobContext): string {
  return `${context.config.QUEUE_PREFIX}:restore-db:start:${context.job.id}`;
}

/** Progress record of one restore-db job; `update` overwrites it, keeping its expiry. */
export interface RestoreStartRecord {
  update(stage: RestoreStage, turnedReadOnlyOn: boolean): Promise<void>;
}

/**
 * Records the first start of this restore-db job. On a later start of the
 * same job it turns read-only mode off when the earlier start had turned it
 * on, raises a critical alert when that start was interrupted, and throws an
 * UnrecoverableError.
 */
export async function claimRestoreStart(context: JobContext, backupId: number): Promise<RestoreStartRecord> {
  const key = recordKey(context);
  const startedAt = new Date().toISOString();
  const first: RestoreRecord = { stage: 'started', startedAt, turnedReadOnlyOn: false };
  const claimed = await context.redis.set(key, JSON.stringify(first), 'EX', RECORD_TTL_SECONDS, 'NX');

  if (claimed !== 'OK') await refuseSecondStart(context, key, backupId);

  return {
    update: async (stage, turnedReadOnlyOn) => {
      const record: RestoreRecord = { stage, startedAt, turnedReadOnlyOn };
      await context.redis.set(key, JSON.stringify(record), 'KEEPTTL');
    },
  };
}

async function refuseSecondStart(context: JobContext, key: string, backupId: number): Promise<never> {
  const text = await context.redis.get(key);
  const earlier = text ? (JSON.parse(text) as RestoreRecord) : undefined;
  const when = earlier ? ` at ${earlier.startedAt}` : '';
  const again = 'a restore runs at most once per request; if a restore is still needed, a person must request a new restore-db job';

  let readOnlyNote = 'read-only mode was not changed by it';
  if (earlier?.turnedReadOnlyOn) {
    try {
      await readonlyMode.run(context, { off: true });
      await context.redis.set(key, JSON.stringify({ ...earlier, turnedReadOnlyOn: false }), 'KEEPTTL');
      readOnlyNote = 'read-only mode, which it had turned on, is off again';
    } catch (error) {
      context.logger.error({ err: error, jobId: context.job.id }, 'turning read-only mode off after an interrupted restore failed');
      readOnlyNote = 'it had turned read-only mode on and turning it off failed: run readonly-mode with off';
    }
  }

  if (earlier?.stage === 'finished') {
    throw new UnrecoverableError(`restore-db job ${context.job.id} already ran${when} (${readOnlyNote}), so it is not run again: ${again}`);
  }

  const message =
    `Restore of backup ${backupId} (restore-db job ${context.job.id}) started${when} and was interrupted before it finished; ` +
    `${readOnlyNote}. The platform tables are either unchanged or fully restored, because the restore runs in one transaction; ` +
    'check them and the pre-restore backup';
  try {
    await raiseAlert(
      { db: context.db, emailQueue: context.queues.email, config: context.config, logger: context.logger },
      {
        severity: 'critical',
        source: context.job.name,
        key: `restore-db:${context.job.id}:interrupted`,
        message,
        details: { backupId, jobId: context.job.id, startedAt: earlier?.startedAt ?? null },
      },
    );
  } catch (error) {
    context.logger.error({ err: error, jobId: context.job.id }, 'raising the interrupted-restore alert failed');
  }
  throw new UnrecoverableError(`${message}. It is not run again: ${again}`);
}
