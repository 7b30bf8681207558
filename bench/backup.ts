import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { connectionSettings } from '../src/db/database.js';
import { ensureDatabase } from '../src/db/migrate.js';
import { writeDump } from '../src/jobs/backups/dump.js';
import { databaseName, pgEnvironment, runProgram } from '../src/jobs/backups/pg-tools.js';

/*
 * Backup benchmark: backup-database's dump function (writeDump: pg_dump
 * streamed through a SHA-256 tap into a partial file, fsync, rename) against
 * a plain `pg_dump --format=custom --file=...` of the same database.
 *
 *   npm run bench:backup -- [--size-gb 1] [--database-url URL]
 *
 * The benchmark creates its own database and fills one UNLOGGED table with
 * generate_series rows until the database reaches --size-gb. UNLOGGED keeps
 * the write-ahead log of a shared server small, and pg_dump dumps its rows
 * all the same. It runs the reference first, then Shipshape's dump, and drops
 * the database and both files at the end.
 */

const { values } = parseArgs({
  options: {
    'size-gb': { type: 'string', default: '1' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://127.0.0.1:5432/shipshape_bench_backup' },
  },
});

const sizeGb = Number(values['size-gb']);
if (!Number.isFinite(sizeGb) || sizeGb <= 0) throw new Error(`--size-gb must be a positive number (got "${values['size-gb']}")`);
const targetBytes = Math.round(sizeGb * 1024 ** 3);
const databaseUrl = values['database-url'];
const name = databaseName(databaseUrl);
const ROWS_PER_INSERT = 1_000_000;
const config = { PG_BIN_DIR: process.env.PG_BIN_DIR };

const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function withAdmin<T>(action: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client(connectionSettings(admin.toString()));
  await client.connect();
  try {
    return await action(client);
  } finally {
    await client.end();
  }
}

const dropDatabase = () => withAdmin((client) => client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`));

/** Fills the benchmark database until it reaches targetBytes; returns its size and row count. */
async function fillDatabase(): Promise<{ bytes: number; rows: number }> {
  const client = new pg.Client(connectionSettings(databaseUrl));
  await client.connect();
  try {
    await client.query(`
      create unlogged table crew_events (
        id bigint primary key,
        crew_id integer not null,
        kind text not null,
        details text not null,
        created_at timestamptz not null
      )`);
    let rows = 0;
    let bytes = 0;
    while (bytes < targetBytes) {
      await client.query(
        `insert into crew_events
         select g, g % 5000, (array['boarding', 'drill', 'training', 'medical'])[1 + g % 4],
                md5(g::text) || md5((g * 7)::text) || ' certificate renewal noted by the master on watch ' || (g % 977),
                timestamptz '2026-01-01' + g * interval '1 second'
           from generate_series($1::bigint, $2::bigint) as g`,
        [rows + 1, rows + ROWS_PER_INSERT],
      );
      rows += ROWS_PER_INSERT;
      const { rows: size } = await client.query<{ bytes: string }>('select pg_database_size(current_database()) as bytes');
      bytes = Number(size[0]!.bytes);
      process.stdout.write(`  filled ${rows.toLocaleString('en')} rows, ${mib(bytes)}\n`);
    }
    return { bytes, rows };
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  await dropDatabase();
  await ensureDatabase(databaseUrl);
  const folder = await mkdtemp(join(tmpdir(), 'shipshape-bench-backup-'));
  try {
    console.log(`Filling ${name} to ${sizeGb} GiB`);
    const filled = await fillDatabase();
    const env = pgEnvironment(databaseUrl);

    const referencePath = join(folder, 'reference.dump');
    const referenceStarted = performance.now();
    await runProgram(config, 'pg_dump', ['--format=custom', '--no-password', `--file=${referencePath}`], env);
    const referenceMs = performance.now() - referenceStarted;
    const referenceBytes = (await stat(referencePath)).size;

    const shipshape = await writeDump({ config, pgEnv: env, path: join(folder, 'shipshape.dump') });

    console.log('');
    console.log(`database: ${mib(filled.bytes)}, ${filled.rows.toLocaleString('en')} rows`);
    console.log(`plain pg_dump -Fc --file (reference): ${seconds(referenceMs)}, ${mib(referenceBytes)}`);
    console.log(`writeDump (stream + sha256 + fsync + rename): ${seconds(shipshape.durationMs)}, ${mib(shipshape.sizeBytes)}`);
    console.log(`time ratio writeDump / reference: ${(shipshape.durationMs / referenceMs).toFixed(2)}x`);
    console.log(`size ratio writeDump / reference: ${(shipshape.sizeBytes / referenceBytes).toFixed(3)}x`);
  } finally {
    await rm(folder, { recursive: true, force: true });
    await dropDatabase();
  }
}

await main();
