import { sql, type Kysely } from 'kysely';
import type { Db } from '../../db/database.js';
import type { Database } from '../../db/schema.js';

/*
 * One pinned connection for upkeep statements.
 *
 * VACUUM, REINDEX CONCURRENTLY and DROP INDEX CONCURRENTLY cannot run inside
 * a transaction block or a multi-statement string. Each statement therefore
 * goes alone, as its own implicit transaction, on one connection taken from the
 * pool for the whole run, so that the `lock_timeout` set first applies to all
 * of them. The connection returns to the pool with its settings reset.
 */

/** SQLSTATE of "canceling statement due to lock timeout". */
const LOCK_NOT_AVAILABLE = '55P03';

/** A connection pinned for one run; each call sends one statement. */
export type PinnedConnection = Kysely<Database>;

export type StatementOutcome = 'done' | 'lock-timeout' | 'failed';

export interface StatementResult {
  /** The table or index the statement acted on, schema-qualified. */
  target: string;
  statement: string;
  outcome: StatementOutcome;
  durationMs: number;
  /** The server's message and SQLSTATE when the statement did not succeed. */
  error?: string;
  code?: string;
}

/** The key of the advisory lock held by a vacuum-analyze or reindex run, so two never overlap. */
const UPKEEP_LOCK_KEY = 'shipshape:database-upkeep';

/** Thrown when another upkeep run holds the advisory lock. */
export class UpkeepBusyError extends Error {
  override name = 'UpkeepBusyError';
}

/**
 * Runs `work` on one pinned connection with `lock_timeout` set, and resets it
 * before the connection returns to the pool.
 */
export async function withLockTimeout<T>(db: Db, lockTimeoutMs: number, work: (connection: PinnedConnection) => Promise<T>): Promise<T> {
  return db.connection().execute(async (connection) => {
    await sql`set lock_timeout = ${sql.lit(Math.trunc(lockTimeoutMs))}`.execute(connection);
    try {
      return await work(connection);
    } finally {
      await sql`reset lock_timeout`.execute(connection);
    }
  });
}

/**
 * Runs `work` like withLockTimeout, with the upkeep advisory lock held. The
 * lock is a session lock: it is released at the end, or by the server when
 * the connection dies with the worker.
 */
export async function withUpkeepSession<T>(db: Db, lockTimeoutMs: number, work: (connection: PinnedConnection) => Promise<T>): Promise<T> {
  return withLockTimeout(db, lockTimeoutMs, async (connection) => {
    const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(hashtext(${UPKEEP_LOCK_KEY})) as locked`.execute(connection);
    if (rows[0]?.locked !== true) {
      throw new UpkeepBusyError('another vacuum-analyze or reindex run is working on this database; run this one again when it has finished');
    }
    try {
      return await work(connection);
    } finally {
      // A pooled connection must not carry this run's lock into the next query.
      await sql`select pg_advisory_unlock(hashtext(${UPKEEP_LOCK_KEY}))`.execute(connection);
    }
  });
}

/** Thrown when a report query waited DB_LOCK_TIMEOUT_MS for a lock, usually behind an ALTER TABLE or a migration. */
export class ReportLockTimeoutError extends Error {
  override name = 'ReportLockTimeoutError';
}

/**
 * Runs the read-only report queries of `work` with `lock_timeout` set. The size
 * functions (pg_relation_size and the like) take an ACCESS SHARE lock on each
 * relation, so without a timeout a report would wait as long as any ACCESS
 * EXCLUSIVE lock is held. A timeout fails the run, and the queue retries it.
 */
export async function withReportSession<T>(db: Db, lockTimeoutMs: number, work: (connection: PinnedConnection) => Promise<T>): Promise<T> {
  try {
    return await withLockTimeout(db, lockTimeoutMs, work);
  } catch (error) {
    if ((error as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw error;
    throw new ReportLockTimeoutError(
      `a table or index stayed locked longer than DB_LOCK_TIMEOUT_MS (${lockTimeoutMs} ms), usually by an ALTER TABLE or a migration; the run is retried later (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/**
 * Sends one statement alone and returns its outcome. A lock timeout or another
 * server error becomes an outcome, so the caller can go on with the next
 * target. Errors without a SQLSTATE, such as a lost connection, are rethrown.
 */
export async function runStatement(connection: PinnedConnection, target: string, statement: string): Promise<StatementResult> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    await sql.raw(statement).execute(connection);
    return { target, statement, outcome: 'done', durationMs: elapsed() };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) throw error;
    return {
      target,
      statement,
      outcome: code === LOCK_NOT_AVAILABLE ? 'lock-timeout' : 'failed',
      durationMs: elapsed(),
      error: (error as Error).message,
      code,
    };
  }
}
