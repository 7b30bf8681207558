import type { Redis } from 'ioredis';
import type { AlertAction } from './transitions.js';
import type { ComponentState, HealthStatus } from './types.js';

/*
 * Redis keys of the health checks, under the queue prefix:
 * - `<prefix>:health:state`   hash component -> ComponentState JSON: the
 *   current state, read by every run, /health/ready and /metrics.
 * - `<prefix>:health:pending` list of writes Postgres has not taken yet
 *   (history rows and alert actions), oldest first.
 * - `<prefix>:health:lock`    held by the running health-check.
 */

export interface PendingHistoryRow {
  component: string;
  kind: 'change' | 'sample';
  status: HealthStatus;
  previous_status: HealthStatus | null;
  output: string | null;
  measurements: unknown;
  checked_at: string;
}

export type PendingWrite =
  | { type: 'history'; row: PendingHistoryRow }
  /** `emailedAt` is set when the alert email went out directly, without Postgres. */
  | { type: 'alert'; action: AlertAction; emailedAt?: string };

// Enough for days of an outage: six components, one sample each per five minutes.
const MAX_PENDING = 50_000;

export const healthKeys = (prefix: string) => ({
  state: `${prefix}:health:state`,
  pending: `${prefix}:health:pending`,
  lock: `${prefix}:health:lock`,
});

export async function loadStates(redis: Redis, prefix: string): Promise<Map<string, ComponentState>> {
  const entries = await redis.hgetall(healthKeys(prefix).state);
  const states = new Map<string, ComponentState>();
  for (const [component, json] of Object.entries(entries)) states.set(component, JSON.parse(json) as ComponentState);
  return states;
}

export async function saveStates(redis: Redis, prefix: string, states: Iterable<ComponentState>): Promise<void> {
  const fields = [...states].flatMap((state) => [state.component, JSON.stringify(state)]);
  if (fields.length > 0) await redis.hset(healthKeys(prefix).state, ...fields);
}

/** Appends writes for Postgres; past MAX_PENDING the oldest are dropped. */
export async function pushPending(redis: Redis, prefix: string, writes: PendingWrite[]): Promise<void> {
  if (writes.length === 0) return;
  const key = healthKeys(prefix).pending;
  await redis.multi().rpush(key, ...writes.map((write) => JSON.stringify(write))).ltrim(key, -MAX_PENDING, -1).exec();
}

export async function readPending(redis: Redis, prefix: string, limit: number): Promise<PendingWrite[]> {
  const items = await redis.lrange(healthKeys(prefix).pending, 0, limit - 1);
  return items.map((item) => JSON.parse(item) as PendingWrite);
}

/** Removes the first `count` pending writes, once Postgres has taken them. */
export async function dropPending(redis: Redis, prefix: string, count: number): Promise<void> {
  if (count > 0) await redis.ltrim(healthKeys(prefix).pending, count, -1);
}

/** Takes the run lock for `ttlMs`; false when another run holds it. */
export async function acquireLock(redis: Redis, prefix: string, token: string, ttlMs: number): Promise<boolean> {
  return (await redis.set(healthKeys(prefix).lock, token, 'PX', ttlMs, 'NX')) === 'OK';
}

const RELEASE_SCRIPT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export async function releaseLock(redis: Redis, prefix: string, token: string): Promise<void> {
  await redis.eval(RELEASE_SCRIPT, 1, healthKeys(prefix).lock, token);
}
