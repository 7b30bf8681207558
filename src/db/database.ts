import { userInfo } from 'node:os';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.js';

const INT8_OID = 20;
const INTERVAL_OID = 1186;

// A types object private to Shipshape's pools: pg's global parsers stay untouched.
// bigint ids and count(*) results become numbers, exact below 2^53; intervals
// stay in their text form so they serialize to JSON as written.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return (value: string) => Number.parseInt(value, 10);
    if (oid === INTERVAL_OID) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  },
};

/**
 * Returns pg connection settings for `url`. A URL without a user name connects
 * as the operating system user, as libpq and psql do. pg alone reads only the
 * USER variable, so it fails where USER is unset.
 */
export function connectionSettings(url: string): pg.ClientConfig {
  const parsed = new URL(url);
  if (parsed.username === '') {
    parsed.username = encodeURIComponent(process.env.PGUSER || process.env.USER || userInfo().username);
  }
  return { connectionString: parsed.toString() };
}

/**
 * Startup parameter that keeps a session writable while readonly-mode has set
 * the database default `default_transaction_read_only` on: a client setting
 * overrides the database's. Every Shipshape pool passes it, so maintenance
 * jobs and their maintenance_logs rows keep working in read-only mode.
 */
export const WRITABLE_SESSION_OPTIONS = '-c default_transaction_read_only=off';

export interface DatabaseOptions {
  /** Maximum pooled connections. */
  max?: number;
  /** Name shown in pg_stat_activity, so operators can tell Shipshape's connections apart. */
  applicationName?: string;
  /** Milliseconds a new connection may take before it fails. */
  connectionTimeoutMillis?: number;
  /** Receives errors of idle pooled connections, for example when Postgres restarts. */
  onIdleError?: (error: Error) => void;
}

export type Db = Kysely<Database>;

/** Creates a Kysely instance over its own pg pool; `destroy()` closes the pool. */
export function createDatabase(url: string, options: DatabaseOptions = {}): Db {
  const pool = new pg.Pool({
    ...connectionSettings(url),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'shipshape',
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    options: WRITABLE_SESSION_OPTIONS,
    types,
  });
  // Without a listener, an idle connection that Postgres terminates (a restart,
  // pg_terminate_backend) raises an uncaught error and kills the process. The
  // pool drops that connection and opens a new one on the next query.
  pool.on('error', (error) => options.onIdleError?.(error));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
