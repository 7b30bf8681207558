import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDatabase } from '../../src/db/seed.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('storage_seed');
const NOW = new Date('2026-11-30T12:00:00Z');

let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let root: string;

beforeAll(async () => {
  database = await createTestDatabase('storage_seed');
  root = await mkdtemp(path.join(tmpdir(), 'shipshape-storage-seed-'));
  await mkdir(path.join(root, 'storage'));
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, STORAGE_DIR: path.join(root, 'storage'), LOG_DIR: path.join(root, 'logs') });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
  await seedDatabase(database.db, { scale: 1, seed: 11, now: NOW });
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('seeded file tables', () => {
  it('has a certificate per completed module', async () => {
    const completed = await database.db
      .selectFrom('training_progress')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('status', '=', 'completed')
      .executeTakeFirstOrThrow();
    const certificates = await database.db.selectFrom('certificates').selectAll().execute();
    expect(certificates).toHaveLength(completed.count);
    expect(certificates.length).toBeGreaterThan(0);
    for (const certificate of certificates) {
      expect(certificate.file_path).toMatch(new RegExp(`^certificates/${certificate.user_id}/[a-z-]+-\\d+\\.pdf$`));
      expect(certificate.archived_at).toBeNull();
    }
  });

  it('has one to four uploads per user', async () => {
    const perUser = await database.db
      .selectFrom('users')
      .leftJoin('uploads', 'uploads.user_id', 'users.id')
      .select((eb) => ['users.id', eb.fn.count<number>('uploads.id').as('count')])
      .groupBy('users.id')
      .execute();
    expect(perUser.length).toBe(50);
    for (const row of perUser) {
      expect(row.count, `user ${row.id}`).toBeGreaterThanOrEqual(1);
      expect(row.count, `user ${row.id}`).toBeLessThanOrEqual(4);
    }
    const uploads = await database.db.selectFrom('uploads').select(['path', 'size_bytes', 'created_at']).execute();
    for (const upload of uploads) {
      expect(upload.path).toMatch(/^uploads\/\d+\/[a-z-]+-[0-9a-f]{16}\.(pdf|jpg)$/);
      expect(upload.size_bytes).toBeGreaterThanOrEqual(40_000);
      expect(upload.created_at.getTime()).toBeLessThanOrEqual(NOW.getTime());
    }
  });

  it('reports every seeded row as missing its file', async () => {
    const uploads = await database.db.selectFrom('uploads').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    const certificates = await database.db.selectFrom('certificates').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();

    const summary = (await runJobThroughApi(app, { maintenance: events }, 'storage-cleanup', { dryRun: true })) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

    expect(summary.missingFiles.uploads.files).toBe(uploads.count);
    expect(summary.missingFiles.certificates.files).toBe(certificates.count);
    expect(summary.missingFiles.uploads.paths).toHaveLength(Math.min(uploads.count, 100));
  });
});
