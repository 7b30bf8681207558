import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { queueSettings, type QueueName } from './queues.js';

/*
 * Worker control: a way to change the concurrency of running worker processes
 * without restarting them.
 *
 * - `<prefix>:shipshape:concurrency` is a hash of queue -> concurrency requested
 *   per worker process. A worker applies it at start, so a scaled queue stays
 *   scaled across restarts until someone sets it again.
 * - `<prefix>:shipshape:control` is the channel that notifies running workers
 *   to read the hash again.
 * - `<prefix>:shipshape:workers` is a hash of worker id -> what that process
 *   serves and at which concurrency, rewritten at every heartbeat and at every
 *   change. An entry whose heartbeat is older than three periods belongs to a
 *   process that is gone.
 */

/** The highest concurrency one worker process may be given on one queue. */
export const MAX_CONCURRENCY = 100;
export const HEARTBEAT_MS = 5_000;
const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

export interface ControlKeys {
  desired: string;
  roster: string;
  channel: string;
}

export function controlKeys(prefix: string): ControlKeys {
  return {
    desired: `${prefix}:shipshape:concurrency`,
    roster: `${prefix}:shipshape:workers`,
    channel: `${prefix}:shipshape:control`,
  };
}

/** One worker process as it last reported itself. */
export interface RosterEntry {
  id: string;
  host: string;
  pid: number;
  /** Concurrency per served queue. */
  queues: Partial<Record<QueueName, number>>;
  seenAt: number;
}

/** The concurrency each queue should run at: the stored value, or the queue's default. */
export async function desiredConcurrency(redis: Redis, prefix: string): Promise<Record<QueueName, number>> {
  const stored = await redis.hgetall(controlKeys(prefix).desired);
  const result = {} as Record<QueueName, number>;
  for (const [queue, settings] of Object.entries(queueSettings) as [QueueName, { concurrency: number }][]) {
    const value = Number.parseInt(stored[queue] ?? '', 10);
    result[queue] = Number.isInteger(value) && value >= 1 && value <= MAX_CONCURRENCY ? value : settings.concurrency;
  }
  return result;
}

/** Stores the requested concurrency of a queue and notifies running workers to apply it. */
export async function setDesiredConcurrency(redis: Redis, prefix: string, queue: QueueName, concurrency: number): Promise<void> {
  const keys = controlKeys(prefix);
  await redis.hset(keys.desired, queue, String(concurrency));
  await redis.publish(keys.channel, JSON.stringify({ queue }));
}

/** Returns the worker processes alive now, and removes the entries of processes gone silent. */
export async function readRoster(redis: Redis, prefix: string, now = Date.now()): Promise<RosterEntry[]> {
  const key = controlKeys(prefix).roster;
  const raw = await redis.hgetall(key);
  const alive: RosterEntry[] = [];
  const stale: string[] = [];
  for (const [id, value] of Object.entries(raw)) {
    let entry: RosterEntry | undefined;
    try {
      entry = JSON.parse(value) as RosterEntry;
    } catch {
      entry = undefined;
    }
    if (entry && now - entry.seenAt <= STALE_AFTER_MS) alive.push(entry);
    else stale.push(id);
  }
  if (stale.length > 0) await redis.hdel(key, ...stale);
  return alive.sort((a, b) => a.id.localeCompare(b.id));
}

/** Counts the running processes that serve `queue` and the jobs of it they take at once in all. */
export function queueTotals(roster: readonly RosterEntry[], queue: QueueName) {
  const serving = roster.filter((entry) => entry.queues[queue] !== undefined);
  return {
    workers: serving.length,
    total: serving.reduce((sum, entry) => sum + (entry.queues[queue] ?? 0), 0),
    perWorker: serving.map((entry) => ({ worker: entry.id, concurrency: entry.queues[queue] ?? 0 })),
  };
}

export interface WorkerControlOptions {
  /** A worker connection; the subscriber is a duplicate of it. */
  connection: Redis;
  prefix: string;
  workers: ReadonlyMap<QueueName, Worker>;
  logger: Logger;
}

export interface WorkerControl {
  id: string;
  /** Resolves once the stored concurrency is applied and the process is on the roster. */
  ready: Promise<void>;
  /** Stops listening and takes the process off the roster. */
  close(): Promise<void>;
}

/** Applies stored concurrency to this process's workers and keeps them in line with later changes. */
export function attachWorkerControl(options: WorkerControlOptions): WorkerControl {
  const { connection, prefix, workers, logger } = options;
  const keys = controlKeys(prefix);
  const id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const subscriber = connection.duplicate();
  let closed = false;

  const report = async () => {
    const queues: Partial<Record<QueueName, number>> = {};
    for (const [queue, worker] of workers) queues[queue] = worker.concurrency;
    const entry: RosterEntry = { id, host: hostname(), pid: process.pid, queues, seenAt: Date.now() };
    await connection.hset(keys.roster, id, JSON.stringify(entry));
  };

  const apply = async () => {
    const requested = await desiredConcurrency(connection, prefix);
    for (const [queue, worker] of workers) {
      if (worker.concurrency !== requested[queue]) {
        logger.info({ queue, from: worker.concurrency, to: requested[queue] }, 'worker concurrency changed');
        worker.concurrency = requested[queue];
      }
    }
    await report();
  };

  const heartbeat = setInterval(() => {
    report().catch((error: unknown) => logger.warn({ err: error }, 'worker heartbeat failed'));
  }, HEARTBEAT_MS);
  heartbeat.unref();

  subscriber.on('message', () => {
    if (closed) return;
    apply().catch((error: unknown) => logger.warn({ err: error }, 'applying a concurrency change failed'));
  });
  // The error listener keeps a lost connection from crashing the process; ioredis reconnects and resubscribes.
  subscriber.on('error', (error) => logger.debug({ err: error }, 'worker control connection error'));

  const ready = (async () => {
    await subscriber.subscribe(keys.channel);
    await apply();
  })();
  // A failure here is reported through `ready`; a worker keeps running at its current concurrency.
  ready.catch((error: unknown) => logger.warn({ err: error }, 'worker control could not start'));

  return {
    id,
    ready,
    async close() {
      closed = true;
      clearInterval(heartbeat);
      try {
        await connection.hdel(keys.roster, id);
      } catch (error) {
        logger.debug({ err: error }, 'could not take the worker off the roster');
      }
      subscriber.disconnect();
    },
  };
}
