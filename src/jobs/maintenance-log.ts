import type { Db } from '../db/database.js';
import type { MaintenanceType, NewMaintenanceLog } from '../db/schema.js';
import type { JobDefinition } from './contract.js';

/**
 * Returns the maintenance_logs type of a run: `emergency` for emergency jobs,
 * `routine` for runs a job scheduler produced, `scheduled` for runs a person
 * requested, now or at a set time.
 */
export function maintenanceType(definition: JobDefinition, fromScheduler: boolean): MaintenanceType {
  if (definition.kind === 'emergency') return 'emergency';
  return fromScheduler ? 'routine' : 'scheduled';
}

/** Inserts one maintenance_logs row. */
export async function recordRun(db: Db, row: NewMaintenanceLog): Promise<void> {
  await db.insertInto('maintenance_logs').values(row).execute();
}

/** Formats milliseconds as a Postgres interval literal. */
export function toInterval(milliseconds: number): string {
  return `${Math.max(0, Math.round(milliseconds))} milliseconds`;
}
