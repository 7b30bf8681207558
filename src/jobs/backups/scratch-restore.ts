import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { Config } from '../../config.js';
import { connectionSettings, createDatabase } from '../../db/database.js';
import type { BackupRow } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import { backupPath } from './backup-files.js';
import { countRows } from './platform-tables.js';
import { pgEnvironment, runProgram } from './pg-tools.js';

export interface ScratchRestoreReport {
  scratchDatabase: string;
  restoreMs: number;
  expected: Record<string, number>;
  restored: Record<string, number>;
  /** Tables whose restored count differs from the count recorded at dump time. */
  mismatches: { table: string; expected: number; restored: number | null }[];
}

/** URL of another database on the same server as `url`. */
function sameServerUrl(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

async function withAdminClient<T>(url: string, action: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...connectionSettings(sameServerUrl(url, 'postgres')), application_name: 'shipshape-test-restore' });
  await client.connect();
  try {
    return await action(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Restores `backup` into a new database with a unique name on the same
 * server, counts the tables whose counts the backup recorded, and compares.
 * The scratch database is dropped in every case, also when the restore fails.
 */
export async function restoreIntoScratch(
  config: Config,
  backup: BackupRow,
  logger: Pick<Logger, 'warn'>,
  signal?: AbortSignal,
): Promise<ScratchRestoreReport> {
  const url = config.DATABASE_URL;
  const scratch = `shipshape_restore_${backup.id}_${randomBytes(4).toString('hex')}`;
  await withAdminClient(url, (client) => client.query(`create database ${pg.escapeIdentifier(scratch)}`));
  try {
    const started = performance.now();
    // The database name alone is no credential; the connection itself comes from the environment.
    await runProgram(
      config,
      'pg_restore',
      ['--no-owner', '--no-privileges', '--exit-on-error', '--no-password', `--dbname=${scratch}`, backupPath(config, backup.file)],
      pgEnvironment(url, scratch),
      signal,
    );
    const restoreMs = Math.round(performance.now() - started);

    const expected = backup.row_counts ?? {};
    const scratchDb = createDatabase(sameServerUrl(url, scratch), { max: 1, applicationName: 'shipshape-test-restore' });
    let restored: Record<string, number> = {};
    const mismatches: ScratchRestoreReport['mismatches'] = [];
    try {
      const { rows } = await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = 'public'`.execute(scratchDb);
      const present = new Set(rows.map((row) => row.tablename));
      const tables = Object.keys(expected).filter((table) => present.has(table));
      restored = await countRows(scratchDb, tables);
      for (const [table, count] of Object.entries(expected)) {
        const actual = restored[table] ?? null;
        if (actual !== count) mismatches.push({ table, expected: count, restored: actual });
      }
    } finally {
      await scratchDb.destroy();
    }
    return { scratchDatabase: scratch, restoreMs, expected, restored, mismatches };
  } finally {
    await withAdminClient(url, (client) => client.query(`drop database if exists ${pg.escapeIdentifier(scratch)} with (force)`)).catch(
      (error: unknown) => logger.warn({ err: error, database: scratch }, 'dropping the scratch database failed; drop it by hand'),
    );
  }
}
