import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { BackupRow } from '../../db/schema.js';
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

/** Runs the plan: TRUNCATE the platform tables and load the backup's rows, in one transaction. */
export async function restoreOverLive(config: Config, backup: BackupRow, plan: RestorePlan, signal?: AbortSignal): Promise<number> {
  const started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), 'shipshape-restore-'));
  try {
    const listFile = join(folder, 'restore.list');
    await writeFile(listFile, `${plan.listLines.join('\n')}\n`);

    const env = pgEnvironment(config.DATABASE_URL);
    const psql = spawnProgram(config, 'psql', ['-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '-f', '-'], env, {
      signal,
      stdin: 'pipe',
    });
    psql.child.stdout?.resume();
    const input = psql.child.stdin!;
    // psql exiting on an error closes its input; its exit status carries the error.
    input.on('error', () => undefined);

    const tables = plan.tables.map((table) => `public.${table}`).join(', ');
    // Without CASCADE: a table outside the plan that references one of these makes the TRUNCATE fail, and nothing changes.
    input.write(`begin;\nset local lock_timeout = '30s';\ntruncate table ${tables};\n`);

    const args = ['--data-only', '--no-owner', '--no-privileges', `--use-list=${listFile}`, '--file=-', backupPath(config, backup.file)];
    const restore = spawnProgram(config, 'pg_restore', args, env, { signal });
    restore.child.stdout!.pipe(input, { end: false });
    try {
      await restore.finished;
    } catch (error) {
      // No COMMIT was sent: ending the input ends psql's session and rolls the transaction back.
      input.end();
      await psql.finished.catch(() => undefined);
      throw error;
    }
    // COMMIT only once pg_restore has written all of its script without error.
    input.end('commit;\n');
    await psql.finished;
    return Math.round(performance.now() - started);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
