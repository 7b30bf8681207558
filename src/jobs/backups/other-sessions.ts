import { sql } from 'kysely';
import type { Db } from '../../db/database.js';

/** Prefix of application_name on Shipshape's own connections (pools, pg_dump, psql), which are never ended. */
export const SHIPSHAPE_APPLICATION_PREFIX = 'shipshape';

/**
 * Ends every other client session of the current database, except
 * Shipshape's own (application_name starting with `shipshape`). Read-only
 * mode changes only the default of new connections, so a session opened
 * before it can still write. Ending those sessions before the pre-restore
 * backup means none of their committed writes falls between that backup and
 * the restore. A session that turns default_transaction_read_only off itself,
 * as Shipshape's own do, can still write. Waits up to 5 s for each session to
 * end and returns the number that ended.
 */
export async function endOtherSessions(db: Db): Promise<number> {
  const { rows } = await terminate(db).catch((error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Ending the other sessions of the database failed: ${reason}. The database role needs the pg_signal_backend role (GRANT pg_signal_backend TO <role>), ` +
        'and only a superuser can end a superuser session',
    );
  });
  return rows[0]?.ended ?? 0;
}

function terminate(db: Db) {
  return sql<{ ended: number }>`
    select count(*) filter (where pg_terminate_backend(pid, 5000))::int as ended
      from pg_stat_activity
     where datname = current_database()
       and backend_type = 'client backend'
       and pid <> pg_backend_pid()
       and coalesce(application_name, '') not like ${`${SHIPSHAPE_APPLICATION_PREFIX}%`}
  `.execute(db);
}
