import { sql, type Transaction, type Updateable } from 'kysely';
import pg from 'pg';
import { connectionSettings, WRITABLE_SESSION_OPTIONS, type Db } from '../../db/database.js';
import type { Database, PlatformSettings, PlatformSettingsTable } from '../../db/schema.js';
import type { JsonValue } from '../contract.js';

export { WRITABLE_SESSION_OPTIONS };

/** pg settings for a connection to `url` that stays writable under readonly-mode. */
export function writableConnectionSettings(url: string): pg.ClientConfig {
  return { ...connectionSettings(url), options: WRITABLE_SESSION_OPTIONS };
}

export type SettingsState = { [key: string]: JsonValue };

/** Converts a platform_settings row to JSON for the before and after state in job summaries. */
export function describeSettings(row: PlatformSettings): SettingsState {
  return {
    maintenanceMode: row.maintenance_mode,
    maintenanceMessage: row.maintenance_message,
    maintenanceUntil: row.maintenance_until?.toISOString() ?? null,
    readOnly: row.read_only,
    lockdown: row.lockdown,
    rateLimitPerMinute: row.rate_limit_per_minute,
    tokensValidAfter: row.tokens_valid_after?.toISOString() ?? null,
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
  };
}

export interface SettingsChange {
  before: SettingsState;
  after: SettingsState;
}

/**
 * Updates platform_settings in one transaction that locks the row first, so
 * concurrent emergency jobs apply one after the other and each reports the
 * state it replaced. `extra` runs in the same transaction after the update.
 *
 * The transaction starts with SET TRANSACTION READ WRITE, so these writes
 * work on a pooled connection opened while readonly-mode is on.
 */
export async function changeSettings(
  db: Db,
  values: Updateable<PlatformSettingsTable>,
  requestedBy: string,
  extra?: (trx: Transaction<Database>) => Promise<void>,
): Promise<SettingsChange> {
  return db.transaction().execute(async (trx) => {
    await sql`set transaction read write`.execute(trx);
    const before = await trx.selectFrom('platform_settings').selectAll().forUpdate().executeTakeFirstOrThrow();
    const after = await trx
      .updateTable('platform_settings')
      .set({ ...values, updated_at: sql`now()`, updated_by: requestedBy })
      .returningAll()
      .executeTakeFirstOrThrow();
    await extra?.(trx);
    return { before: describeSettings(before), after: describeSettings(after) };
  });
}
