import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { list as listTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { connectionSettings } from '../../src/db/database.js';
import { seedDatabase, type SeedCounts } from '../../src/db/seed.js';
import { applyRetention, INTERRUPTED_ERROR } from '../../src/jobs/backups/backup-records.js';
import { PARTIAL_SUFFIX } from '../../src/jobs/backups/backup-files.js';
import { planRestore, restoreOverLive } from '../../src/jobs/backups/live-restore.js';
import { pgEnvironment, runProgram, versionMismatch } from '../../src/jobs/backups/pg-tools.js';
import { verifyBackupFile } from '../../src/jobs/backups/verify.js';
import { REDACTED, redactConfig } from '../../src/jobs/backups/redact-config.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { calendar } from '../../src/queues/calendar.js';
import { createRedis } from '../../src/queues/connection.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_POSTGRES_URL, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startWorkerProcess } from '../helpers/worker-process.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('backups');
const SMTP_SECRET = 'hunter2-smtp-secret';
let database: TestDatabase;
let config: Config;
let backupDir: string;
let storageDir: string;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let seeded: SeedCounts;

const run = (name: string, data: Record<string, unknown> = {}) => runJobThroughApi(app, { backups: events }, name, data);

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

async function backupRow(id: number) {
  return database.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function adminQuery(text: string, values: unknown[] = []) {
  const admin = new pg.Client(connectionSettings(`${TEST_POSTGRES_URL}/postgres`));
  await admin.connect();
  try {
    return (await admin.query(text, values)).rows;
  } finally {
    await admin.end();
  }
}

async function platformCounts(tables: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await sql<{ count: number }>`select count(*)::int as count from ${sql.table(table)}`.execute(database.db);
    counts[table] = rows[0]!.count;
  }
  return counts;
}

async function readOnlyState() {
  const settings = await database.db.selectFrom('platform_settings').select('read_only').executeTakeFirstOrThrow();
  const client = new pg.Client({ ...connectionSettings(database.url), application_name: 'test-read-only-check' });
  await client.connect();
  try {
    const { rows } = await client.query<{ default_transaction_read_only: string }>('show default_transaction_read_only');
    return { flag: settings.read_only, newConnection: rows[0]!.default_transaction_read_only };
  } finally {
    await client.end();
  }
}

/** Opens a session that holds ACCESS SHARE on `table`, which blocks a TRUNCATE. Its application_name keeps restore-db from ending it. */
async function holdTableLock(table: string) {
  const holder = new pg.Client({ ...connectionSettings(database.url), application_name: 'shipshape-test-lock-holder' });
  await holder.connect();
  await holder.query('begin');
  await holder.query(`lock table ${pg.escapeIdentifier(table)} in access share mode`);
  return {
    release: async () => {
      await holder.query('rollback').catch(() => undefined);
      await holder.end().catch(() => undefined);
    },
  };
}

async function openAlert(key: string) {
  return database.db.selectFrom('alerts').selectAll().where('dedup_key', '=', key).executeTakeFirst();
}

beforeAll(async () => {
  database = await createTestDatabase('backups');
  seeded = await seedDatabase(database.db, { scale: 1, seed: 7 });
  backupDir = await mkdtemp(join(tmpdir(), 'shipshape-backups-'));
  storageDir = await mkdtemp(join(tmpdir(), 'shipshape-storage-'));
  await mkdir(join(storageDir, 'certificates'));
  await writeFile(join(storageDir, 'certificates', 'stcw-basic-safety.pdf'), 'certificate bytes');
  await writeFile(join(storageDir, 'crew-photo.jpg'), 'photo bytes');

  config = testConfig({
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    BACKUP_DIR: backupDir,
    STORAGE_DIR: storageDir,
    SMTP_URL: `smtp://mailer:${SMTP_SECRET}@127.0.0.1:2525`,
    RESTORE_LOCK_TIMEOUT_MS: '2000',
  });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['backups'], definitions: jobDefinitions });
  events = new QueueEvents('backups', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
});

afterAll(async () => {
  if (database) await adminQuery(`alter database ${pg.escapeIdentifier(database.name)} reset default_transaction_read_only`);
  await events?.close();
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
  if (backupDir) await rm(backupDir, { recursive: true, force: true });
  if (storageDir) await rm(storageDir, { recursive: true, force: true });
});

describe('backup, verify, test-restore', () => {
  let backupId: number;

  it('dumps with checksum and snapshot counts', async () => {
    const result = await run('backup-database', { kind: 'daily' });
    backupId = result.backupId;

    expect(result.kind).toBe('daily');
    const path = join(backupDir, result.file);
    expect(await sha256(path)).toBe(result.sha256);
    expect((await readFile(path)).length).toBe(result.sizeBytes);
    expect((await readFile(path)).subarray(0, 5).toString()).toBe('PGDMP');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    for (const [table, count] of Object.entries(seeded)) expect(result.rowCounts[table], table).toBe(count);
    expect(result.rowCounts).not.toHaveProperty('maintenance_logs');
    expect(result.rowCounts).not.toHaveProperty('backups');
    expect(result.durationMs).toBeGreaterThan(0);
    expect(result.pgDumpVersion).toMatch(/^\d+\.\d+/);

    const row = await backupRow(backupId);
    expect(row.status).toBe('completed');
    expect(row.finished_at).not.toBeNull();
    expect(row.schema_migration).toMatch(/^0007-backups$|^00\d\d-/);
    expect((await readdir(backupDir)).filter((name) => name.endsWith(PARTIAL_SUFFIX))).toEqual([]);
  });

  it('verifies the night backup', async () => {
    const result = await run('verify-backup');

    expect(result).toMatchObject({ backupId, verified: true, medianSizeBytes: null, comparedWith: 0 });
    expect(result.archiveEntries).toBeGreaterThan(10);
    const row = await backupRow(backupId);
    expect(row.verification_status).toBe('passed');
    expect(row.verified_at).not.toBeNull();
  });

  it('restores into a scratch database', async () => {
    const result = await run('test-restore', { backupId });

    expect(result.countsMatch).toBe(true);
    expect(result.restoreMs).toBeGreaterThan(0);
    for (const [table, count] of Object.entries(seeded)) expect(result.rowCounts[table], table).toBe(count);
    const row = await backupRow(backupId);
    expect(row.restore_test_status).toBe('passed');
    expect(row.restore_test_ms).toBe(result.restoreMs);
    const scratch = await adminQuery(`select datname from pg_database where datname like $1`, [`shipshape_restore_${backupId}_%`]);
    expect(scratch).toEqual([]);
  });

  it('drops the scratch database after a failed restore', async () => {
    const extra = await run('backup-database', { kind: 'manual' });
    // A same-size file that pg_restore reads up to its table of contents only.
    const path = join(backupDir, extra.file);
    const bytes = await readFile(path);
    bytes.fill(0, Math.floor(bytes.length / 2));
    await writeFile(path, bytes);

    await expect(run('test-restore', { backupId: extra.backupId })).rejects.toThrow(/Test restore of backup \d+ failed: pg_restore failed/);
    const scratch = await adminQuery(`select datname from pg_database where datname like $1`, [`shipshape_restore_${extra.backupId}_%`]);
    expect(scratch).toEqual([]);
    expect((await backupRow(extra.backupId)).restore_test_status).toBe('failed');
    expect(await openAlert(`test-restore:${extra.backupId}:restore`)).toMatchObject({ severity: 'high', status: 'open' });
    await unlink(path);
    await database.db.deleteFrom('backups').where('id', '=', extra.backupId).execute();
  });
});

describe('verify-backup failures', () => {
  async function freshBackup() {
    const result = await run('backup-database', { kind: 'daily' });
    return { id: result.backupId as number, path: join(backupDir, result.file), size: result.sizeBytes as number };
  }

  async function expectVerificationFailure(id: number, check: string, reason: RegExp) {
    await expect(run('verify-backup')).rejects.toThrow(reason);
    const row = await backupRow(id);
    expect(row.verification_status).toBe('failed');
    expect(row.verification_error).toMatch(new RegExp(`^${check}: `));
    const alert = await openAlert(`verify-backup:${id}:${check}`);
    expect(alert).toMatchObject({ severity: 'high', source: 'verify-backup', status: 'open' });
    expect(alert!.message).toContain(`Backup ${id}`);
  }

  it('rejects a corrupted file', async () => {
    const backup = await freshBackup();
    const bytes = await readFile(backup.path);
    for (let offset = 2000; offset < 2010; offset += 1) bytes[offset] = bytes[offset]! ^ 0xff;
    await writeFile(backup.path, bytes);

    await expectVerificationFailure(backup.id, 'checksum', /Backup verification failed \(checksum\): .* fails its checksum/);
  });

  it('rejects a truncated file', async () => {
    const backup = await freshBackup();
    await truncate(backup.path, Math.floor(backup.size / 2));

    await expectVerificationFailure(backup.id, 'checksum', /Backup verification failed \(checksum\): .* is truncated/);
  });

  it('rejects a missing file', async () => {
    const backup = await freshBackup();
    await unlink(backup.path);

    await expectVerificationFailure(backup.id, 'file', /Backup verification failed \(file\): .* is missing/);
  });

  it('rejects a file far smaller than recent ones', async () => {
    await sql`truncate audit_logs, token_blacklist, user_sessions`.execute(database.db);
    try {
      const backup = await freshBackup();
      await expectVerificationFailure(backup.id, 'size', /Backup verification failed \(size\): .* outside the expected/);
    } finally {
      seeded = await seedDatabase(database.db, { scale: 1, seed: 7 });
    }
  });

  it('accepts a normal file again', async () => {
    const backup = await freshBackup();
    const result = await run('verify-backup');
    expect(result).toMatchObject({ backupId: backup.id, verified: true });
    expect(result.comparedWith).toBeGreaterThan(0);
  });

  it('leaves a running backup unmarked', async () => {
    const insertRunning = async (file: string, startedAt: Date) =>
      (
        await database.db
          .insertInto('backups')
          .values({ kind: 'daily', file, database_name: database.name, requested_by: 'test', started_at: startedAt })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const fresh = await insertRunning('still-dumping.dump', new Date());
    const stuck = await insertRunning('stuck-dumping.dump', new Date(Date.now() - (config.BACKUP_MAX_AGE_HOURS + 1) * 3_600_000));
    try {
      await expect(run('verify-backup')).rejects.toThrow(`Backup ${fresh} (still-dumping.dump) is still running`);
      const freshRow = await backupRow(fresh);
      expect(freshRow.verification_status).toBeNull();
      expect(freshRow.verified_at).toBeNull();
      const freshAlerts = await database.db.selectFrom('alerts').select('id').where('dedup_key', 'like', `verify-backup:${fresh}:%`).execute();
      expect(freshAlerts).toEqual([]);

      await expect(run('verify-backup', { backupId: stuck })).rejects.toThrow(`Backup ${stuck} (stuck-dumping.dump) is still running`);
      expect((await backupRow(stuck)).verification_status).toBeNull();
      expect(await openAlert(`verify-backup:${stuck}:completed`)).toMatchObject({ severity: 'high', status: 'open' });
    } finally {
      await database.db.deleteFrom('backups').where('id', 'in', [fresh, stuck]).execute();
    }
  });
});

describe('killed backup', () => {
  it('leaves nothing complete and the next run cleans up', async () => {
    const killedPrefix = uniqueName('backups_killed');
    const locker = new pg.Client(connectionSettings(database.url));
    await locker.connect();
    const worker = startWorkerProcess(
      { DATABASE_URL: database.url, QUEUE_PREFIX: killedPrefix, BACKUP_DIR: backupDir, STORAGE_DIR: storageDir },
      ['--queues', 'backups'],
    );
    const producer = createRedis(TEST_REDIS_URL, 'producer');
    const queue = new Queue('backups', { connection: producer, prefix: killedPrefix });
    try {
      // pg_dump locks every table it dumps; holding one lock stops it mid-run.
      await locker.query('begin');
      await locker.query('lock table alert_digests in access exclusive mode');
      await worker.waitForLog('workers started');
      await queue.add('backup-database', { payload: { kind: 'daily' }, requestedBy: 'test' });

      const running = await waitFor('a running backup row', async () =>
        (await database.db.selectFrom('backups').selectAll().where('status', '=', 'running').executeTakeFirst()) ?? undefined,
      );
      await waitFor('pg_dump waiting for its table lock', async () => {
        const rows = await adminQuery(
          `select pid from pg_stat_activity where datname = $1 and application_name = 'shipshape-backup' and wait_event_type = 'Lock'`,
          [database.name],
        );
        return rows.length > 0 ? true : undefined;
      });
      expect(await worker.stop('SIGKILL')).toBe('SIGKILL');
      await locker.query('rollback');

      const after = await backupRow(running.id);
      expect(after.status).toBe('running');
      const files = await readdir(backupDir);
      expect(files).not.toContain(running.file);
      expect(await database.db.selectFrom('backups').select('id').where('file', '=', running.file).where('status', '=', 'completed').execute()).toEqual([]);

      const next = await run('backup-database', { kind: 'manual' });
      expect(next.staleRowsFailed).toEqual([running.id]);
      const failed = await backupRow(running.id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toBe(INTERRUPTED_ERROR);
      const left = await readdir(backupDir);
      expect(left).not.toContain(running.file + PARTIAL_SUFFIX);
      expect(left).not.toContain(running.file);
      expect(left).toContain(next.file);
    } finally {
      await locker.end().catch(() => undefined);
      await worker.stop('SIGKILL');
      await queue.close();
      producer.disconnect();
      await removeQueuePrefix(killedPrefix);
    }
  });
});

describe('restore-db', () => {
  it('rejects a request without confirmation', async () => {
    const backup = await database.db.selectFrom('backups').select('id').where('status', '=', 'completed').executeTakeFirstOrThrow();
    const missing = await app.inject({ method: 'POST', url: '/api/jobs/restore-db', payload: { data: { backupId: backup.id } } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().code).toBe('INVALID_PAYLOAD');
    expect(missing.json().message).toContain('data.confirm is missing');

    const wrong = await app.inject({ method: 'POST', url: '/api/jobs/restore-db', payload: { data: { backupId: backup.id, confirm: 'production' } } });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().message).toContain('data.confirm "production" is not the name of the database');
  });

  it('brings deleted rows back after a pre-restore backup', async () => {
    const source = await run('backup-database', { kind: 'manual' });
    const tables = Object.keys(source.rowCounts);
    const logsBefore = await database.db.selectFrom('maintenance_logs').select('id').execute();
    const raised = await app.inject({
      method: 'POST',
      url: '/api/alerts',
      payload: { severity: 'low', source: 'operator', key: 'restore-db:kept', message: 'Raised after the backup' },
    });
    expect(raised.statusCode).toBe(201);

    await sql`delete from quiz_attempts where id % 2 = 0`.execute(database.db);
    await sql`delete from users where id in (select id from users order by id desc limit 5)`.execute(database.db);
    const damaged = await platformCounts(tables);
    expect(damaged.quiz_attempts).toBeLessThan(source.rowCounts.quiz_attempts);

    const dry = await run('restore-db', { backupId: source.backupId, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, database: database.name });
    expect(await platformCounts(tables)).toEqual(damaged);

    const result = await run('restore-db', { backupId: source.backupId, confirm: database.name });

    expect(result.dryRun).toBe(false);
    expect(await platformCounts(tables)).toEqual(source.rowCounts);
    const preRestore = await backupRow(result.preRestoreBackup.id);
    expect(preRestore).toMatchObject({ kind: 'pre-restore', status: 'completed' });
    expect(preRestore.row_counts).toEqual(damaged);
    expect(result.turnedReadOnlyOn).toBe(true);
    expect(result.readOnlyDuringRestore).toBe(true);
    const settings = await database.db.selectFrom('platform_settings').select('read_only').executeTakeFirstOrThrow();
    expect(settings.read_only).toBe(false);

    // Shipshape's own records survive: earlier log rows, and the restore's own row.
    const logs = await database.db.selectFrom('maintenance_logs').select(['id', 'job_name', 'type', 'result']).execute();
    expect(logs.length).toBeGreaterThan(logsBefore.length);
    expect(logs).toContainEqual(expect.objectContaining({ job_name: 'restore-db', type: 'emergency', result: 'success' }));
    expect(await openAlert('restore-db:kept')).toMatchObject({ message: 'Raised after the backup' });
    const ids = await database.db.selectFrom('backups').select('id').execute();
    expect(ids.map((row) => row.id)).toContain(result.preRestoreBackup.id);

    // New rows get fresh ids: the sequences were restored with the data.
    await expect(sql`insert into crews (name, vessel) values ('Relief crew', 'MV Example')`.execute(database.db)).resolves.toBeDefined();
  });

  it('fails promptly when psql hits a lock timeout', async () => {
    const source = await run('backup-database', { kind: 'manual' });
    const tables = Object.keys(source.rowCounts);
    await sql`delete from quiz_attempts where id % 5 = 0`.execute(database.db);
    const before = await platformCounts(tables);

    // The TRUNCATE waits for this lock until RESTORE_LOCK_TIMEOUT_MS (2 s here) while pg_restore fills the pipe to psql.
    const lock = await holdTableLock('quiz_attempts');
    const started = Date.now();
    try {
      await expect(run('restore-db', { backupId: source.backupId, confirm: database.name })).rejects.toThrow(/psql failed .*lock timeout/);
    } finally {
      await lock.release();
    }

    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await platformCounts(tables)).toEqual(before);
    expect(await readOnlyState()).toEqual({ flag: false, newConnection: 'off' });
    const restoreSessions = await adminQuery(`select pid from pg_stat_activity where datname = $1 and application_name like 'shipshape-restore-%'`, [
      database.name,
    ]);
    expect(restoreSessions).toEqual([]);
  });

  it('keeps every write of sessions opened earlier', async () => {
    const source = await run('backup-database', { kind: 'manual' });
    const writer = new pg.Client({ ...connectionSettings(database.url), application_name: 'crew-portal' });
    writer.on('error', () => undefined);
    await writer.connect();
    const committed: string[] = [];
    let stop = false;
    // Opened before read-only mode, so the database default does not stop its writes.
    const writing = (async () => {
      for (let index = 0; !stop; index += 1) {
        const name = `Writer crew ${index}`;
        try {
          await writer.query(`insert into crews (name, vessel) values ($1, 'MV Writer')`, [name]);
        } catch {
          return;
        }
        committed.push(name);
      }
    })();
    await waitFor('a first committed insert', () => (committed.length > 0 ? true : undefined));

    const result = await run('restore-db', { backupId: source.backupId, confirm: database.name });
    stop = true;
    await writing;
    await writer.end().catch(() => undefined);

    const live = await sql<{ name: string }>`select name from crews where vessel = 'MV Writer'`.execute(database.db);
    const liveNames = new Set(live.rows.map((row) => row.name));
    const preRestore = await backupRow(result.preRestoreBackup.id);
    const dumped = await runProgram(config, 'pg_restore', ['--data-only', '--table=crews', '--file=-', join(backupDir, preRestore.file)]);
    const lost = committed.filter((name) => !liveNames.has(name) && !dumped.includes(`\t${name}\t`));
    expect(committed.length).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect(result.sessionsEnded).toBeGreaterThanOrEqual(1);
  });

  it('restores a backup far larger than earlier ones', async () => {
    await sql`
      insert into audit_logs (action, details)
      select 'bulk-import', jsonb_build_object('note', (select string_agg(md5(random()::text || g || part), '') from generate_series(1, 40) part))
        from generate_series(1, 5000) g
    `.execute(database.db);
    try {
      const source = await run('backup-database', { kind: 'manual' });
      const tables = Object.keys(source.rowCounts);
      // verify-backup's size check rejects it; restore-db must not run that check.
      await expect(verifyBackupFile(database.db, config, await backupRow(source.backupId))).rejects.toThrow(/outside the expected/);
      await sql`delete from audit_logs where action = 'bulk-import'`.execute(database.db);

      // A list folder left by a killed restore is removed by the next one.
      const stale = join(backupDir, '.restore-tmp', 'restore-stale');
      await mkdir(stale, { recursive: true });
      await writeFile(join(stale, 'restore.list'), 'left behind');

      const result = await run('restore-db', { backupId: source.backupId, confirm: database.name });

      expect(await platformCounts(tables)).toEqual(source.rowCounts);
      expect(result.preRestoreBackup.id).toBeGreaterThan(source.backupId);
      expect(await readdir(join(backupDir, '.restore-tmp'))).toEqual([]);
    } finally {
      await sql`delete from audit_logs where action = 'bulk-import'`.execute(database.db);
    }
  });

  it('refuses a second start after a worker crash', async () => {
    const source = await run('backup-database', { kind: 'manual' });
    const tables = Object.keys(source.rowCounts);
    await sql`delete from quiz_attempts where id % 7 = 0`.execute(database.db);
    const before = await platformCounts(tables);

    const crashPrefix = uniqueName('backups_crash');
    const env = { DATABASE_URL: database.url, QUEUE_PREFIX: crashPrefix, BACKUP_DIR: backupDir, STORAGE_DIR: storageDir, RESTORE_LOCK_TIMEOUT_MS: '600000' };
    const lock = await holdTableLock('quiz_attempts');
    const first = startWorkerProcess(env, ['--queues', 'backups']);
    let second: ReturnType<typeof startWorkerProcess> | undefined;
    const producer = createRedis(TEST_REDIS_URL, 'producer');
    const queue = new Queue('backups', { connection: producer, prefix: crashPrefix });
    try {
      await first.waitForLog('workers started');
      const job = await queue.add('restore-db', { payload: { backupId: source.backupId, confirm: database.name }, requestedBy: 'test' });
      await waitFor(
        'psql waiting for its table lock',
        async () => {
          const rows = await adminQuery(
            `select pid from pg_stat_activity where datname = $1 and application_name like 'shipshape-restore-%' and wait_event_type = 'Lock'`,
            [database.name],
          );
          return rows.length > 0 ? true : undefined;
        },
        { timeoutMs: 30_000 },
      );
      expect((await readOnlyState()).flag).toBe(true);
      expect(await first.stop('SIGKILL')).toBe('SIGKILL');
      await lock.release();

      // BullMQ hands the job of the dead worker to the next one once its lock expires (about 30 s).
      second = startWorkerProcess(env, ['--queues', 'backups']);
      const failedReason = await waitFor(
        'the second start of the restore to fail',
        async () => {
          const current = await queue.getJob(job.id!);
          return current && (await current.getState()) === 'failed' ? current.failedReason : undefined;
        },
        { timeoutMs: 100_000, intervalMs: 250 },
      );

      expect(failedReason).toMatch(/was interrupted before it finished/);
      expect(failedReason).toMatch(/a person must request a new restore-db job/);
      expect(await readOnlyState()).toEqual({ flag: false, newConnection: 'off' });
      expect(await platformCounts(tables)).toEqual(before);
      const alert = await openAlert(`restore-db:${job.id}:interrupted`);
      expect(alert).toMatchObject({ severity: 'critical', source: 'restore-db', status: 'open' });
    } finally {
      await lock.release();
      await first.stop('SIGKILL');
      await second?.stop('SIGKILL');
      await queue.close();
      producer.disconnect();
      await removeQueuePrefix(crashPrefix);
    }
  }, 150_000);
});

describe('live restore', () => {
  it('changes nothing when pg_restore fails', async () => {
    const source = await run('backup-database', { kind: 'manual' });
    const backup = await backupRow(source.backupId);
    const plan = await planRestore(database.db, config, backup);
    const tables = Object.keys(source.rowCounts);
    await sql`delete from quiz_attempts where id % 3 = 0`.execute(database.db);
    const before = await platformCounts(tables);

    // The table of contents stays readable and the data after it is zeroed, so pg_restore fails while reading the data.
    const bytes = await readFile(join(backupDir, backup.file));
    bytes.fill(0, Math.floor(bytes.length / 3));
    const broken = `broken-${backup.file}`;
    await writeFile(join(backupDir, broken), bytes);

    // psql may fail first, on the damaged rows pg_restore wrote before it noticed the damage.
    await expect(restoreOverLive(config, { ...backup, file: broken }, plan)).rejects.toThrow(/(pg_restore|psql) failed/);
    expect(await platformCounts(tables)).toEqual(before);
    await unlink(join(backupDir, broken));
  });

  it('kills both programs at RESTORE_TIMEOUT_MS', async () => {
    const source = await run('backup-database', { kind: 'manual' });
    const backup = await backupRow(source.backupId);
    const plan = await planRestore(database.db, config, backup);
    const tables = Object.keys(source.rowCounts);
    await sql`delete from quiz_attempts where id % 4 = 0`.execute(database.db);
    const before = await platformCounts(tables);

    // The lock wait outlasts the time limit, so only the time limit ends the restore.
    const lock = await holdTableLock('quiz_attempts');
    const started = Date.now();
    try {
      await expect(restoreOverLive({ ...config, RESTORE_LOCK_TIMEOUT_MS: 600_000 }, backup, plan, { timeoutMs: 1500 })).rejects.toThrow(
        /timed out after 1500 ms \(RESTORE_TIMEOUT_MS\)/,
      );
      expect(Date.now() - started).toBeLessThan(15_000);
      const sessions = await adminQuery(`select pid from pg_stat_activity where datname = $1 and application_name like 'shipshape-restore-%'`, [
        database.name,
      ]);
      expect(sessions).toEqual([]);
    } finally {
      await lock.release();
    }
    expect(await platformCounts(tables)).toEqual(before);
  });
});

describe('full-backup', () => {
  it('writes dump, storage, redacted configuration and manifest', async () => {
    const result = await run('full-backup');

    const folder = join(backupDir, result.bundle);
    const manifest = JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8'));
    expect(manifest.database.sha256).toBe(await sha256(join(backupDir, result.database.file)));
    expect(manifest.storage.sha256).toBe(await sha256(join(folder, 'storage.tar.gz')));
    expect(manifest.configuration.sha256).toBe(await sha256(join(folder, 'config.json')));
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    for (const name of ['manifest.json', 'storage.tar.gz', 'config.json']) expect((await stat(join(folder, name))).mode & 0o777, name).toBe(0o600);

    const entries: string[] = [];
    await listTar({ file: join(folder, 'storage.tar.gz'), onReadEntry: (entry) => entries.push(entry.path) });
    expect(entries).toContain('./certificates/stcw-basic-safety.pdf');
    expect(entries).toContain('./crew-photo.jpg');

    const configText = await readFile(join(folder, 'config.json'), 'utf8');
    expect(configText).not.toContain(SMTP_SECRET);
    expect(JSON.parse(configText).SMTP_URL).toBe(`smtp://mailer:${encodeURIComponent(REDACTED)}@127.0.0.1:2525`);

    expect(result.countsMatch).toBe(true);
    const row = await backupRow(result.database.id);
    expect(row).toMatchObject({ kind: 'monthly', status: 'completed', bundle: result.bundle, restore_test_status: 'passed' });
  });

  it('fires on the first Sunday at 02:00 for a year', () => {
    const entry = calendar.find((item) => item.job === 'full-backup');
    const expression = CronExpressionParser.parse(entry!.pattern!, { tz: 'UTC', currentDate: new Date('2027-03-15T00:00:00Z') });
    const fires = Array.from({ length: 12 }, () => expression.next().toDate());

    for (const fire of fires) {
      expect(fire.getUTCDay(), fire.toISOString()).toBe(0);
      expect(fire.getUTCDate(), fire.toISOString()).toBeLessThanOrEqual(7);
      expect([fire.getUTCHours(), fire.getUTCMinutes()]).toEqual([2, 0]);
    }
    expect(new Set(fires.map((fire) => fire.getUTCMonth())).size).toBe(12);
  });
});

describe('backups API', () => {
  it('lists newest first with pages', async () => {
    const first = await app.inject({ method: 'GET', url: '/api/backups?limit=2' });
    expect(first.statusCode).toBe(200);
    const page = first.json();
    expect(page.items).toHaveLength(2);
    expect(page.items[0].id).toBeGreaterThan(page.items[1].id);
    expect(page.nextBefore).toBe(page.items[1].id);

    const second = await app.inject({ method: 'GET', url: `/api/backups?limit=2&before=${page.nextBefore}` });
    expect(second.json().items[0].id).toBeLessThan(page.nextBefore);
    const failed = await app.inject({ method: 'GET', url: '/api/backups?status=failed&limit=200' });
    expect(failed.json().items.every((item: { status: string }) => item.status === 'failed')).toBe(true);
  });

  it('shows one backup with its checks', async () => {
    const verified = await database.db.selectFrom('backups').select('id').where('verification_status', '=', 'passed').executeTakeFirstOrThrow();
    const response = await app.inject({ method: 'GET', url: `/api/backups/${verified.id}` });
    expect(response.statusCode).toBe(200);
    expect(response.json().verification.status).toBe('passed');

    const missing = await app.inject({ method: 'GET', url: '/api/backups/999999' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'BACKUP_NOT_FOUND', message: 'Backup 999999 does not exist; GET /api/backups lists the backups' });
  });
});

describe('retention', () => {
  it('keeps the newest and the newest verified backup', async () => {
    const verified = await database.db
      .selectFrom('backups')
      .select('id')
      .where('verification_status', '=', 'passed')
      .orderBy('started_at', 'desc')
      .executeTakeFirstOrThrow();
    const daily = await database.db
      .selectFrom('backups')
      .select(['id', 'file'])
      .where('kind', 'in', ['daily', 'manual'])
      .where('status', '=', 'completed')
      .orderBy('started_at', 'desc')
      .execute();
    expect(daily.length).toBeGreaterThan(2);

    const report = await applyRetention(database.db, { ...config, BACKUP_KEEP_DAILY: 1 });

    const left = await database.db.selectFrom('backups').select('id').where('kind', 'in', ['daily', 'manual']).where('status', '=', 'completed').execute();
    expect(left.map((row) => row.id).sort()).toEqual([daily[0]!.id, verified.id].sort());
    expect(report.keptVerifiedId).toBe(verified.id);
    const files = await readdir(backupDir);
    for (const row of daily.slice(1).filter((item) => item.id !== verified.id)) expect(files).not.toContain(row.file);
  });

  it('gives failed backups no keep slot', async () => {
    const older = await run('backup-database', { kind: 'daily' });
    const good = await run('backup-database', { kind: 'daily' });
    const bad = await run('backup-database', { kind: 'daily' });
    await database.db.updateTable('backups').set({ verification_status: 'failed', verification_error: 'checksum: test' }).where('id', 'in', [older.backupId, bad.backupId]).execute();

    const report = await applyRetention(database.db, { ...config, BACKUP_KEEP_DAILY: 1 });

    const left = await database.db.selectFrom('backups').select('id').where('kind', 'in', ['daily', 'manual']).execute();
    const leftIds = left.map((row) => row.id);
    expect(leftIds).toContain(good.backupId);
    expect(leftIds).toContain(bad.backupId);
    expect(leftIds).not.toContain(older.backupId);
    expect(leftIds).toContain(report.keptVerifiedId);
    expect(report.removed.map((row) => row.id)).toContain(older.backupId);
  });
});

describe('helpers', () => {
  it('redacts secrets from configuration', () => {
    const redacted = redactConfig({
      DATABASE_URL: 'postgres://app:db-pass@db.internal:5432/platform?sslpassword=ssl-secret&application_name=x',
      API_TOKEN: 'token-value',
      JWT_SECRET: 'jwt-value',
      AWS_ACCESS_KEY_ID: 'key-id',
      BACKUP_KEEP_DAILY: 7,
      WEBHOOK_URL: 'https://hooks.example/notify?token=hook-secret',
      MAIL_FROM: 'Shipshape <shipshape@localhost>',
    });
    const text = JSON.stringify(redacted);
    for (const secret of ['db-pass', 'ssl-secret', 'token-value', 'jwt-value', 'key-id', 'hook-secret']) expect(text).not.toContain(secret);
    expect(redacted.BACKUP_KEEP_DAILY).toBe(7);
    expect(redacted.MAIL_FROM).toBe('Shipshape <shipshape@localhost>');
    expect(String(redacted.DATABASE_URL)).toContain('db.internal:5432/platform');
  });

  it('passes credentials only through the environment', () => {
    const env = pgEnvironment('postgres://crew%40ops:p%40ss@db.internal:6543/platform');
    expect(env).toMatchObject({ PGHOST: 'db.internal', PGPORT: '6543', PGUSER: 'crew@ops', PGPASSWORD: 'p@ss', PGDATABASE: 'platform' });
    expect(env.PGOPTIONS).toBe('-c default_transaction_read_only=off');
  });

  it('rejects an older pg_dump than the server', () => {
    expect(versionMismatch(14, 15)).toMatch(/pg_dump is version 14 but the server is version 15/);
    expect(versionMismatch(15, 15)).toBeUndefined();
    expect(versionMismatch(16, 15)).toBeUndefined();
  });
});
