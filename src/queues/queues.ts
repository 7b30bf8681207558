import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The four queues. `health` never waits behind a long job, `backups` runs one
 * job at a time, and `email` keeps its failed jobs visible in Bull Board.
 */
export const queueNames = ['health', 'maintenance', 'backups', 'email'] as const;
export type QueueName = (typeof queueNames)[number];

export function isQueueName(value: string): value is QueueName {
  return (queueNames as readonly string[]).includes(value);
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface QueueSettings {
  /** Jobs one worker process runs at once on this queue. */
  concurrency: number;
  defaultJobOptions: DefaultJobOptions;
}

// Finished jobs are kept by count and by age (age in seconds, as BullMQ takes
// it), whichever limit is reached first, so Redis memory stays bounded.
export const queueSettings: Record<QueueName, QueueSettings> = {
  health: {
    concurrency: 4,
    defaultJobOptions: {
      // A health check is repeated every 30 seconds; retrying an old one has no value.
      attempts: 1,
      removeOnComplete: { count: 200, age: DAY / 1000 },
      removeOnFail: { count: 1000, age: 7 * DAY / 1000 },
    },
  },
  maintenance: {
    concurrency: 2,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 30_000 },
      removeOnComplete: { count: 1000, age: 30 * DAY / 1000 },
      removeOnFail: { count: 5000, age: 90 * DAY / 1000 },
    },
  },
  backups: {
    concurrency: 1,
    defaultJobOptions: {
      attempts: 2,
      backoff: { type: 'exponential', delay: 5 * 60_000 },
      removeOnComplete: { count: 500, age: 90 * DAY / 1000 },
      removeOnFail: { count: 1000, age: 90 * DAY / 1000 },
    },
  },
  email: {
    concurrency: 10,
    defaultJobOptions: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 60_000 },
      removeOnComplete: { count: 5000, age: 7 * DAY / 1000 },
      // Failed emails stay until an operator clears them.
      removeOnFail: false,
    },
  },
};

export type Queues = Record<QueueName, Queue>;

/** Opens one BullMQ Queue per queue name on a shared producer connection. */
export function createQueues(connection: Redis, prefix: string): Queues {
  const entries = queueNames.map((name) => {
    const queue = new Queue(name, {
      connection,
      prefix,
      defaultJobOptions: queueSettings[name].defaultJobOptions,
    });
    return [name, queue] as const;
  });
  return Object.fromEntries(entries) as Queues;
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
}
