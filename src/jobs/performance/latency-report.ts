import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { estimateQuantile, readLatency, requestCount, type EndpointLatency } from '../../metrics/latency-history.js';

/*
 * Response-time figures shared by api-performance and optimize-routes: per
 * endpoint from the API's own request history (see metrics/latency-history.ts),
 * and per checked URL from the health checks' sampled results.
 */

const HOUR_MS = 3_600_000;
/** A change of the 95th percentile smaller than this share counts as steady. */
const STEADY_SHARE = 0.1;

export interface Window {
  from: Date;
  to: Date;
}

/** Returns the window of `hours` that ends at `now`, and the one of equal length before it. */
export function windows(now: Date, hours: number): { current: Window; previous: Window } {
  const from = new Date(now.getTime() - hours * HOUR_MS);
  return { current: { from, to: now }, previous: { from: new Date(from.getTime() - hours * HOUR_MS), to: from } };
}

export type Direction = 'slower' | 'faster' | 'steady' | 'new';

export interface Trend {
  previousP95Ms: number | null;
  /** Change of the 95th percentile against the previous window, in percent. */
  changePercent: number | null;
  direction: Direction;
}

export function trendOf(currentP95: number | null, previousP95: number | null): Trend {
  if (previousP95 === null || currentP95 === null || previousP95 === 0) {
    return { previousP95Ms: previousP95, changePercent: null, direction: 'new' };
  }
  const change = (currentP95 - previousP95) / previousP95;
  let direction: Direction = change > 0 ? 'slower' : 'faster';
  if (Math.abs(change) < STEADY_SHARE) direction = 'steady';
  return { previousP95Ms: previousP95, changePercent: Math.round(change * 1000) / 10, direction };
}

export interface EndpointFigures {
  endpoint: string;
  requests: number;
  errors: number;
  /** Share of requests that ended with a 5xx status, in percent. */
  errorPercent: number;
  meanMs: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Estimated time spent on the endpoint in the window, in seconds: requests times mean. */
  totalSeconds: number;
  trend: Trend;
}

function figures(current: EndpointLatency, previous: EndpointLatency | undefined): EndpointFigures {
  const requests = requestCount(current);
  const p95 = estimateQuantile(current.buckets, 0.95);
  return {
    endpoint: current.endpoint,
    requests,
    errors: current.errors,
    errorPercent: requests === 0 ? 0 : Math.round((current.errors / requests) * 1000) / 10,
    meanMs: requests === 0 ? 0 : Math.round((current.sumMs / requests) * 10) / 10,
    p50Ms: estimateQuantile(current.buckets, 0.5),
    p95Ms: p95,
    p99Ms: estimateQuantile(current.buckets, 0.99),
    totalSeconds: Math.round(current.sumMs / 100) / 10,
    trend: trendOf(p95, previous ? estimateQuantile(previous.buckets, 0.95) : null),
  };
}

/**
 * Reads the API's request history for the current and previous window and
 * returns the figures of every endpoint with requests in the current one.
 * History is kept per hour, so both windows are widened to whole hours.
 */
export async function endpointFigures(redis: Redis, prefix: string, now: Date, hours: number): Promise<EndpointFigures[]> {
  const { current, previous } = windows(now, hours);
  // The previous window ends in the hour the current one starts in; that hour counts once, in the current window.
  const previousTo = new Date(current.from.getTime() - HOUR_MS);
  const [currentLatency, previousLatency] = await Promise.all([
    readLatency(redis, prefix, current.from, current.to),
    readLatency(redis, prefix, previous.from, previousTo),
  ]);
  return [...currentLatency.values()]
    .filter((latency) => requestCount(latency) > 0)
    .map((latency) => figures(latency, previousLatency.get(latency.endpoint)));
}

export interface CheckedUrlFigures {
  url: string;
  samples: number;
  failures: number;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
  trend: Trend;
}

interface SampleRow {
  url: string;
  in_current: boolean;
  samples: number;
  failures: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/**
 * Returns response-time percentiles of each URL the health checks call, from
 * their sampled results in health_check_history, with the trend against the
 * previous window.
 */
export async function checkedUrlFigures(db: Db, now: Date, hours: number): Promise<CheckedUrlFigures[]> {
  const { current, previous } = windows(now, hours);
  const { rows } = await sql<SampleRow>`
    select
      m->>'componentId' as url,
      h.checked_at >= ${current.from} as in_current,
      count(*)::int as samples,
      count(*) filter (where m->>'status' = 'fail')::int as failures,
      percentile_cont(0.5) within group (order by (m->>'observedValue')::float8) as p50,
      percentile_cont(0.95) within group (order by (m->>'observedValue')::float8) as p95,
      max((m->>'observedValue')::float8) as max
    from health_check_history h
    cross join lateral jsonb_array_elements(h.measurements) m
    where h.component = 'api'
      and h.checked_at >= ${previous.from} and h.checked_at <= ${current.to}
      and m->>'measurement' = 'responseTime'
      and m->>'componentId' is not null
    group by 1, 2
  `.execute(db);

  const round = (value: number | null) => (value === null ? null : Math.round(value * 10) / 10);
  const byUrl = new Map<string, { current?: SampleRow; previous?: SampleRow }>();
  for (const row of rows) {
    const entry = byUrl.get(row.url) ?? {};
    if (row.in_current) entry.current = row;
    else entry.previous = row;
    byUrl.set(row.url, entry);
  }
  const result: CheckedUrlFigures[] = [];
  for (const [url, entry] of byUrl) {
    if (!entry.current) continue;
    result.push({
      url,
      samples: entry.current.samples,
      failures: entry.current.failures,
      p50Ms: round(entry.current.p50),
      p95Ms: round(entry.current.p95),
      maxMs: round(entry.current.max),
      trend: trendOf(round(entry.current.p95), round(entry.previous?.p95 ?? null)),
    });
  }
  return result.sort((a, b) => (b.p95Ms ?? 0) - (a.p95Ms ?? 0));
}
