import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import { readCurrentStates } from '../health/current-state.js';
import type { ComponentState } from '../health/types.js';

/** One resource of the runbook's thresholds, as the latest health check measured it. */
export interface ResourceFigure {
  resource: 'cpu' | 'memory' | 'db_connections' | 'storage';
  /** Latest measured use in percent, or null when no health check has measured it yet. */
  percent: number | null;
  thresholdPercent: number;
  status: 'under' | 'over' | 'not measured';
  measuredAt: string | null;
}

const SOURCES = [
  { resource: 'cpu', component: 'cpu', measurement: 'utilization', setting: 'HEALTH_CPU_MAX_PERCENT' },
  { resource: 'memory', component: 'memory', measurement: 'utilization', setting: 'HEALTH_MEMORY_MAX_PERCENT' },
  { resource: 'db_connections', component: 'database', measurement: 'connectionUtilization', setting: 'HEALTH_DB_CONNECTIONS_MAX_PERCENT' },
  { resource: 'storage', component: 'storage', measurement: 'utilization', setting: 'HEALTH_STORAGE_MAX_PERCENT' },
] as const;

function latestValue(state: ComponentState | undefined, measurement: string): number | null {
  const item = state?.measurements.find((entry) => entry.measurement === measurement && typeof entry.observedValue === 'number');
  return item?.observedValue ?? null;
}

/** Returns each resource's latest utilization from the health checks against its threshold setting. */
export async function resourceUtilization(redis: Redis, db: Db, config: Config): Promise<ResourceFigure[]> {
  const states = new Map((await readCurrentStates(redis, db, config.QUEUE_PREFIX)).map((state) => [state.component, state]));
  return SOURCES.map((source) => {
    const state = states.get(source.component);
    const percent = latestValue(state, source.measurement);
    const threshold = config[source.setting];
    let status: ResourceFigure['status'] = 'not measured';
    if (percent !== null) status = percent > threshold ? 'over' : 'under';
    return { resource: source.resource, percent, thresholdPercent: threshold, status, measuredAt: percent === null ? null : (state?.checkedAt ?? null) };
  });
}
