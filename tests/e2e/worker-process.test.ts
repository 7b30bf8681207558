import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startApiProcess, startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const prefix = uniqueName('e2e');
let database: TestDatabase;
let app: FastifyInstance;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  database = await createTestDatabase('e2e');
  app = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }), logger: false });
});

afterEach(async () => {
  await worker?.stop('SIGKILL');
  worker = undefined;
});

afterAll(async () => {
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

const workerEnv = () => ({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix });

async function waitForState(statusUrl: string, state: string) {
  return waitFor(`job at ${statusUrl} to reach ${state}`, async () => {
    const body = (await app.inject({ method: 'GET', url: statusUrl })).json();
    return body.state === state ? body : undefined;
  }, { timeoutMs: 60_000 });
}

describe('separate worker process', () => {
  it('runs an API job and records its maintenance log', async () => {
    await database.db
      .insertInto('token_blacklist')
      .values([
        { jti: 'gone', reason: 'logout', expires_at: new Date(Date.now() - 60_000) },
        { jti: 'kept', reason: 'logout', expires_at: new Date(Date.now() + 60_000) },
      ])
      .execute();
    worker = startWorkerProcess(workerEnv(), ['--queues', 'maintenance']);
    await worker.waitForLog('workers started');

    const enqueued = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup' });
    const status = await waitForState(enqueued.json().statusUrl, 'completed');

    expect(status.result.steps.token_blacklist.rows).toBe(1);
    const rows = await database.db.selectFrom('maintenance_logs').selectAll().where('job_id', '=', status.id).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'scheduled', result: 'success', performed_by: 'bootstrap-admin', queue: 'maintenance', attempt: 1 });
    expect(rows[0]?.summary).toEqual(status.result);
    expect(worker.output()).toContain(`"jobId":"${status.id}"`);
  });

  it('survives Postgres ending its idle connections', async () => {
    worker = startWorkerProcess(workerEnv(), ['--queues', 'maintenance']);
    await worker.waitForLog('workers started');
    const first = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup' });
    await waitForState(first.json().statusUrl, 'completed');

    const { rows } = await sql<{ ended: number }>`
      select count(pg_terminate_backend(pid))::int as ended from pg_stat_activity
      where datname = current_database() and application_name = 'shipshape-worker'
    `.execute(database.db);
    expect(rows[0]!.ended).toBeGreaterThan(0);
    await worker.waitForLog('idle database connection lost');

    const second = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup' });
    await waitForState(second.json().statusUrl, 'completed');
    expect(worker.child.exitCode).toBeNull();
  });

  it('exits cleanly on SIGTERM', async () => {
    worker = startWorkerProcess(workerEnv(), ['--queues', 'maintenance']);
    await worker.waitForLog('workers started');

    const code = await worker.stop('SIGTERM');

    expect(code, worker.output()).toBe(0);
    expect(worker.output()).toContain('workers closed');
  });

  it('rejects an unknown queue name at start', async () => {
    worker = startWorkerProcess(workerEnv(), ['--queues', 'maintenance,galley']);

    const code = await worker.exited();

    expect(code).toBe(1);
    expect(worker.output()).toContain('unknown queue "galley"');
  });
});

describe('API process', () => {
  it('exits with an error when its port is taken', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    worker = startApiProcess({ ...workerEnv(), PORT: String(port) });

    const code = await worker.exited();

    expect(code).toBe(1);
    expect(worker.output()).toContain('EADDRINUSE');
  });

  it('exits with an error when Redis is unreachable', async () => {
    worker = startApiProcess({ ...workerEnv(), PORT: '0', REDIS_URL: 'redis://127.0.0.1:1' });

    const code = await worker.exited();

    expect(code).toBe(1);
    expect(worker.output()).toContain('Redis at redis://127.0.0.1:1 is unreachable');
  });
});

describe('archive after a kill', () => {
  const OLD_ROWS = 30_000;
  const NEW_ROWS = 500;

  it('moves each row exactly once across a kill and a rerun', async () => {
    await sql`
      insert into audit_logs (action, details, created_at)
      select 'user.login', jsonb_build_object('n', i), now() - interval '400 days' + i * interval '1 second'
      from generate_series(1, ${OLD_ROWS}) as i
    `.execute(database.db);
    await sql`
      insert into audit_logs (action, created_at)
      select 'user.login', now() - interval '1 day' from generate_series(1, ${NEW_ROWS})
    `.execute(database.db);
    const originalOld = await sql<{ ids: string }>`
      select md5(string_agg(id::text, ',' order by id)) as ids from audit_logs where created_at < now() - interval '90 days'
    `.execute(database.db);

    worker = startWorkerProcess(workerEnv(), ['--queues', 'maintenance']);
    await worker.waitForLog('workers started');
    await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup', payload: { data: { batchSize: 200 } } });
    const archivedBeforeKill = await waitFor('a few archive batches', async () => {
      const { count } = await database.db.selectFrom('audit_logs_archive').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
      return count >= 1000 ? count : undefined;
    }, { intervalMs: 5 });
    await worker.stop('SIGKILL');

    const counts = async () => {
      const { rows } = await sql<{ live: number; archived: number; both: number; distinct_archived: number }>`
        select
          (select count(*) from audit_logs)::int as live,
          (select count(*) from audit_logs_archive)::int as archived,
          (select count(*) from audit_logs join audit_logs_archive using (id))::int as both,
          (select count(distinct id) from audit_logs_archive)::int as distinct_archived
      `.execute(database.db);
      return rows[0]!;
    };
    const afterKill = await counts();
    expect(archivedBeforeKill).toBeLessThan(OLD_ROWS);
    expect(afterKill.live + afterKill.archived).toBe(OLD_ROWS + NEW_ROWS);
    expect(afterKill.both).toBe(0);
    expect(afterKill.archived).toBeLessThan(OLD_ROWS);

    worker = startWorkerProcess(workerEnv(), ['--queues', 'maintenance']);
    await worker.waitForLog('workers started');
    const rerun = await app.inject({ method: 'POST', url: '/api/jobs/token-cleanup', payload: { data: { batchSize: 5000 } } });
    await waitForState(rerun.json().statusUrl, 'completed');

    const final = await counts();
    expect(final).toEqual({ live: NEW_ROWS, archived: OLD_ROWS, both: 0, distinct_archived: OLD_ROWS });
    const archivedIds = await sql<{ ids: string }>`
      select md5(string_agg(id::text, ',' order by id)) as ids from audit_logs_archive
    `.execute(database.db);
    expect(archivedIds.rows[0]?.ids).toBe(originalOld.rows[0]?.ids);
  });
});
