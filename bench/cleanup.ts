import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDatabase, type Db } from '../src/db/database.js';
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js';
import { cleanupTokens } from '../src/jobs/sessions/token-cleanup.js';

/*
 * Token cleanup benchmark: the job's batched delete against one plain DELETE
 * of the same rows, on two identical tables in one database, in one run.
 *
 *   npm run bench:cleanup -- [--rows 1000000] [--batch-size 5000] [--budget-ms 50] [--runs 1]
 *
 * Batches start at --batch-size and adapt to --budget-ms per statement, as the
 * job does with its default settings; --budget-ms 0 keeps every batch at --batch-size.
 *
 * The reference is the plain DELETE: the fastest way to remove the rows, and
 * the one that holds its locks and its WAL for the whole table at once.
 */

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'batch-size': { type: 'string', default: '5000' },
    'budget-ms': { type: 'string', default: '50' },
    'max-batch-size': { type: 'string', default: '50000' },
    runs: { type: 'string', default: '1' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://127.0.0.1:5432/shipshape_bench' },
  },
});

function positiveInteger(flag: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${flag} must be a positive integer (got "${value}")`);
  return parsed;
}

const totalRows = positiveInteger('rows', values.rows);
const batchSize = positiveInteger('batch-size', values['batch-size']);
const runs = positiveInteger('runs', values.runs);
const budgetMs = values['budget-ms'] === '0' ? 0 : positiveInteger('budget-ms', values['budget-ms']);
const maxBatchSize = positiveInteger('max-batch-size', values['max-batch-size']);
const EXPIRED_SHARE = 0.9;

/** Fills token_blacklist with `totalRows` rows, 90% expired, interleaved by id, and copies it. */
async function load(db: Db, now: Date): Promise<number> {
  await sql`drop table if exists token_blacklist_reference`.execute(db);
  await sql`truncate token_blacklist restart identity`.execute(db);
  await sql`
    insert into token_blacklist (jti, reason, blacklisted_at, expires_at)
    select
      md5(i::text),
      'logout',
      ${now}::timestamptz - interval '30 days',
      case when i % 10 < ${EXPIRED_SHARE * 10}
        then ${now}::timestamptz - (i % 720) * interval '1 hour' - interval '1 second'
        else ${now}::timestamptz + (i % 720) * interval '1 hour' + interval '1 second'
      end
    from generate_series(1, ${totalRows}) as i
  `.execute(db);
  await sql`create table token_blacklist_reference (like token_blacklist including all)`.execute(db);
  await sql`insert into token_blacklist_reference overriding system value select * from token_blacklist`.execute(db);
  await sql`vacuum analyze token_blacklist`.execute(db);
  await sql`vacuum analyze token_blacklist_reference`.execute(db);
  const { rows } = await sql<{ count: number }>`select count(*)::int as count from token_blacklist where expires_at <= ${now}`.execute(db);
  return rows[0]?.count ?? 0;
}

interface RunResult {
  batchedRowsPerSecond: number;
  plainRowsPerSecond: number;
  maxBatchMs: number;
  batches: number;
  /** Rows the largest statement was allowed to touch. */
  largestBatch: number;
  /** Growth of this process's resident memory during the batched run, in MiB. */
  rssGrowthMb: number;
}

async function runOnce(db: Db): Promise<RunResult> {
  const now = new Date();
  const expired = await load(db, now);

  const plainStarted = performance.now();
  const plain = await sql`delete from token_blacklist_reference where expires_at <= ${now}`.execute(db);
  const plainSeconds = (performance.now() - plainStarted) / 1000;

  const rssBefore = process.memoryUsage.rss();
  let rssMax = rssBefore;
  const batchedStarted = performance.now();
  const result = await cleanupTokens(db, {
    now,
    batchSize,
    budgetMs,
    maxBatchSize,
    auditRetentionDays: 90,
    sessionGraceHours: 24,
    dryRun: false,
    onBatch: () => {
      rssMax = Math.max(rssMax, process.memoryUsage.rss());
    },
  });
  const batchedSeconds = (performance.now() - batchedStarted) / 1000;

  const step = result.steps.token_blacklist;
  if (step.rows !== expired || Number(plain.numAffectedRows) !== expired) {
    throw new Error(`row counts differ: expected ${expired}, batched ${step.rows}, plain ${plain.numAffectedRows}`);
  }
  return {
    batchedRowsPerSecond: expired / batchedSeconds,
    plainRowsPerSecond: expired / plainSeconds,
    maxBatchMs: step.maxBatchMs ?? 0,
    batches: step.batches ?? 0,
    largestBatch: step.maxBatchSize ?? 0,
    rssGrowthMb: (rssMax - rssBefore) / 1024 / 1024,
  };
}

const median = (numbers: number[]) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)] ?? 0;

await ensureDatabase(values['database-url']);
const db = createDatabase(values['database-url'], { max: 2, applicationName: 'shipshape-bench' });
try {
  await migrateToLatest(db);
  const results: RunResult[] = [];
  for (let run = 1; run <= runs; run += 1) {
    const result = await runOnce(db);
    results.push(result);
    console.log(
      `run ${run}: batched ${Math.round(result.batchedRowsPerSecond)} rows/s in ${result.batches} batches, ` +
        `plain DELETE ${Math.round(result.plainRowsPerSecond)} rows/s, max batch ${result.maxBatchMs} ms, largest batch ${result.largestBatch} rows`,
    );
  }

  const batched = median(results.map((result) => result.batchedRowsPerSecond));
  const plain = median(results.map((result) => result.plainRowsPerSecond));
  console.log('');
  console.log(`rows: ${totalRows} (${Math.round(EXPIRED_SHARE * 100)}% expired), first batch ${batchSize}, budget ${budgetMs ? `${budgetMs} ms per statement` : 'none (fixed size)'}, median of ${runs} run(s)`);
  console.log(`batched cleanup:  ${Math.round(batched)} rows/s`);
  console.log(`plain DELETE:     ${Math.round(plain)} rows/s (reference)`);
  console.log(`ratio:            ${(batched / plain).toFixed(2)}x of the reference rate`);
  console.log(`max batch time:   ${median(results.map((result) => result.maxBatchMs))} ms`);
  console.log(`node RSS growth:  ${median(results.map((result) => result.rssGrowthMb)).toFixed(1)} MiB during the batched run`);
  await sql`drop table if exists token_blacklist_reference`.execute(db);
  await sql`truncate token_blacklist`.execute(db);
} finally {
  await db.destroy();
}
