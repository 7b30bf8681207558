import { Type } from '@sinclair/typebox';
import { StringEnum } from '../../schemas.js';
import { HEARTBEAT_MS, MAX_CONCURRENCY, queueTotals, readRoster, setDesiredConcurrency } from '../../queues/worker-control.js';
import { defineJob, type JobSummary } from '../contract.js';

/** `backups` is left out on purpose: two dumps or restores at once would compete for the same disk and database. */
const SCALABLE_QUEUES = ['health', 'maintenance', 'email'] as const;

/** How long running workers get to apply the change before the job reports the ones that did not. */
const ACKNOWLEDGE_TIMEOUT_MS = 2 * HEARTBEAT_MS;
const POLL_MS = 100;

/**
 * Changes how many jobs of one queue each running worker process takes at
 * once, without a restart, and reports the totals. The value is stored, so
 * workers started later use it too, until the next change.
 *
 * NOTE: a worker whose slots are all taken applies a higher value once one of
 * its running jobs ends, because BullMQ reads the concurrency between fetches.
 */
export const scaleUp = defineJob({
  name: 'scale-up',
  queue: 'maintenance',
  description: 'Change the concurrency of running workers on a queue and report the totals',
  payload: Type.Object(
    {
      queue: StringEnum(SCALABLE_QUEUES, { description: 'The queue to scale; backups always runs one job at a time' }),
      concurrency: Type.Integer({ minimum: 1, maximum: MAX_CONCURRENCY, description: 'Jobs each worker process runs at once on that queue' }),
    },
    { additionalProperties: false },
  ),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run(context, payload) {
    const { queue, concurrency } = payload;
    const prefix = context.config.QUEUE_PREFIX;
    const before = queueTotals(await readRoster(context.redis, prefix), queue);
    await setDesiredConcurrency(context.redis, prefix, queue, concurrency);

    // Wait until every live worker serving the queue reports the new value, or the deadline.
    const deadline = Date.now() + ACKNOWLEDGE_TIMEOUT_MS;
    let roster = await readRoster(context.redis, prefix);
    const lagging = () => roster.filter((entry) => entry.queues[queue] !== undefined && entry.queues[queue] !== concurrency);
    while (lagging().length > 0 && Date.now() < deadline && !context.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      roster = await readRoster(context.redis, prefix);
    }
    const after = queueTotals(roster, queue);
    const notApplied = lagging().map((entry) => entry.id);
    await context.log(`${queue}: ${after.workers} worker process(es), ${before.total} -> ${after.total} jobs at once`);

    const summary: JobSummary = {
      queue,
      concurrencyPerWorker: concurrency,
      workers: after.workers,
      totalBefore: before.total,
      totalAfter: after.total,
      perWorker: after.perWorker,
      notApplied,
    };
    if (after.workers === 0) {
      summary.note = `No running worker serves ${queue}; workers that start later use ${concurrency}`;
    }
    return summary;
  },
});
