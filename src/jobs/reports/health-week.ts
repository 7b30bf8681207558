import { sql } from 'kysely';
import type { Db } from '../../db/database.js';

/*
 * The health section of the weekly report. health-check runs every 30
 * seconds and writes no maintenance_logs row; its record is
 * health_check_state (one row per component) and health_check_history
 * (every confirmed change, plus samples).
 */

export interface HealthComponentWeek {
  component: string;
  status: string;
  since: Date;
  /** Latest result of the component, inside the period or not. */
  checkedAt: Date;
  output: string | null;
  /** Confirmed status changes in the period (history rows of kind 'change'). */
  changes: number;
  /** Of those changes, the ones to `fail`. */
  failures: number;
}

export interface HealthWeek {
  components: HealthComponentWeek[];
  /** Latest result of any component, or null when no check ever ran. */
  latestCheck: Date | null;
}

/** Reads each component's current status and its changes between `start` and `end`. */
export async function readHealthWeek(db: Db, period: { start: Date; end: Date }): Promise<HealthWeek> {
  const { rows } = await sql<HealthComponentWeek>`
    select
      state.component,
      state.status,
      state.since,
      state.checked_at as "checkedAt",
      state.output,
      count(history.id)::int as changes,
      (count(history.id) filter (where history.status = 'fail'))::int as failures
    from health_check_state as state
    left join health_check_history as history
      on history.component = state.component
      and history.kind = 'change'
      and history.checked_at >= ${period.start}
      and history.checked_at <= ${period.end}
    group by state.component
    order by state.component
  `.execute(db);
  const latestCheck = rows.reduce<Date | null>((latest, row) => (latest === null || row.checkedAt > latest ? row.checkedAt : latest), null);
  return { components: rows, latestCheck };
}
