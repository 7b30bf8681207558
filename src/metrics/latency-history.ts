import type { Redis } from 'ioredis';

/*
 * API response times kept per endpoint and hour in Redis, so that jobs in
 * worker processes can compute percentiles and trends over days. The API
 * process counts requests in memory and adds the counts to Redis about once a
 * minute, so a request costs no Redis round trip.
 *
 * One hash per hour, `<prefix>:api-latency:<YYYYMMDDHH>` in UTC, expiring
 * after LATENCY_RETENTION_DAYS:
 *   `<METHOD> <route>|<bucket index>` -> requests whose time fell in that bucket
 *   `<METHOD> <route>|errors`         -> requests that ended with a 5xx status
 *   `<METHOD> <route>|sum`            -> total milliseconds, for the mean
 */

/** Upper bounds of the buckets in milliseconds; the last bucket takes every slower request. */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, Number.POSITIVE_INFINITY] as const;
export const LATENCY_RETENTION_DAYS = 8;
const HOUR_MS = 3_600_000;

export const latencyKey = (prefix: string, hour: Date) => `${prefix}:api-latency:${hour.toISOString().slice(0, 13).replace(/[-T]/g, '')}`;

/** Returns the start of the UTC hour that contains `time`. */
export function hourOf(time: Date): Date {
  return new Date(Math.floor(time.getTime() / HOUR_MS) * HOUR_MS);
}

function bucketIndex(ms: number): number {
  const index = LATENCY_BUCKETS_MS.findIndex((bound) => ms <= bound);
  return index === -1 ? LATENCY_BUCKETS_MS.length - 1 : index;
}

/** Requests of one endpoint in a time window. */
export interface EndpointLatency {
  /** For example `POST /api/jobs/:name`. */
  endpoint: string;
  /** Request count per bucket of LATENCY_BUCKETS_MS. */
  buckets: number[];
  errors: number;
  sumMs: number;
}

export const requestCount = (latency: EndpointLatency) => latency.buckets.reduce((sum, count) => sum + count, 0);

/**
 * Estimates the `quantile` (0 to 1) of the response time in milliseconds from
 * bucket counts, by linear interpolation inside the bucket where it falls, as
 * Prometheus's histogram_quantile does. A quantile in the open last bucket
 * returns that bucket's lower bound. Returns null without requests.
 */
export function estimateQuantile(buckets: readonly number[], quantile: number): number | null {
  const total = buckets.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = quantile * total;
  let below = 0;
  for (let index = 0; index < buckets.length; index += 1) {
    const count = buckets[index] ?? 0;
    if (count > 0 && below + count >= rank) {
      const lower = index === 0 ? 0 : LATENCY_BUCKETS_MS[index - 1]!;
      const upper = LATENCY_BUCKETS_MS[index]!;
      if (!Number.isFinite(upper)) return lower;
      return Math.round((lower + ((upper - lower) * (rank - below)) / count) * 10) / 10;
    }
    below += count;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 2]!;
}

/** Counts request times in memory and adds them to the hour's Redis hash on `flush`. */
export class LatencyRecorder {
  private pending = new Map<string, number>();

  record(endpoint: string, ms: number, statusCode: number): void {
    this.add(`${endpoint}|${bucketIndex(ms)}`, 1);
    this.add(`${endpoint}|sum`, Math.round(ms));
    if (statusCode >= 500) this.add(`${endpoint}|errors`, 1);
  }

  private add(field: string, amount: number): void {
    this.pending.set(field, (this.pending.get(field) ?? 0) + amount);
  }

  /** Adds the counts gathered since the last flush to Redis; on failure they are kept for the next one. */
  async flush(redis: Redis, prefix: string, now = new Date()): Promise<number> {
    if (this.pending.size === 0) return 0;
    const batch = this.pending;
    this.pending = new Map();
    const key = latencyKey(prefix, hourOf(now));
    const pipeline = redis.multi();
    for (const [field, amount] of batch) pipeline.hincrby(key, field, amount);
    pipeline.expire(key, LATENCY_RETENTION_DAYS * 24 * 3600);
    try {
      await pipeline.exec();
    } catch (error) {
      for (const [field, amount] of batch) this.add(field, amount);
      throw error;
    }
    return batch.size;
  }
}

/** Reads the recorded requests per endpoint for the hours from `from` up to `to`, both rounded down to the hour. */
export async function readLatency(redis: Redis, prefix: string, from: Date, to: Date): Promise<Map<string, EndpointLatency>> {
  const result = new Map<string, EndpointLatency>();
  const hours: Date[] = [];
  for (let hour = hourOf(from).getTime(); hour <= hourOf(to).getTime(); hour += HOUR_MS) hours.push(new Date(hour));

  const pipeline = redis.pipeline();
  for (const hour of hours) pipeline.hgetall(latencyKey(prefix, hour));
  const replies = (await pipeline.exec()) ?? [];

  for (const [error, value] of replies) {
    if (error) throw error;
    for (const [field, raw] of Object.entries(value as Record<string, string>)) {
      const separator = field.lastIndexOf('|');
      const endpoint = field.slice(0, separator);
      const part = field.slice(separator + 1);
      const amount = Number(raw);
      let entry = result.get(endpoint);
      if (!entry) {
        entry = { endpoint, buckets: LATENCY_BUCKETS_MS.map(() => 0), errors: 0, sumMs: 0 };
        result.set(endpoint, entry);
      }
      if (part === 'sum') entry.sumMs += amount;
      else if (part === 'errors') entry.errors += amount;
      else {
        const index = Number(part);
        if (Number.isInteger(index) && index >= 0 && index < entry.buckets.length) entry.buckets[index]! += amount;
      }
    }
  }
  return result;
}
