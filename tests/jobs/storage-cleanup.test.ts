import { QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import { link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, utimes, lutimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { calendar } from '../../src/queues/calendar.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('storage');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let root: string;
let storage: string;
let logs: string;
let outside: string;
let userId: number;

type Summary = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const run = (data: Record<string, unknown> = {}) => runJobThroughApi(app, { maintenance: events }, 'storage-cleanup', data) as Promise<Summary>;

/** Writes `content` to `relative` below `base` with a modification time `ageMs` in the past. */
async function writeAged(base: string, relative: string, content: string | Buffer, ageMs: number): Promise<string> {
  const absolute = path.join(base, relative);
  await mkdir(path.dirname(absolute), { recursive: true });
  await writeFile(absolute, content);
  const when = new Date(Date.now() - ageMs);
  await utimes(absolute, when, when);
  return absolute;
}

async function symlinkAged(target: string, at: string, ageMs: number): Promise<void> {
  await mkdir(path.dirname(at), { recursive: true });
  await symlink(target, at);
  const when = new Date(Date.now() - ageMs);
  await lutimes(at, when, when);
}

/** Lists every entry below `base` with what identifies its state: type, size, mtime, link target. */
async function snapshot(base: string): Promise<string[]> {
  const lines: string[] = [];
  const visit = async (folder: string) => {
    for (const name of (await readdir(folder)).sort()) {
      const absolute = path.join(folder, name);
      const stats = await lstat(absolute);
      const relative = path.relative(base, absolute);
      if (stats.isSymbolicLink()) lines.push(`link ${relative} -> ${await readlink(absolute)}`);
      else if (stats.isDirectory()) {
        lines.push(`dir ${relative}`);
        await visit(absolute);
      } else lines.push(`file ${relative} ${stats.size} ${stats.mtimeMs} ${stats.ino}`);
    }
  };
  await visit(base);
  return lines;
}

const exists = (absolute: string) => lstat(absolute).then(() => true, () => false);

async function certificateRows() {
  return database.db.selectFrom('certificates').select(['certificate_number', 'file_path', 'archived_at']).orderBy('id').execute();
}

beforeAll(async () => {
  database = await createTestDatabase('storage');
  root = await mkdtemp(path.join(tmpdir(), 'shipshape-storage-'));
  storage = path.join(root, 'storage');
  logs = path.join(root, 'logs');
  outside = path.join(root, 'outside');
  await mkdir(storage, { recursive: true });
  await mkdir(outside, { recursive: true });

  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, STORAGE_DIR: storage, LOG_DIR: logs });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();

  const user = await database.db
    .insertInto('users')
    .values({ email: 'third.officer@fleetmail.example', full_name: 'Third Officer', role: 'crew' })
    .returning('id')
    .executeTakeFirstOrThrow();
  userId = user.id;
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('storage-cleanup calendar entry', () => {
  it('fires on Fridays at 02:00 UTC', () => {
    const entry = calendar.find((candidate) => candidate.job === 'storage-cleanup')!;
    const fires = CronExpressionParser.parse(entry.pattern!, { currentDate: new Date('2026-12-04T12:00:00Z'), tz: 'UTC' }).take(3);
    expect(fires.map((fire) => fire.toISOString())).toEqual([
      '2026-12-11T02:00:00.000Z',
      '2026-12-18T02:00:00.000Z',
      '2026-12-25T02:00:00.000Z',
    ]);
  });
});

describe('storage-cleanup', () => {
  const LOG_TEXT = 'GET /api/training 200 12ms\n'.repeat(4000);
  let dryRun: Summary;
  let realRun: Summary;
  let before: string[];
  let afterDryRun: string[];
  let outsideBefore: string[];

  beforeAll(async () => {
    // Temporary files: two old ones (one in a subfolder), one new.
    await writeAged(storage, 'tmp/old-export.csv', 'x'.repeat(300), 2 * DAY);
    await writeAged(storage, 'tmp/render/old-page.png', 'y'.repeat(200), 3 * DAY);
    await writeAged(storage, 'tmp/new-upload.part', 'z'.repeat(50), HOUR);

    // Uploads: referenced and old, orphaned and old, orphaned and new, and a row whose file is gone.
    await writeAged(storage, 'uploads/1/passport.pdf', 'p'.repeat(1000), 30 * DAY);
    await writeAged(storage, 'uploads/1/orphan-scan.jpg', 'o'.repeat(700), 10 * DAY);
    await writeAged(storage, 'uploads/1/in-progress.jpg', 'n'.repeat(80), HOUR);
    await database.db
      .insertInto('uploads')
      .values([
        { user_id: userId, path: 'uploads/1/passport.pdf', original_name: 'passport.pdf', content_type: 'application/pdf', size_bytes: 1000 },
        { user_id: userId, path: 'uploads/1/medical.pdf', original_name: 'medical.pdf', content_type: 'application/pdf', size_bytes: 500 },
      ])
      .execute();

    // Certificates: one issued six years ago, one last year.
    await writeAged(storage, 'certificates/1/basic-safety.pdf', 'c'.repeat(900), 6 * 365 * DAY);
    await writeAged(storage, 'certificates/1/first-aid.pdf', 'f'.repeat(400), 365 * DAY);
    await database.db
      .insertInto('certificates')
      .values([
        { user_id: userId, module_id: 'safety-induction', certificate_number: 'C-1', file_path: 'certificates/1/basic-safety.pdf', issued_at: new Date(Date.now() - 6 * 365 * DAY) },
        { user_id: userId, module_id: 'elementary-first-aid', certificate_number: 'C-2', file_path: 'certificates/1/first-aid.pdf', issued_at: new Date(Date.now() - 365 * DAY) },
      ])
      .execute();

    // Logs: an old rotated log, a current one, and an old file that is no log.
    await writeAged(logs, 'api.log.1', LOG_TEXT, 10 * DAY);
    await writeAged(logs, 'api.log', 'current\n', HOUR);
    await writeAged(logs, 'notes.txt', 'not a log', 30 * DAY);

    // Symlinks out of the storage folder: an old file link in tmp, a folder link
    // in uploads, and rows that point through a link or outside with `..`.
    await writeAged(outside, 'secret.txt', 'keep me', 30 * DAY);
    await writeAged(outside, 'folder/victim.bin', 'keep me too', 30 * DAY);
    await writeAged(outside, 'old.log', LOG_TEXT, 30 * DAY);
    await symlinkAged(path.join(outside, 'secret.txt'), path.join(storage, 'tmp/old-link.tmp'), 30 * DAY);
    await symlinkAged(path.join(outside, 'folder'), path.join(storage, 'uploads/linked-folder'), 30 * DAY);
    await symlinkAged(path.join(outside, 'old.log'), path.join(logs, 'linked.log'), 30 * DAY);
    await symlinkAged(path.join(outside, 'secret.txt'), path.join(storage, 'certificates/1/linked.pdf'), 30 * DAY);
    await database.db
      .insertInto('certificates')
      .values([
        { user_id: userId, module_id: 'security-awareness', certificate_number: 'C-3', file_path: 'certificates/1/linked.pdf', issued_at: new Date(Date.now() - 6 * 365 * DAY) },
        { user_id: userId, module_id: 'working-at-height', certificate_number: 'C-4', file_path: '../outside/secret.txt', issued_at: new Date(Date.now() - 6 * 365 * DAY) },
      ])
      .execute();

    before = await snapshot(root);
    outsideBefore = await snapshot(outside);
    dryRun = await run({ dryRun: true });
    afterDryRun = await snapshot(root);
    realRun = await run();
  });

  it('changes nothing in a dry run', () => {
    expect(dryRun.dryRun).toBe(true);
    expect(afterDryRun).toEqual(before);
  });

  it('lists the same files in the dry run as it then changes', () => {
    for (const category of ['tempFiles', 'orphanedUploads', 'archivedCertificates', 'compressedLogs']) {
      expect(realRun[category].paths, category).toEqual(dryRun[category].paths);
      expect(realRun[category].files, category).toBe(dryRun[category].files);
      expect(realRun[category].bytes, category).toBe(dryRun[category].bytes);
    }
    expect(realRun.missingFiles).toEqual(dryRun.missingFiles);
  });

  it('deletes old temporary files only', async () => {
    expect(realRun.tempFiles.paths.sort()).toEqual(['tmp/old-export.csv', 'tmp/render/old-page.png']);
    expect(realRun.tempFiles.bytesFreed).toBe(500);
    expect(await exists(path.join(storage, 'tmp/old-export.csv'))).toBe(false);
    expect(await exists(path.join(storage, 'tmp/render/old-page.png'))).toBe(false);
    expect(await exists(path.join(storage, 'tmp/new-upload.part'))).toBe(true);
  });

  it('deletes old orphaned uploads only', async () => {
    expect(realRun.orphanedUploads.paths).toEqual(['uploads/1/orphan-scan.jpg']);
    expect(realRun.orphanedUploads.bytesFreed).toBe(700);
    expect(await exists(path.join(storage, 'uploads/1/orphan-scan.jpg'))).toBe(false);
    expect(await exists(path.join(storage, 'uploads/1/passport.pdf'))).toBe(true);
    expect(await exists(path.join(storage, 'uploads/1/in-progress.jpg'))).toBe(true);
  });

  it('reports rows whose file is gone and keeps them', async () => {
    expect(realRun.missingFiles.uploads.paths).toEqual([expect.stringMatching(/ uploads\/1\/medical\.pdf$/)]);
    const row = await database.db.selectFrom('uploads').select('id').where('path', '=', 'uploads/1/medical.pdf').executeTakeFirst();
    expect(row).toBeDefined();
  });

  it('moves old certificates and updates their rows', async () => {
    expect(realRun.archivedCertificates.paths).toEqual(['certificates/1/basic-safety.pdf']);
    expect(await exists(path.join(storage, 'certificates/1/basic-safety.pdf'))).toBe(false);
    expect(await readFile(path.join(storage, 'archive/certificates/1/basic-safety.pdf'), 'utf8')).toBe('c'.repeat(900));
    expect(await exists(path.join(storage, 'certificates/1/first-aid.pdf'))).toBe(true);

    const rows = await certificateRows();
    expect(rows[0]).toMatchObject({ certificate_number: 'C-1', file_path: 'archive/certificates/1/basic-safety.pdf' });
    expect(rows[0]!.archived_at).toBeInstanceOf(Date);
    expect(rows[1]).toMatchObject({ certificate_number: 'C-2', file_path: 'certificates/1/first-aid.pdf', archived_at: null });
  });

  it('gzips old log files and replaces them', async () => {
    expect(realRun.compressedLogs.paths).toEqual(['api.log.1']);
    expect(await exists(path.join(logs, 'api.log.1'))).toBe(false);
    expect(gunzipSync(await readFile(path.join(logs, 'api.log.1.gz'))).toString()).toBe(LOG_TEXT);
    expect(await exists(path.join(logs, 'api.log.1.gz.partial'))).toBe(false);
    expect(await exists(path.join(logs, 'api.log'))).toBe(true);
    expect(await exists(path.join(logs, 'notes.txt'))).toBe(true);
    const gzipSize = (await lstat(path.join(logs, 'api.log.1.gz'))).size;
    expect(realRun.compressedLogs.bytesFreed).toBe(LOG_TEXT.length - gzipSize);
  });

  it('never follows a symlink out of the folder', async () => {
    expect(await snapshot(outside)).toEqual(outsideBefore);
    expect(await readlink(path.join(storage, 'tmp/old-link.tmp'))).toBe(path.join(outside, 'secret.txt'));
    expect(await readlink(path.join(logs, 'linked.log'))).toBe(path.join(outside, 'old.log'));
    expect(realRun.skippedSymlinks.storage.paths.sort()).toEqual(['certificates/1/linked.pdf', 'tmp/old-link.tmp', 'uploads/linked-folder']);
    expect(realRun.skippedSymlinks.logs.paths).toEqual(['linked.log']);

    // Rows that point through a symlink or out of the folder are rejected and left unchanged.
    expect(realRun.archivedCertificates.errors).toEqual([
      expect.stringMatching(/^certificates\/1\/linked\.pdf: the path is a symlink/),
      expect.stringMatching(/^\.\.\/outside\/secret\.txt: .*leaves the storage folder/),
    ]);
    const rows = await certificateRows();
    expect(rows.map((row) => row.file_path)).toContain('certificates/1/linked.pdf');
    expect(rows.map((row) => row.file_path)).toContain('../outside/secret.txt');
  });

  it('finds nothing more on a second run', async () => {
    const again = await run();
    for (const category of ['tempFiles', 'orphanedUploads', 'archivedCertificates', 'finishedCertificateMoves', 'compressedLogs']) {
      expect(again[category].files, category).toBe(0);
    }
  });

  it('records the run in maintenance_logs', async () => {
    const rows = await database.db.selectFrom('maintenance_logs').select(['result', 'summary']).where('job_name', '=', 'storage-cleanup').execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.every((row) => row.result === 'success')).toBe(true);
  });
});

describe('storage-cleanup after an interrupted certificate move', () => {
  it('finishes moves killed after the link or after the row update', async () => {
    const issuedAt = new Date(Date.now() - 6 * 365 * DAY);
    // Killed after step 1: both names exist, the row still has the old one.
    const linkedOnly = await writeAged(storage, 'certificates/2/fire-fighting.pdf', 'fire', 6 * 365 * DAY);
    await mkdir(path.join(storage, 'archive/certificates/2'), { recursive: true });
    await link(linkedOnly, path.join(storage, 'archive/certificates/2/fire-fighting.pdf'));
    // Killed after step 2: the row has the archive name, the old name is left over.
    const updated = await writeAged(storage, 'certificates/2/survival.pdf', 'survival', 6 * 365 * DAY);
    await link(updated, path.join(storage, 'archive/certificates/2/survival.pdf'));
    await database.db
      .insertInto('certificates')
      .values([
        { user_id: userId, module_id: 'basic-fire-fighting', certificate_number: 'C-5', file_path: 'certificates/2/fire-fighting.pdf', issued_at: issuedAt },
        {
          user_id: userId,
          module_id: 'personal-survival-techniques',
          certificate_number: 'C-6',
          file_path: 'archive/certificates/2/survival.pdf',
          issued_at: issuedAt,
          archived_at: new Date(),
        },
      ])
      .execute();

    const result = (await run()) as Summary;

    expect(result.archivedCertificates.paths).toEqual(['certificates/2/fire-fighting.pdf']);
    expect(result.finishedCertificateMoves.paths).toEqual(['certificates/2/survival.pdf']);
    expect(await exists(linkedOnly)).toBe(false);
    expect(await exists(updated)).toBe(false);
    expect(await readFile(path.join(storage, 'archive/certificates/2/fire-fighting.pdf'), 'utf8')).toBe('fire');
    expect(await readFile(path.join(storage, 'archive/certificates/2/survival.pdf'), 'utf8')).toBe('survival');
    const rows = await database.db.selectFrom('certificates').select('file_path').where('certificate_number', 'in', ['C-5', 'C-6']).orderBy('id').execute();
    expect(rows.map((row) => row.file_path)).toEqual(['archive/certificates/2/fire-fighting.pdf', 'archive/certificates/2/survival.pdf']);
  });

  it('replaces the leftovers of an interrupted log compression', async () => {
    const text = 'POST /api/quiz 201 40ms\n'.repeat(2000);
    // Killed after the rename: the .gz is complete and the original still exists.
    await writeAged(logs, 'worker.log.2', text, 10 * DAY);
    await writeAged(logs, 'worker.log.2.gz', 'stale', 10 * DAY);
    // Killed while writing: a partial .gz is left.
    await writeAged(logs, 'worker.log.3', text, 10 * DAY);
    await writeAged(logs, 'worker.log.3.gz.partial', 'half', 10 * DAY);

    const result = (await run()) as Summary;

    expect(result.compressedLogs.paths.sort()).toEqual(['worker.log.2', 'worker.log.3']);
    for (const name of ['worker.log.2', 'worker.log.3']) {
      expect(await exists(path.join(logs, name))).toBe(false);
      expect(await exists(path.join(logs, `${name}.gz.partial`))).toBe(false);
      expect(gunzipSync(await readFile(path.join(logs, `${name}.gz`))).toString()).toBe(text);
    }
  });

  it('leaves a symlink at the compressed names alone', async () => {
    const text = 'GET /api/crews 200 12ms\n'.repeat(500);
    await writeAged(outside, 'planted-target.txt', 'keep me', DAY);
    // A symlink out of the folder at the partial name of one log and at the .gz name of another.
    await writeAged(logs, 'worker.log.4', text, 10 * DAY);
    await symlinkAged(path.join(outside, 'planted-target.txt'), path.join(logs, 'worker.log.4.gz.partial'), DAY);
    await writeAged(logs, 'worker.log.5', text, 10 * DAY);
    await symlinkAged(path.join(outside, 'planted-target.txt'), path.join(logs, 'worker.log.5.gz'), DAY);

    const result = (await run()) as Summary;

    expect(result.compressedLogs.paths).not.toContain('worker.log.4');
    expect(result.compressedLogs.paths).not.toContain('worker.log.5');
    expect(result.compressedLogs.errors).toEqual(
      expect.arrayContaining([
        'worker.log.4: worker.log.4.gz.partial is a symlink, left alone; worker.log.4 is not compressed until the link is removed',
        'worker.log.5: worker.log.5.gz is a symlink, left alone; worker.log.5 is not compressed until the link is removed',
      ]),
    );
    expect(result.skippedSymlinks.logs.paths).toEqual(expect.arrayContaining(['worker.log.4.gz.partial', 'worker.log.5.gz']));
    expect(await readlink(path.join(logs, 'worker.log.4.gz.partial'))).toBe(path.join(outside, 'planted-target.txt'));
    expect(await readlink(path.join(logs, 'worker.log.5.gz'))).toBe(path.join(outside, 'planted-target.txt'));
    expect(await readFile(path.join(logs, 'worker.log.4'), 'utf8')).toBe(text);
    expect(await readFile(path.join(logs, 'worker.log.5'), 'utf8')).toBe(text);
    expect(await readFile(path.join(outside, 'planted-target.txt'), 'utf8')).toBe('keep me');
  });

  it('rejects a payload with an unknown field', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/storage-cleanup', payload: { data: { dryrun: true } } });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('dryrun');
  });
});
