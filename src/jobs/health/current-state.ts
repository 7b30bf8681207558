import type { Redis } from 'ioredis';
import type { Db } from '../../db/database.js';
import { readStoredStates } from './persist.js';
import { loadStates } from './store.js';
import type { ComponentState } from './types.js';

/**
 * Reads the current component states: from Redis, which every run updates
 * even while Postgres is down, or from health_check_state when Redis has none
 * (after a Redis restart, before the next run). Sorted by component name.
 */
export async function readCurrentStates(redis: Redis, db: Db, prefix: string): Promise<ComponentState[]> {
  let states = [...(await loadStates(redis, prefix)).values()];
  if (states.length === 0) {
    // With neither copy readable there is no state yet to report.
    states = await readStoredStates(db, 1).catch(() => []);
  }
  return states.sort((a, b) => a.component.localeCompare(b.component));
}
