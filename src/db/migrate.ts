import pg from 'pg';
import { redactUrl } from '../config.js';
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import { connectionSettings, type Db } from './database.js';
import * as initial from './migrations/0001-initial.js';
import * as emailQueue from './migrations/0002-email-queue.js';
import * as alerts from './migrations/0003-alerts.js';
import * as platformSettings from './migrations/0004-platform-settings.js';
import * as blockedIps from './migrations/0005-blocked-ips.js';
import * as passwordResets from './migrations/0006-password-resets.js';
import * as backups from './migrations/0007-backups.js';
import * as healthChecks from './migrations/0008-health-checks.js';
import * as uploadsCertificates from './migrations/0009-uploads-certificates.js';
import * as security from './migrations/0010-security.js';
import * as scheduleOverrides from './migrations/0011-schedule-overrides.js';
import * as apiTokens from './migrations/0012-api-tokens.js';

// Migrations are imported, not read from a folder at run time, so the same
// list works under tsx, in a bundle and in tests. Names sort in run order.
const migrations: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-email-queue': emailQueue,
  '0003-alerts': alerts,
  '0004-platform-settings': platformSettings,
  '0005-blocked-ips': blockedIps,
  '0006-password-resets': passwordResets,
  '0007-backups': backups,
  '0008-health-checks': healthChecks,
  '0009-uploads-certificates': uploadsCertificates,
  '0010-security': security,
  '0011-schedule-overrides': scheduleOverrides,
  '0012-api-tokens': apiTokens,
};

const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};

const DUPLICATE_DATABASE = '42P04';
const UNIQUE_VIOLATION = '23505';
const INVALID_PASSWORD = '28P01';
const INVALID_AUTHORIZATION = '28000';

/**
 * Creates the database named in `url` when it does not exist, connecting to the
 * server's `postgres` database to do so. Safe when several processes race.
 * Returns true when this call created it.
 */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error(`DATABASE_URL names no database: add one after the host, as in postgres://host:5432/shipshape`);

  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ ...connectionSettings(admin.toString()), application_name: 'shipshape-migrate' });
  try {
    await client.connect();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: unknown }).code;
    // The server responded but rejected the login: the credentials are wrong, not the server down.
    if (code === INVALID_PASSWORD || code === INVALID_AUTHORIZATION) {
      throw new Error(`PostgreSQL at ${redactUrl(url)} rejected the login (${reason}); check the user and password in DATABASE_URL`, { cause: error });
    }
    throw new Error(`PostgreSQL at ${redactUrl(url)} is unreachable (${reason}); start PostgreSQL or set DATABASE_URL`, {
      cause: error,
    });
  }
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`create database ${pg.escapeIdentifier(name)}`);
    return true;
  } catch (error) {
    // Two processes can both see the database missing; the loser's CREATE fails
    // with one of these codes, and the database exists all the same.
    const code = (error as { code?: string }).code;
    if (code === DUPLICATE_DATABASE || code === UNIQUE_VIOLATION) return false;
    throw error;
  } finally {
    await client.end();
  }
}

/** Applies every pending migration. Kysely's Migrator takes a lock, so concurrent callers are safe. */
export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const resultSet = await migrator.migrateToLatest();
  if (resultSet.error) {
    const failed = resultSet.results?.find((result) => result.status === 'Error');
    const cause = resultSet.error instanceof Error ? resultSet.error : new Error(String(resultSet.error));
    throw new Error(`Migration ${failed?.migrationName ?? '(unknown)'} failed: ${cause.message}`, { cause });
  }
  return resultSet;
}
