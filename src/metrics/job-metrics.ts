import { Counter, Histogram, Registry } from 'prom-client';

/*
 * Metrics recorded in worker processes. Each worker copies this registry to
 * Redis (see worker-push.ts) and the API adds every copy into its /metrics.
 */

/** The registry of this worker process. */
export const workerRegistry = new Registry();

export const jobsTotal = new Counter({
  name: 'shipshape_jobs_total',
  help: 'Job attempts finished by workers, by queue, job name and outcome (completed or failed)',
  labelNames: ['queue', 'job', 'outcome'] as const,
  registers: [workerRegistry],
});

export const jobDuration = new Histogram({
  name: 'shipshape_job_duration_seconds',
  help: 'Duration of job attempts from start to finish in a worker, by queue, job name and outcome',
  labelNames: ['queue', 'job', 'outcome'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  registers: [workerRegistry],
});

export type JobOutcome = 'completed' | 'failed';

/** Counts one finished attempt; `durationSeconds` is left out when BullMQ did not report the start and end. */
export function recordJobOutcome(queue: string, job: string, outcome: JobOutcome, durationSeconds?: number): void {
  jobsTotal.inc({ queue, job, outcome });
  if (durationSeconds !== undefined && Number.isFinite(durationSeconds) && durationSeconds >= 0) {
    jobDuration.observe({ queue, job, outcome }, durationSeconds);
  }
}
