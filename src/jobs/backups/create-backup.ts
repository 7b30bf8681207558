import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { BackupKind, BackupRow } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import { writableConnectionSettings } from '../emergency/settings-state.js';
import { backupPath, fileTimestamp } from './backup-files.js';
import { failStaleBackups } from './backup-records.js';
import { programVersion, uniqueSuffix, writeDump } from './dump.js';
import { countRows, currentMigration, listPlatformTables } from './platform-tables.js';
import { databaseName, pgEnvironment, serverMajor, versionMismatch } from './pg-tools.js';

// Session advisory lock held for the whole dump: one backup at a time per
// database, whichever worker runs it. A process that dies releases it with
// its connection, which is how the next run detects that a `running` row is stale.
const BACKUP_LOCK_KEY = 0x5348_4250; // "SHBP"

export interface BackupDependencies {
  db: Db;
  config: Config;
  logger: Pick<Logger, 'info' | 'warn'>;
  signal?: AbortSignal;
  requestedBy: string;
  jobId?: string;
  log?: (line: string) => Promise<void>;
}

export interface BackupOutcome {
  backup: BackupRow;
  durationMs: number;
  staleRowsFailed: number[];
}

/** Thrown when another process holds the backup lock. */
export class BackupBusyError extends Error {
  override name = 'BackupBusyError';
}

async function openSnapshotSession(url: string): Promise<pg.Client> {
  const client = new pg.Client({ ...writableConnectionSettings(url), application_name: 'shipshape-backup-snapshot' });
  await client.connect();
  return client;
}

/**
 * Dumps the configured database into BACKUP_DIR and records it in `backups`.
 *
 * Under the backup lock it first fails stale `running` rows, then inserts a
 * `running` row, opens a REPEATABLE READ transaction, exports its snapshot
 * and counts the platform tables in it. pg_dump dumps that same snapshot, so
 * the recorded counts are exactly the rows in the file. The row turns
 * `completed` only after the file is fsynced and renamed into place.
 */
export async function createBackup(deps: BackupDependencies, kind: BackupKind): Promise<BackupOutcome> {
  const { db, config } = deps;
  const started = performance.now();
  const url = config.DATABASE_URL;
  const database = databaseName(url);

  const session = await openSnapshotSession(url);
  session.on('error', (error) => deps.logger.warn({ err: error }, 'backup snapshot connection reported an error'));
  try {
    const { rows: lockRows } = await session.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [BACKUP_LOCK_KEY]);
    if (!lockRows[0]?.locked) throw new BackupBusyError(`Another backup of database "${database}" is running; wait for it to finish`);

    const staleRowsFailed = await failStaleBackups(db, config, deps.logger);

    const dumpVersion = await programVersion(config, 'pg_dump');
    const { rows: versionRows } = await session.query<{ num: string; version: string }>(
      `select current_setting('server_version_num') as num, current_setting('server_version') as version`,
    );
    const server = versionRows[0]!;
    const mismatch = versionMismatch(dumpVersion.major, serverMajor(Number(server.num)));
    if (mismatch) throw new Error(mismatch);

    const startedAt = new Date();
    const file = `${database}-${kind}-${fileTimestamp(startedAt)}-${uniqueSuffix()}.dump`;
    const row = await db
      .insertInto('backups')
      .values({
        kind,
        file,
        database_name: database,
        server_version: server.version,
        pg_dump_version: dumpVersion.version,
        requested_by: deps.requestedBy,
        job_id: deps.jobId ?? null,
        started_at: startedAt,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await deps.log?.(`backup ${row.id}: dumping ${database} to ${file}`);

    try {
      await session.query('begin isolation level repeatable read read only');
      const { rows: snapshotRows } = await session.query<{ snapshot: string }>('select pg_export_snapshot() as snapshot');
      const snapshotDb = sessionDb(session);
      const tables = await listPlatformTables(snapshotDb);
      const counts = await countRows(snapshotDb, tables);
      const migration = await currentMigration(snapshotDb);

      const dump = await writeDump({
        config,
        pgEnv: pgEnvironment(url),
        path: backupPath(config, file),
        snapshot: snapshotRows[0]!.snapshot,
        signal: deps.signal,
      });
      await session.query('commit');

      const completed = await db
        .updateTable('backups')
        .set({
          status: 'completed',
          size_bytes: dump.sizeBytes,
          sha256: dump.sha256,
          row_counts: JSON.stringify(counts) as unknown as Record<string, number>,
          schema_migration: migration,
          finished_at: new Date(),
        })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await deps.log?.(`backup ${row.id}: ${dump.sizeBytes} bytes, sha256 ${dump.sha256}`);
      return { backup: completed, durationMs: Math.round(performance.now() - started), staleRowsFailed };
    } catch (error) {
      await session.query('rollback').catch(() => undefined);
      const reason = error instanceof Error ? error.message : String(error);
      await db.updateTable('backups').set({ status: 'failed', error: reason, finished_at: new Date() }).where('id', '=', row.id).execute();
      throw error;
    }
  } finally {
    // Ending the session releases the advisory lock.
    await session.end().catch(() => undefined);
  }
}

/**
 * Creates a Kysely instance over one open client, so the catalog helpers run inside
 * the transaction whose snapshot pg_dump uses. Destroying it leaves the client open.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function sessionDb(client: pg.Client): Kysely<any> {
  const pool = {
    connect: async () => Object.assign(client, { release: () => undefined }),
    end: async () => undefined,
  };
  return new Kysely({ dialect: new PostgresDialect({ pool: pool as unknown as pg.Pool }) });
}
