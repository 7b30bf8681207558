import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import type { PendingHistoryRow } from './store.js';
import type { ComponentState } from './types.js';

// Rows one prune statement deletes at most, so a lowered cap never means one huge delete.
const PRUNE_BATCH = 5000;

export async function insertHistory(db: Db, rows: PendingHistoryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('health_check_history')
    .values(rows.map((row) => ({ ...row, measurements: JSON.stringify(row.measurements) })))
    .execute();
}

/** Writes the current state of each component to health_check_state. */
export async function upsertStates(db: Db, states: ComponentState[]): Promise<void> {
  if (states.length === 0) return;
  await db
    .insertInto('health_check_state')
    .values(
      states.map((state) => ({
        component: state.component,
        status: state.status,
        since: state.since,
        output: state.output,
        measurements: JSON.stringify(state.measurements),
        checked_at: state.checkedAt,
      })),
    )
    .onConflict((conflict) =>
      conflict.column('component').doUpdateSet((eb) => ({
        status: eb.ref('excluded.status'),
        since: eb.ref('excluded.since'),
        output: eb.ref('excluded.output'),
        measurements: eb.ref('excluded.measurements'),
        checked_at: eb.ref('excluded.checked_at'),
      })),
    )
    .execute();
}

/** Deletes the oldest history rows beyond `maxRows`, at most PRUNE_BATCH per call; returns the count. */
export async function pruneHistory(db: Db, maxRows: number): Promise<number> {
  const result = await sql`
    delete from health_check_history
    where id in (
      select id from health_check_history
      where id <= (select id from health_check_history order by id desc offset ${maxRows} limit 1)
      order by id
      limit ${PRUNE_BATCH}
    )`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/** Reads the stored states, to seed Redis when its copy is missing. */
export async function readStoredStates(db: Db, confirmRuns: number): Promise<ComponentState[]> {
  const rows = await db.selectFrom('health_check_state').selectAll().execute();
  return rows.map((row) => ({
    component: row.component,
    status: row.status,
    since: row.since.toISOString(),
    output: row.output,
    measurements: Array.isArray(row.measurements) ? row.measurements : [],
    checkedAt: row.checked_at.toISOString(),
    observed: row.status,
    observedCount: confirmRuns,
    lastSampleAt: null,
    lastCriticalAt: null,
  }));
}
