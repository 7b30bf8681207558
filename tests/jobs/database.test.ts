import { QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionSettings, createDatabase } from '../../src/db/database.js';
import { findForeignKeyCovers, planIndexDrops } from '../../src/jobs/database/index-drops.js';
import { findDuplicateIndexes, findUnusedIndexes } from '../../src/jobs/database/index-report.js';
import { readStatisticsAge } from '../../src/jobs/database/statistics-age.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { calendar } from '../../src/queues/calendar.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { startPgCluster } from '../helpers/pg-cluster.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const prefix = uniqueName('database');
const LOCK_TIMEOUT_MS = 400;
let database: TestDatabase;
let client: pg.Client;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;

const run = (name: string, data: Record<string, unknown> = {}) => runJobThroughApi(app, { maintenance: events }, name, data);

async function connect(): Promise<pg.Client> {
  const connection = new pg.Client({ ...connectionSettings(database.url), application_name: 'database-test' });
  await connection.connect();
  return connection;
}

async function invalidIndexes(): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select c.relname as name from pg_index i join pg_class c on c.oid = i.indexrelid where not i.indisvalid order by 1`,
  );
  return rows.map((row) => row.name);
}

/** Opens a transaction on a connection of its own that keeps `mode` on `table` until `release()`. */
async function holdLock(table: string, mode: string): Promise<{ release(): Promise<void> }> {
  const holder = await connect();
  await holder.query('begin');
  await holder.query(`lock table ${pg.escapeIdentifier(table)} in ${mode} mode`);
  return {
    async release() {
      await holder.query('rollback');
      await holder.end();
    },
  };
}

/** Scans an index from a connection that then closes, so its statistics reach the shared counters. */
async function scanWithIndex(query: string): Promise<void> {
  const scanner = await connect();
  await scanner.query('set enable_seqscan = off');
  await scanner.query('set enable_bitmapscan = off');
  await scanner.query(query);
  await scanner.end();
}

beforeAll(async () => {
  database = await createTestDatabase('database');
  client = await connect();
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, DB_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS) });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await client?.end();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('performance-analysis calendar', () => {
  it('fires on Wednesdays at 10:00 UTC', () => {
    const entry = calendar.find((candidate) => candidate.job === 'performance-analysis');
    expect(entry?.pattern).toBeDefined();
    const fires = CronExpressionParser.parse(entry!.pattern!, { currentDate: new Date('2026-02-28T12:00:00.000Z'), tz: 'UTC' })
      .take(5)
      .map((date) => date.toISOString());
    expect(fires).toEqual([
      '2026-03-04T10:00:00.000Z',
      '2026-03-11T10:00:00.000Z',
      '2026-03-18T10:00:00.000Z',
      '2026-03-25T10:00:00.000Z',
      '2026-04-01T10:00:00.000Z',
    ]);
    for (const fire of fires) expect(new Date(fire!).getUTCDay()).toBe(3);
  });
});

describe('performance-analysis without pg_stat_statements', () => {
  it('reports the extension as not installed instead of failing', async () => {
    const result = await run('performance-analysis');

    expect(result.slowQueries.installed).toBe(false);
    expect(result.slowQueries.reason).toMatch(/not installed/);
    expect(result.slowQueries.fix).toMatch(/shared_preload_libraries/);
  });

  it('reports an extension created without the preloaded library', async () => {
    await client.query('create extension pg_stat_statements');
    try {
      const result = await run('slow-queries');
      expect(result.slowQueries.installed).toBe(false);
      expect(result.slowQueries.reason).toMatch(/not loaded through shared_preload_libraries/);
    } finally {
      await client.query('drop extension pg_stat_statements');
    }
  });
});

describe('index findings', () => {
  beforeAll(async () => {
    await client.query(`
      create table perf_fixture (id int primary key, code text not null, crew int not null, note text);
      insert into perf_fixture select g, 'code-' || g, g % 50, 'note ' || g from generate_series(1, 5000) g;
      create unique index perf_fixture_code_key on perf_fixture (code);
      create index perf_fixture_note_idx on perf_fixture (note);
      create index perf_fixture_crew_a on perf_fixture (crew);
      create index perf_fixture_crew_b on perf_fixture (crew);
      analyze perf_fixture;

      create table perf_bloat (id int primary key, payload int not null);
      insert into perf_bloat select g, g from generate_series(1, 100000) g;
      delete from perf_bloat where id % 10 <> 0;

      create table perf_dense (id int primary key);
      insert into perf_dense select g from generate_series(1, 100000) g;
      analyze perf_dense;
    `);
    await client.query('vacuum analyze perf_bloat');
    await scanWithIndex('select count(*) from perf_fixture where crew = 7');
    await waitFor('the crew index scan in the statistics', async () => {
      const { rows } = await client.query(
        `select sum(idx_scan)::int as scans from pg_stat_user_indexes where indexrelname in ('perf_fixture_crew_a', 'perf_fixture_crew_b')`,
      );
      return rows[0].scans > 0 ? true : undefined;
    });
  });

  it('finds exactly the planted unused and duplicate indexes, never a unique one', async () => {
    const { rows } = await client.query<{ indexrelname: string }>(
      `select indexrelname from pg_stat_user_indexes where relname = 'perf_fixture' and idx_scan > 0`,
    );
    const scanned = rows[0]!.indexrelname;
    const other = scanned === 'perf_fixture_crew_a' ? 'perf_fixture_crew_b' : 'perf_fixture_crew_a';

    const result = await run('performance-analysis');

    const onFixture = (row: { table: string }) => row.table === 'perf_fixture';
    const unused = result.indexes.unused.filter(onFixture).map((row: { index: string }) => row.index).sort();
    expect(unused).toEqual([other, 'perf_fixture_note_idx'].sort());
    for (const row of result.indexes.unused) expect(row.definition).not.toMatch(/UNIQUE/);
    const names = result.indexes.unused.map((row: { index: string }) => row.index);
    expect(names).not.toContain('perf_fixture_code_key');
    expect(names).not.toContain('perf_fixture_pkey');

    expect(result.indexes.duplicates.filter(onFixture)).toEqual([
      expect.objectContaining({ schema: 'public', table: 'perf_fixture', keep: scanned, redundant: [other] }),
    ]);

    const statements = result.recommendations.map((row: { statement: string }) => row.statement);
    // Statistics of a database created minutes ago, and a small index: listed, with no DROP.
    expect(statements.some((statement: string) => statement.includes('perf_fixture_note_idx'))).toBe(false);
    const note = result.indexes.unused.find((row: { index: string }) => row.index === 'perf_fixture_note_idx');
    expect(note.dropRecommended).toBe(false);
    expect(note.keptBecause).toEqual([
      expect.stringMatching(/below INDEX_DROP_MIN_BYTES \(1048576 bytes\)/),
      expect.stringMatching(/fewer than INDEX_STATS_MIN_DAYS \(7\)/),
    ]);
    expect(result.indexes.unusedDropsWithheld).toMatch(/fewer than INDEX_STATS_MIN_DAYS \(7\)/);
    // A duplicate is structural, so it is recommended whatever the statistics' age.
    expect(statements).toContain(`DROP INDEX CONCURRENTLY IF EXISTS "public"."${other}";`);
    expect(statements.filter((statement: string) => statement.includes(other))).toHaveLength(1);
    expect(statements.some((statement: string) => statement.includes('perf_fixture_code_key'))).toBe(false);
  });

  it('recommends REINDEX for an index much larger than its rows need', async () => {
    const result = await run('performance-analysis');

    const bloated = result.indexes.bloated.find((row: { index: string }) => row.index === 'perf_bloat_pkey');
    expect(bloated).toBeDefined();
    expect(bloated.ratio).toBeGreaterThanOrEqual(2);
    expect(result.recommendations).toContainEqual(
      expect.objectContaining({ action: 'reindex', target: '"public"."perf_bloat_pkey"', statement: 'REINDEX INDEX CONCURRENTLY "public"."perf_bloat_pkey";' }),
    );
    // A freshly built index of the same size is not flagged.
    expect(result.indexes.bloated.map((row: { index: string }) => row.index)).not.toContain('perf_dense_pkey');
  });

  it('reports sizes, and index usage and table sizes on their own', async () => {
    const analysis = await run('performance-analysis');
    const bloatTable = analysis.sizes.tables.find((row: { table: string }) => row.table === 'perf_bloat');
    expect(bloatTable.totalBytes).toBeGreaterThan(bloatTable.tableBytes);
    expect(bloatTable.indexBytes).toBeGreaterThan(1_000_000);
    expect(bloatTable.estimatedRows).toBe(10_000);

    const sizes = await run('table-sizes', { limit: 2 });
    expect(sizes.tables).toHaveLength(2);
    expect(sizes.tableCount).toBeGreaterThan(2);
    expect(sizes.tables[0].totalBytes).toBeGreaterThanOrEqual(sizes.tables[1].totalBytes);

    const usage = await run('index-usage');
    expect(usage.unused.map((row: { index: string }) => row.index)).toContain('perf_fixture_note_idx');
    expect(usage.statisticsSince).toMatch(/^\d{4}-/);
  });
});

describe('unused-index advice', () => {
  const settings = { statisticsDays: 30, minStatisticsDays: 7, minDropBytes: 1_048_576 };
  const target = (index: string) => `"public"."${index}"`;

  beforeAll(async () => {
    // 100,000 distinct keys make each single-column index about 2 MiB, above the 1 MiB floor.
    await client.query(`
      create table perf_parent (id int primary key);
      insert into perf_parent select g from generate_series(1, 100000) g;
      create table perf_child (id int primary key, parent_id int not null references perf_parent (id) on delete cascade, payload bigint not null);
      -- Distinct keys, so B-tree deduplication does not shrink the foreign-key index below the floor.
      insert into perf_child select g, g, g from generate_series(1, 100000) g;
      create index perf_child_parent_id_idx on perf_child (parent_id);
      create index perf_child_parent_payload_idx on perf_child (parent_id, payload);
      create index perf_child_payload_idx on perf_child (payload);
      create index perf_child_early_idx on perf_child (payload) where id <= 5000;
      analyze perf_parent, perf_child;
    `);
  });

  async function plan(overrides: Partial<typeof settings> = {}) {
    const findings = {
      unused: await findUnusedIndexes(database.db),
      duplicates: await findDuplicateIndexes(database.db),
      covers: await findForeignKeyCovers(database.db),
    };
    return planIndexDrops(findings, { ...settings, ...overrides });
  }

  it('finds the indexes covering each foreign key', async () => {
    const covers = await findForeignKeyCovers(database.db);

    expect(covers.find((cover) => cover.table === '"public"."perf_child"')).toEqual({
      table: '"public"."perf_child"',
      constraint: 'perf_child_parent_id_fkey',
      columns: ['parent_id'],
      indexes: [target('perf_child_parent_id_idx'), target('perf_child_parent_payload_idx')],
    });
    // An index whose first column is not the foreign key's does not cover it.
    expect(covers.flatMap((cover) => cover.indexes)).not.toContain(target('perf_child_payload_idx'));
    const crew = covers.find((cover) => cover.table === '"public"."users"' && cover.columns.join() === 'crew_id');
    expect(crew?.indexes).toEqual([target('users_crew_id_idx')]);
  });

  it('keeps the last index of a foreign key', async () => {
    const result = await plan();

    const verdict = (index: string) => result.unused.find((row) => row.index === index)!;
    expect(verdict('perf_child_payload_idx')).toMatchObject({ dropRecommended: true, keptBecause: [] });
    // Both cover the foreign key: the larger is dropped, the smaller is kept for it.
    expect(verdict('perf_child_parent_payload_idx')).toMatchObject({ dropRecommended: true, keptBecause: [] });
    expect(verdict('perf_child_parent_id_idx').dropRecommended).toBe(false);
    expect(verdict('perf_child_parent_id_idx').keptBecause).toEqual([
      expect.stringMatching(/^unused but backs foreign key perf_child_parent_id_fkey on "public"."perf_child" \(parent_id\)/),
    ]);
    expect(result.keptForForeignKeys).toContainEqual({
      index: target('perf_child_parent_id_idx'),
      constraint: 'perf_child_parent_id_fkey',
      table: '"public"."perf_child"',
    });
    expect(result.drops.map((row) => row.index)).not.toContain('perf_child_parent_id_idx');
    expect(result.drops.map((row) => row.index)).toEqual(expect.arrayContaining(['perf_child_payload_idx', 'perf_child_parent_payload_idx']));
    expect(result.drops.find((row) => row.index === 'perf_child_payload_idx')?.reason).toMatch(/^never scanned in 30 days of statistics \([0-9.]+ MiB\)$/);
  });

  it("keeps the schema's foreign-key indexes", async () => {
    const result = await plan({ minDropBytes: 0 });

    for (const index of ['users_crew_id_idx', 'user_sessions_user_id_idx']) {
      const row = result.unused.find((candidate) => candidate.index === index);
      expect(row, `${index} in the unused list`).toBeDefined();
      expect(row!.dropRecommended).toBe(false);
      expect(row!.keptBecause).toEqual([expect.stringMatching(/^unused but backs foreign key /)]);
    }
    expect(result.drops.map((row) => row.index)).not.toContain('users_crew_id_idx');
  });

  it('lists a small unused index without a drop', async () => {
    const result = await plan();

    const early = result.unused.find((row) => row.index === 'perf_child_early_idx')!;
    expect(early.bytes).toBeLessThan(1_048_576);
    expect(early.dropRecommended).toBe(false);
    expect(early.keptBecause).toEqual([expect.stringMatching(/below INDEX_DROP_MIN_BYTES \(1048576 bytes\): not worth a DROP$/)]);
    expect(result.drops.map((row) => row.index)).not.toContain('perf_child_early_idx');

    const withoutFloor = await plan({ minDropBytes: 0 });
    expect(withoutFloor.drops.map((row) => row.index)).toContain('perf_child_early_idx');
  });

  it('withholds drops while statistics are young', async () => {
    const young = await plan({ statisticsDays: 0.5 });
    const large = young.unused.find((row) => row.index === 'perf_child_payload_idx')!;
    expect(large.dropRecommended).toBe(false);
    expect(large.keptBecause).toEqual(['statistics cover 0.5 days, fewer than INDEX_STATS_MIN_DAYS (7)']);
    expect(young.drops.map((row) => row.index)).not.toContain('perf_child_payload_idx');

    // Through the job, with the default INDEX_STATS_MIN_DAYS of 7 on a database created minutes ago.
    const result = await run('performance-analysis');
    expect(result.indexes.statistics.source).toBe('database-created');
    expect(result.indexes.statistics.days).toBeLessThan(1);
    expect(result.indexes.unusedDropsWithheld).toMatch(/^index statistics cover [0-9.]+ days \(since the database was created, /);
    expect(result.indexes.unused.find((row: { index: string }) => row.index === 'perf_child_payload_idx').dropRecommended).toBe(false);
    const drops = result.recommendations.filter((row: { action: string }) => row.action === 'drop-index').map((row: { target: string }) => row.target);
    expect(drops).not.toContain(target('perf_child_payload_idx'));
    expect(drops).not.toContain(target('users_crew_id_idx'));
  });
});

describe('statistics age', () => {
  it('counts from the database creation', async () => {
    const { rows } = await client.query<{ server_start: Date }>('select pg_postmaster_start_time() as server_start');
    const age = await readStatisticsAge(database.db);

    expect(age.source).toBe('database-created');
    expect(new Date(age.since).getTime()).toBeGreaterThan(rows[0]!.server_start.getTime());
    expect(Date.now() - new Date(age.since).getTime()).toBeLessThan(30 * 60_000);
  });

  it('reads reset, creation and server start', async () => {
    const cluster = await startPgCluster();
    const admin = new pg.Client({ connectionString: `${cluster.url}/postgres` });
    await admin.connect();
    const fresh = createDatabase(`${cluster.url}/postgres`);
    try {
      const { rows } = await admin.query<{ server_start: Date }>('select pg_postmaster_start_time() as server_start');
      // A new cluster's postgres database predates the server start, so the server start counts.
      const before = await readStatisticsAge(fresh);
      expect(before).toMatchObject({ source: 'server-start', since: rows[0]!.server_start.toISOString() });

      await admin.query('select pg_stat_reset()');
      const after = await readStatisticsAge(fresh);
      const { rows: reset } = await admin.query<{ stats_reset: Date }>(`select stats_reset from pg_stat_database where datname = 'postgres'`);
      expect(after).toMatchObject({ source: 'stats-reset', since: reset[0]!.stats_reset.toISOString(), days: 0 });

      // pg_stat_file reports whole seconds, so the database is created at least a second after the server start.
      await waitFor('a second after the server start', async () => {
        const { rows: uptime } = await admin.query<{ seconds: number }>('select extract(epoch from now() - pg_postmaster_start_time())::float8 as seconds');
        return uptime[0]!.seconds > 1.5 ? true : undefined;
      });
      // A role that may not call pg_stat_file falls back to the server start.
      await admin.query('create role reporter login');
      await admin.query('create database reported owner reporter');
      const asReporter = createDatabase(`${cluster.url.replace('postgres@', 'reporter@')}/reported`);
      try {
        expect(await readStatisticsAge(asReporter)).toMatchObject({ source: 'server-start', since: rows[0]!.server_start.toISOString() });
      } finally {
        await asReporter.destroy();
      }
      const asSuperuser = createDatabase(`${cluster.url}/reported`);
      try {
        expect((await readStatisticsAge(asSuperuser)).source).toBe('database-created');
      } finally {
        await asSuperuser.destroy();
      }
    } finally {
      await fresh.destroy();
      await admin.end();
      await cluster.stop();
    }
  }, 120_000);
});

describe('reports on a locked table', () => {
  it('fail after lock_timeout instead of waiting', async () => {
    const lock = await holdLock('crews', 'access exclusive');
    try {
      const response = await app.inject({ method: 'POST', url: '/api/jobs/table-sizes', payload: { data: {} } });
      expect(response.statusCode).toBe(202);
      const id = response.json().id as string;
      const row = await waitFor('the failed table-sizes attempt in maintenance_logs', async () => {
        const { rows } = await client.query(
          `select result, notes, extract(epoch from duration) * 1000 as ms from maintenance_logs where job_name = 'table-sizes' and job_id = $1`,
          [id],
        );
        return rows[0];
      });
      expect(row.result).toBe('failure');
      expect(row.notes).toMatch(/stayed locked longer than DB_LOCK_TIMEOUT_MS \(400 ms\)/);
      expect(Number(row.ms)).toBeLessThan(LOCK_TIMEOUT_MS + 3000);
      await (await app.queues.maintenance.getJob(id))?.remove();
    } finally {
      await lock.release();
    }
  });
});

describe('vacuum-analyze', () => {
  it("vacuums and analyzes the runbook's tables", async () => {
    const result = await run('vacuum-analyze');

    expect(result.tables.map((row: { target: string }) => row.target)).toEqual(['"public"."users"', '"public"."crews"', '"public"."training_progress"']);
    for (const row of result.tables) {
      expect(row.outcome).toBe('done');
      expect(row.statement).toBe(`VACUUM ANALYZE ${row.target}`);
      expect(row.durationMs).toBeGreaterThanOrEqual(0);
    }
    expect(result.lockTimeouts).toEqual([]);
    await waitFor('the vacuum of users in the statistics', async () => {
      const { rows } = await client.query(`select last_vacuum, last_analyze from pg_stat_user_tables where relname = 'users'`);
      return rows[0].last_vacuum && rows[0].last_analyze ? true : undefined;
    });
  });

  it('answers 503 when the names cannot be checked', async () => {
    // Port 1 on the loopback address has no server, so the check cannot connect.
    const config = testConfig({ DATABASE_URL: 'postgres://127.0.0.1:1/nothing', QUEUE_PREFIX: prefix });
    const offline = await buildTestApp({ config, logger: false });
    try {
      const response = await offline.inject({ method: 'POST', url: '/api/jobs/vacuum-analyze', payload: { data: { tables: ['users'] } } });

      expect(response.statusCode).toBe(503);
      expect(response.json().code).toBe('SERVICE_UNAVAILABLE');
      expect(response.json().message).toContain('nothing was enqueued');
    } finally {
      await offline.close();
    }
    expect(await app.queues.maintenance.getJobCountByTypes('waiting', 'delayed', 'active')).toBe(0);
  });

  it('vacuums a table named twice once', async () => {
    const result = await run('vacuum-analyze', { tables: ['users', 'public.users', 'USERS'] });

    expect(result.tables).toEqual([expect.objectContaining({ target: '"public"."users"', outcome: 'done' })]);
  });

  it('finds a table with upper-case letters', async () => {
    await client.query(`create table "CrewLog" (id int primary key, entry text)`);

    for (const name of ['CrewLog', 'crewlog', 'public.CREWLOG']) {
      const result = await run('vacuum-analyze', { tables: [name] });
      expect(result.tables).toEqual([expect.objectContaining({ target: '"public"."CrewLog"', outcome: 'done' })]);
    }

    const rebuilt = await run('reindex', { tables: ['crewlog'] });
    expect(rebuilt.indexes.map((row: { statement: string }) => row.statement)).toEqual(['REINDEX INDEX CONCURRENTLY "public"."CrewLog_pkey"']);
    const byIndex = await run('reindex', { indexes: ['CrewLog_pkey'] });
    expect(byIndex.indexes).toEqual([expect.objectContaining({ target: '"public"."CrewLog_pkey"', outcome: 'done' })]);
  });

  it('prefers the exact spelling and rejects an ambiguous name', async () => {
    await client.query(`create table "CaseTwin" (id int); create table casetwin (id int)`);

    const exact = await run('vacuum-analyze', { tables: ['CaseTwin', 'casetwin'] });
    expect(exact.tables.map((row: { target: string }) => row.target)).toEqual(['"public"."CaseTwin"', '"public"."casetwin"']);

    const response = await app.inject({ method: 'POST', url: '/api/jobs/vacuum-analyze', payload: { data: { tables: ['CASETWIN'] } } });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('data.tables: "CASETWIN" matches "public"."CaseTwin" and "public"."casetwin" when case is ignored');
    expect(response.json().message).toContain('give the exact spelling');
  });

  it('rejects an unknown table with a 400 naming it', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/vacuum-analyze', payload: { data: { tables: ['users', 'no_such_table'] } } });

    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('INVALID_PAYLOAD');
    expect(response.json().message).toContain('"no_such_table"');
    expect(response.json().message).not.toContain('"users"');

    const malformed = await app.inject({ method: 'POST', url: '/api/jobs/vacuum-analyze', payload: { data: { tables: ['users; drop table crews'] } } });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().message).toContain('data.tables');
  });

  it('skips a locked table after lock_timeout', async () => {
    const lock = await holdLock('crews', 'share update exclusive');
    try {
      const result = await run('vacuum-analyze', { tables: ['crews', 'users'] });

      expect(result.lockTimeoutMs).toBe(LOCK_TIMEOUT_MS);
      expect(result.lockTimeouts).toEqual(['"public"."crews"']);
      const crews = result.tables.find((row: { target: string }) => row.target === '"public"."crews"');
      expect(crews.outcome).toBe('lock-timeout');
      expect(crews.code).toBe('55P03');
      expect(crews.durationMs).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS - 50);
      expect(crews.durationMs).toBeLessThan(LOCK_TIMEOUT_MS + 3000);
      expect(result.tables.find((row: { target: string }) => row.target === '"public"."users"').outcome).toBe('done');
      expect(result.done).toBe(1);
    } finally {
      await lock.release();
    }
  });

  it('leaves no lock_timeout on the pooled connections', async () => {
    const settings = await Promise.all(
      Array.from({ length: 5 }, () =>
        database.db.connection().execute(async (connection) => {
          const { rows } = await sql<{ value: string }>`select current_setting('lock_timeout') as value`.execute(connection);
          return rows[0]!.value;
        }),
      ),
    );
    expect(new Set(settings)).toEqual(new Set(['0']));
  });
});

describe('reindex', () => {
  beforeAll(async () => {
    await client.query(`
      create table perf_leftover (id int primary key, grade int not null);
      insert into perf_leftover select g, g % 10 from generate_series(1, 2000) g;
      create function perf_guard(value int) returns int language plpgsql immutable as $$
      begin
        if current_setting('perf.fail_build', true) = 'on' then raise exception 'planted index build failure'; end if;
        return value;
      end $$;
      create index perf_leftover_guard_idx on perf_leftover (perf_guard(grade));
    `);
  });

  it('drops failed-build leftovers, then rebuilds', async () => {
    // A REINDEX CONCURRENTLY that fails in its build phase leaves an invalid _ccnew index.
    await client.query(`set perf.fail_build = 'on'`);
    await expect(client.query('reindex index concurrently perf_leftover_guard_idx')).rejects.toThrow(/planted index build failure/);
    await client.query('reset perf.fail_build');
    // A CREATE UNIQUE INDEX CONCURRENTLY on duplicate data leaves an invalid index under its own name.
    await expect(client.query('create unique index concurrently perf_leftover_grade_key on perf_leftover (grade)')).rejects.toMatchObject({ code: '23505' });
    expect(await invalidIndexes()).toEqual(['perf_leftover_grade_key', 'perf_leftover_guard_idx_ccnew']);

    const dry = await run('reindex', { tables: ['perf_leftover'], dryRun: true });
    expect(dry.wouldDrop).toEqual(['DROP INDEX CONCURRENTLY IF EXISTS "public"."perf_leftover_guard_idx_ccnew"']);
    expect(dry.wouldReindex).toEqual([
      'REINDEX INDEX CONCURRENTLY "public"."perf_leftover_guard_idx"',
      'REINDEX INDEX CONCURRENTLY "public"."perf_leftover_pkey"',
    ]);
    expect(await invalidIndexes()).toEqual(['perf_leftover_grade_key', 'perf_leftover_guard_idx_ccnew']);

    const result = await run('reindex', { tables: ['perf_leftover'] });

    expect(result.droppedLeftovers).toEqual([expect.objectContaining({ target: '"public"."perf_leftover_guard_idx_ccnew"', outcome: 'done' })]);
    expect(result.indexes.map((row: { target: string; outcome: string }) => [row.target, row.outcome])).toEqual([
      ['"public"."perf_leftover_guard_idx"', 'done'],
      ['"public"."perf_leftover_pkey"', 'done'],
    ]);
    // The failed CREATE INDEX is someone's index: reported with its statement, dropped only on request.
    expect(result.invalidKept).toEqual([
      { target: '"public"."perf_leftover_grade_key"', statement: 'DROP INDEX CONCURRENTLY IF EXISTS "public"."perf_leftover_grade_key";' },
    ]);
    expect(await invalidIndexes()).toEqual(['perf_leftover_grade_key']);

    const cleanup = await run('reindex', { tables: ['perf_leftover'], dropInvalid: true });
    expect(cleanup.droppedLeftovers.map((row: { target: string }) => row.target)).toEqual(['"public"."perf_leftover_grade_key"']);
    expect(cleanup.invalidRemaining).toEqual([]);
    expect(await invalidIndexes()).toEqual([]);
  });

  it("rebuilds the runbook tables' indexes", async () => {
    const { rows } = await client.query<{ name: string }>(
      `select format('%I.%I', schemaname, indexname) as name from pg_indexes
        where tablename in ('users', 'training_progress', 'quiz_attempts') order by schemaname, indexname`,
    );
    const expected = rows.map((row) => row.name.split('.').map((part) => `"${part}"`).join('.'));

    const result = await run('reindex');

    expect(result.indexes.map((row: { target: string }) => row.target)).toEqual(expected);
    expect(expected).toContain('"public"."users_crew_id_idx"');
    expect(expected).toContain('"public"."quiz_attempts_user_id_idx"');
    expect(result.indexes.every((row: { outcome: string }) => row.outcome === 'done')).toBe(true);
    expect(await invalidIndexes()).toEqual([]);
  });

  it('rebuilds named indexes only', async () => {
    const result = await run('reindex', { indexes: ['perf_leftover_pkey'] });
    expect(result.indexes.map((row: { statement: string }) => row.statement)).toEqual(['REINDEX INDEX CONCURRENTLY "public"."perf_leftover_pkey"']);
  });

  it('skips a locked table after lock_timeout', async () => {
    const lock = await holdLock('perf_leftover', 'access exclusive');
    try {
      const result = await run('reindex', { tables: ['perf_leftover'] });

      expect(result.lockTimeouts.sort()).toEqual(['"public"."perf_leftover_guard_idx"', '"public"."perf_leftover_pkey"']);
      for (const row of result.indexes) {
        expect(row.outcome).toBe('lock-timeout');
        expect(row.durationMs).toBeLessThan(LOCK_TIMEOUT_MS + 3000);
      }
      expect(result.done).toBe(0);
    } finally {
      await lock.release();
    }
    expect(await invalidIndexes()).toEqual([]);
  });

  it('reports a rebuild stopped by a writer', async () => {
    // REINDEX CONCURRENTLY waits for every transaction that writes to the table
    // after it has created the new index: stopped by lock_timeout there, it leaves a _ccnew index.
    const writer = await connect();
    await writer.query('begin');
    await writer.query('insert into perf_leftover values (100001, 1)');
    let interrupted;
    try {
      interrupted = await run('reindex', { indexes: ['perf_leftover_pkey'] });
    } finally {
      await writer.query('rollback');
      await writer.end();
    }

    expect(interrupted.indexes).toEqual([expect.objectContaining({ target: '"public"."perf_leftover_pkey"', outcome: 'lock-timeout', code: '55P03' })]);
    // Its DROP INDEX CONCURRENTLY waited for the same writer, so the leftover is reported, not hidden.
    expect(interrupted.droppedAfterInterruptedRebuild).toEqual([
      expect.objectContaining({ target: '"public"."perf_leftover_pkey_ccnew"', outcome: 'lock-timeout' }),
    ]);
    expect(interrupted.lockTimeouts).toEqual(['"public"."perf_leftover_pkey"', '"public"."perf_leftover_pkey_ccnew"']);
    expect(await invalidIndexes()).toEqual(['perf_leftover_pkey_ccnew']);

    const next = await run('reindex', { indexes: ['perf_leftover_pkey'] });
    expect(next.droppedLeftovers).toEqual([expect.objectContaining({ target: '"public"."perf_leftover_pkey_ccnew"', outcome: 'done' })]);
    expect(next.indexes).toEqual([expect.objectContaining({ outcome: 'done' })]);
    expect(await invalidIndexes()).toEqual([]);
  });

  it('leaves invalid indexes of a running build alone', async () => {
    await client.query(`set perf.fail_build = 'on'`);
    await expect(client.query('reindex index concurrently perf_leftover_guard_idx')).rejects.toThrow(/planted index build failure/);
    await client.query('reset perf.fail_build');
    // A CREATE INDEX CONCURRENTLY waits for the open writer, so it is still running during the dry run.
    const writer = await connect();
    await writer.query('begin');
    await writer.query('insert into perf_leftover values (100002, 2)');
    const builder = await connect();
    const build = builder.query('create index concurrently perf_leftover_grade_idx on perf_leftover (grade)');
    try {
      await waitFor('the concurrent build in pg_stat_progress_create_index', async () => {
        const { rows } = await client.query(`select 1 from pg_stat_progress_create_index where relid = 'perf_leftover'::regclass`);
        return rows.length > 0 ? true : undefined;
      });

      const dry = await run('reindex', { tables: ['perf_leftover'], dryRun: true });

      expect(dry.wouldDrop).toEqual([]);
      expect(dry.invalidKept).toEqual([]);
      expect(dry.skipped.map((row: { target: string }) => row.target).sort()).toEqual([
        '"public"."perf_leftover_grade_idx"',
        '"public"."perf_leftover_guard_idx_ccnew"',
      ]);
      for (const row of dry.skipped) expect(row.reason).toBe('an index build is running on its table now');
    } finally {
      await writer.query('rollback');
      await writer.end();
      await build;
      await builder.end();
    }

    const result = await run('reindex', { tables: ['perf_leftover'] });
    expect(result.droppedLeftovers.map((row: { target: string }) => row.target)).toEqual(['"public"."perf_leftover_guard_idx_ccnew"']);
    await client.query('drop index perf_leftover_grade_idx');
    expect(await invalidIndexes()).toEqual([]);
  });

  it('does not start while another upkeep run holds the database', async () => {
    const holder = await connect();
    await holder.query(`select pg_advisory_lock(hashtext('shipshape:database-upkeep'))`);
    try {
      const response = await app.inject({ method: 'POST', url: '/api/jobs/vacuum-analyze', payload: { data: { tables: ['users'] } } });
      expect(response.statusCode).toBe(202);
      const id = response.json().id as string;
      const row = await waitFor('the failed vacuum-analyze attempt in maintenance_logs', async () => {
        const { rows } = await client.query(`select result, notes from maintenance_logs where job_name = 'vacuum-analyze' and job_id = $1`, [id]);
        return rows[0];
      });
      expect(row.result).toBe('failure');
      expect(row.notes).toMatch(/another vacuum-analyze or reindex run is working on this database/);
      await (await app.queues.maintenance.getJob(id))?.remove();
    } finally {
      await holder.end();
    }
  });

  it('rejects unknown names and tables with indexes together', async () => {
    const unknown = await app.inject({ method: 'POST', url: '/api/jobs/reindex', payload: { data: { indexes: ['missing_idx'] } } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toContain('data.indexes: no index named "missing_idx"');

    const both = await app.inject({ method: 'POST', url: '/api/jobs/reindex', payload: { data: { tables: ['users'], indexes: ['users_pkey'] } } });
    expect(both.statusCode).toBe(400);
    expect(both.json().message).toContain('not both');
  });
});
