import type { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { QueueName } from '../../src/queues/queues.js';

/**
 * Requests a job through POST /api/jobs/:name and waits, 30 s at most, for its
 * result. `events` needs a QueueEvents for the job's queue; a failed run
 * rejects with its failure reason.
 */
export async function runJobThroughApi(
  app: FastifyInstance,
  events: Partial<Record<QueueName, QueueEvents>>,
  name: string,
  data: Record<string, unknown> = {},
) {
  const response = await app.inject({ method: 'POST', url: `/api/jobs/${name}`, payload: { data } });
  expect(response.statusCode, response.body).toBe(202);

  const queue: QueueName = response.json().queue;
  const queueEvents = events[queue];
  if (!queueEvents) throw new Error(`no QueueEvents given for the ${queue} queue of ${name}`);
  const job = await app.queues[queue].getJob(response.json().id);
  return job!.waitUntilFinished(queueEvents, 30_000);
}
