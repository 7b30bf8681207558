import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { BackupRow } from '../../db/schema.js';
import { writableConnectionSettings } from '../emergency/settings-state.js';
import { backupPath } from './backup-files.js';
import { listPlatformTables, orderByForeignKeys, ownedSequences } from './platform-tables.js';
import { pgEnvironment, runProgram, spawnProgram } from './pg-tools.js';

/*
 * Restoring a backup over the live database.
 *
 * Only the rows of the platform's data tables are replaced (see
 * SHIPSHAPE_TABLES). The schema stays as it is, so the backup must come from
 * the same migration. pg_restore writes the data of those tables as a SQL
 * script, and psql runs it after one TRUNCATE, all in a single transaction:
 * the restore either replaces every platform table or changes nothing. The
 * COMMIT is sent only after pg_restore has exited successfully, so a script
 * cut short by a failing pg_restore is rolled back.
 */

// `<id>; <catalog oid> <oid> TABLE DATA <schema> <name> <owner>` in pg_restore --list output.
const LIST_ENTRY = /^\d+;\s+\d+\s+\d+\s+(TABLE DATA|SEQUENCE SET)\s+(\S+)\s+(\S+)\s/;

export interface RestorePlan {
  /** Platform tables in load order (referenced tables first). */
  tables: string[];
  sequences: string[];
  /** The pg_restore list file lines, in the order they are loaded. */
  listLines: string[];
}

/**
 * Reads the backup's table of contents and selects the data entries of the
 * current database's platform tables, in foreign-key order. Fails when the
 * backup lacks the data of one of them, that is, when the schemas differ.
 */
export async function planRestore(db: Db, config: Config, backup: BackupRow, signal?: AbortSignal): Promise<RestorePlan> {
  const tables = await orderByForeignKeys(db, await listPlatformTables(db));
  const sequences = await ownedSequences(db, tables);
  const listing = await runProgram(config, 'pg_restore', ['--list', backupPath(config, backup.file)], {}, signal);

  const data = new Map<string, string>();
  const sequenceLines: string[] = [];
  for (const line of listing.split('\n')) {
    const match = LIST_ENTRY.exec(line);
    if (!match || match[2] !== 'public') continue;
    if (match[1] === 'TABLE DATA' && tables.includes(match[3]!)) data.set(match[3]!, line);
    if (match[1] === 'SEQUENCE SET' && sequences.includes(match[3]!)) sequenceLines.push(line);
  }

  const missing = tables.filter((table) => !data.has(table));
  if (missing.length > 0) {
    throw new Error(
      `Backup ${backup.id} has no data for ${missing.join(', ')}: it was taken with another schema; restore it into a scratch database instead`,
    );
  }
  return { tables, sequences, listLines: [...tables.map((table) => data.get(table)!), ...sequenceLines] };
}

// Folder inside BACKUP_DIR for the pg_restore list files of running restores.
// A restore killed with SIGKILL leaves its folder here, and the next restore removes it.
const RESTORE_TEMP_FOLDER = '.restore-tmp';

async function makeRestoreFolder(config: Config): Promise<string> {
  const parent = backupPath(config, RESTORE_TEMP_FOLDER);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  for (const entry of await readdir(parent)) await rm(join(parent, entry), { recursive: true, force: true });
  return mkdtemp(join(parent, 'restore-'));
}

export interface RestoreOptions {
  signal?: AbortSignal;
  /** Kills psql and pg_restore and fails after this many milliseconds; default RESTORE_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** Ends the psql session's backend, which may still wait on a lock after psql itself was killed. */
async function terminateSession(config: Config, applicationName: string): Promise<void> {
  const client = new pg.Client({ ...writableConnectionSettings(config.DATABASE_URL), application_name: 'shipshape-restore-cleanup' });
  await client.connect();
  try {
    await client.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]);
  } finally {
    await client.end();
  }
}

/**
 * Runs the plan: TRUNCATE the platform tables and load the backup's rows, in
 * one transaction. psql and pg_restore stop together: when psql exits or
 * closes its input (an SQL error, a lock_timeout), pg_restore is killed, and
 * when pg_restore fails, psql's input ends without COMMIT. After
 * RESTORE_TIMEOUT_MS both are killed and psql's backend is terminated.
 * Every failure rolls the transaction back. The error is pg_restore's when it
 * failed by itself, else psql's.
 */
export async function restoreOverLive(config: Config, backup: BackupRow, plan: RestorePlan, options: RestoreOptions = {}): Promise<number> {
  const started = performance.now();
  const timeoutMs = options.timeoutMs ?? config.RESTORE_TIMEOUT_MS;
  const folder = await makeRestoreFolder(config);
  try {
    const listFile = join(folder, 'restore.list');
    await writeFile(listFile, `${plan.listLines.join('\n')}\n`, { mode: 0o600 });

    const env = pgEnvironment(config.DATABASE_URL);
    const sessionName = `shipshape-restore-${process.pid}-${Math.round(started)}`;
    const psql = spawnProgram(config, 'psql', ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { ...env, PGAPPNAME: sessionName }, {
      signal: options.signal,
      stdin: 'pipe',
    });
    psql.child.stdout?.resume();
    const input = psql.child.stdin!;
    let committed = false;
    let timedOut = false;

    const args = ['--data-only', '--no-owner', '--no-privileges', `--use-list=${listFile}`, '--file=-', backupPath(config, backup.file)];
    const restore = spawnProgram(config, 'pg_restore', args, env, { signal: options.signal });
    let restoreKilled = false;
    const killRestore = () => {
      // A second call, after the kill but before the exit is seen, gets false from kill(), so the first result is kept.
      if (restore.child.exitCode === null && restore.child.signalCode === null) restoreKilled = restore.child.kill('SIGKILL') || restoreKilled;
      // Output that psql will never read keeps the paused stream, and so pg_restore's 'close' event, pending.
      restore.child.stdout?.destroy();
    };
    // psql exiting (ON_ERROR_STOP, a lock_timeout) closes the pipe: pg_restore would block writing to it forever.
    input.on('error', killRestore);
    input.on('close', () => {
      if (!committed) killRestore();
    });
    psql.child.on('close', killRestore);

    const timer = setTimeout(() => {
      timedOut = true;
      killRestore();
      psql.child.kill('SIGKILL');
    }, timeoutMs);

    const tables = plan.tables.map((table) => `public.${table}`).join(', ');
    // Without CASCADE: a table outside the plan that references one of these makes the TRUNCATE fail, and nothing changes.
    const lockTimeout = Math.max(1, Math.round(config.RESTORE_LOCK_TIMEOUT_MS));
    input.write(`begin;\nset local lock_timeout = ${lockTimeout};\ntruncate table ${tables};\n`);
    restore.child.stdout!.pipe(input, { end: false });

    const [restoreResult, psqlResult] = await Promise.allSettled([
      restore.finished.then(
        () => {
          // COMMIT only once pg_restore has written all of its script without error.
          committed = !input.destroyed;
          input.end(committed ? 'commit;\n' : undefined);
        },
        (error: unknown) => {
          // No COMMIT is sent: ending the input ends psql's session and rolls the transaction back.
          input.end();
          throw error;
        },
      ),
      psql.finished,
    ]);
    clearTimeout(timer);

    if (timedOut) {
      await terminateSession(config, sessionName).catch(() => undefined);
      throw new Error(`Restore of backup ${backup.id} timed out after ${timeoutMs} ms (RESTORE_TIMEOUT_MS); psql and pg_restore were killed and nothing was changed`);
    }
    // A pg_restore that failed by itself (a damaged archive) is the cause even when psql failed on its partial output too.
    if (restoreResult.status === 'rejected' && !restoreKilled) throw restoreResult.reason;
    if (psqlResult.status === 'rejected') throw psqlResult.reason;
    if (restoreResult.status === 'rejected') throw restoreResult.reason;
    if (!committed) throw new Error(`psql closed its input before the restore of backup ${backup.id} was committed; nothing was changed`);
    return Math.round(performance.now() - started);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
