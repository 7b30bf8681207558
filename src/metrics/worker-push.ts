import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Logger } from '../logger.js';
import { workerRegistry } from './job-metrics.js';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Identifies this process's entry in the Redis hash. */
export const WORKER_METRICS_ID = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

/** Redis hash: worker id -> `{ at, metrics }`, where metrics is `getMetricsAsJSON()` of that worker. */
export const workerMetricsKey = (prefix: string) => `${prefix}:metrics:workers`;

/** Copies this worker's registry to Redis now; returns the number of metric families written. */
export async function pushWorkerMetrics(redis: Redis, prefix: string): Promise<number> {
  const metrics = await workerRegistry.getMetricsAsJSON();
  await redis.hset(workerMetricsKey(prefix), WORKER_METRICS_ID, JSON.stringify({ at: Date.now(), metrics }));
  return metrics.length;
}

const STOP_PUSH_TIMEOUT_MS = 2000;

/** Pushes this worker's metrics every `intervalMs` until stopped; stop() pushes a last time, waiting 2 s at most. */
export function startWorkerMetricsPush(redis: Redis, prefix: string, intervalMs: number, logger: Logger): { stop(): Promise<void> } {
  let failures = 0;
  const push = () =>
    pushWorkerMetrics(redis, prefix).then(
      () => {
        failures = 0;
      },
      (error: unknown) => {
        // Logged once per streak: Redis being away is reported by the connection already.
        if (failures === 0) logger.warn({ err: error }, 'pushing worker metrics to Redis failed');
        failures += 1;
      },
    );
  void push();
  const timer = setInterval(() => void push(), intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      // A worker connection retries without limit while Redis is away, so the last push gets a deadline.
      let deadline: NodeJS.Timeout | undefined;
      await Promise.race([push(), new Promise((resolve) => (deadline = setTimeout(resolve, STOP_PUSH_TIMEOUT_MS)))]);
      clearTimeout(deadline);
    },
  };
}

/**
 * Reads every worker's pushed metrics. Entries older than `maxAgeMs` belong
 * to workers that stopped; they are removed, so their figures leave the sum.
 */
export async function readWorkerMetrics(redis: Redis, prefix: string, maxAgeMs: number, now = Date.now()): Promise<MetricsJson[]> {
  const entries = await redis.hgetall(workerMetricsKey(prefix));
  const fresh: MetricsJson[] = [];
  const stale: string[] = [];
  for (const [id, json] of Object.entries(entries)) {
    try {
      const entry = JSON.parse(json) as { at: number; metrics: MetricsJson };
      if (now - entry.at > maxAgeMs) stale.push(id);
      else fresh.push(entry.metrics);
    } catch {
      stale.push(id);
    }
  }
  if (stale.length > 0) await redis.hdel(workerMetricsKey(prefix), ...stale);
  return fresh;
}
