import { sql, type RawBuilder } from 'kysely';
import type { Config } from '../config.js';
import type { Db } from './database.js';

/*
 * Bounded, restartable batch operations for tables with a bigint `id` primary
 * key, for use against a live application database.
 *
 * Each batch is one statement in its own transaction. It selects the next
 * `batchSize` matching rows above the last id seen. This keyset walk of the
 * primary key means no batch rescans rows an earlier one passed over. The
 * statement then deletes exactly those rows by their physical address, because
 * `ctid = any(array(...))` is a TID scan with no second index probe per row.
 *
 * The predicate is repeated in the DELETE. When the application updates a
 * selected row before the DELETE reaches it, Postgres re-checks the DELETE's
 * conditions on the new row version, whose ctid differs, so the row is left
 * alone: a token whose expiry was extended in the meantime is never deleted.
 * The next run deletes it if it still matches then.
 *
 * With a time budget, each batch is sized from the time the previous one took.
 * Small batches waste round trips and large ones hold locks for long. The right
 * size depends on the table, the server and its load at that moment.
 */

export interface BatchProgress {
  /** Rows changed so far. */
  rows: number;
  batches: number;
  /** Rows the last batch changed. */
  lastBatchRows: number;
}

export interface BatchOptions {
  /** Rows in the first statement, and in every statement when `budgetMs` is unset or 0. */
  batchSize: number;
  /** Target duration of one statement in milliseconds; each batch is then sized from the time the previous one took. */
  budgetMs?: number;
  /** Largest batch an adaptive size may reach; default 100,000. */
  maxBatchSize?: number;
  signal?: AbortSignal;
  onBatch?: (progress: BatchProgress) => Promise<void> | void;
}

export interface BatchReport {
  rows: number;
  batches: number;
  /** Duration of the slowest statement, in milliseconds. */
  maxBatchMs: number;
  /** Rows the largest statement was allowed to touch. */
  maxBatchSize: number;
}

const DEFAULT_MAX_BATCH_SIZE = 100_000;

type BatchSettings = Pick<Config, 'CLEANUP_BATCH_SIZE' | 'CLEANUP_BATCH_BUDGET_MS' | 'CLEANUP_MAX_BATCH_SIZE'>;

/**
 * Returns the batch sizing of a cleanup job: a size the caller requested is
 * used for every batch, otherwise batches start at CLEANUP_BATCH_SIZE and adapt
 * to CLEANUP_BATCH_BUDGET_MS.
 */
export function batchSizing(config: BatchSettings, requested?: number): Pick<BatchOptions, 'batchSize' | 'budgetMs' | 'maxBatchSize'> {
  if (requested !== undefined) return { batchSize: requested };
  return { batchSize: config.CLEANUP_BATCH_SIZE, budgetMs: config.CLEANUP_BATCH_BUDGET_MS, maxBatchSize: config.CLEANUP_MAX_BATCH_SIZE };
}
// A batch grows or shrinks at most by this factor per step, so one slow or fast statement does not swing the size.
const MAX_STEP_FACTOR = 2;

/** Returns the size of the next batch: the one that would have taken `budgetMs`, within a factor of two of `size`. */
export function nextBatchSize(size: number, elapsedMs: number, budgetMs: number, maxBatchSize: number): number {
  const fitted = Math.round((size * budgetMs) / Math.max(elapsedMs, 0.1));
  const stepped = Math.min(Math.max(fitted, Math.floor(size / MAX_STEP_FACTOR)), size * MAX_STEP_FACTOR);
  return Math.min(Math.max(stepped, 1), maxBatchSize);
}

interface BatchRow {
  scanned: number;
  last_id: number | null;
  changed: number;
}

async function runBatches(
  db: Db,
  options: BatchOptions,
  statement: (afterId: number, batchSize: number) => RawBuilder<BatchRow>,
): Promise<BatchReport> {
  const maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
  let batchSize = Math.min(options.batchSize, maxBatchSize);
  const report: BatchReport = { rows: 0, batches: 0, maxBatchMs: 0, maxBatchSize: batchSize };
  let afterId = 0;

  for (;;) {
    options.signal?.throwIfAborted();

    const started = performance.now();
    const { rows } = await statement(afterId, batchSize).execute(db);
    const elapsed = performance.now() - started;

    const row = rows[0];
    if (!row || row.scanned === 0 || row.last_id === null) break;
    afterId = row.last_id;
    report.rows += row.changed;
    report.batches += 1;
    report.maxBatchMs = Math.max(report.maxBatchMs, elapsed);
    report.maxBatchSize = Math.max(report.maxBatchSize, batchSize);
    await options.onBatch?.({ rows: report.rows, batches: report.batches, lastBatchRows: row.changed });

    if (row.scanned < batchSize) break;
    if (options.budgetMs) batchSize = nextBatchSize(batchSize, elapsed, options.budgetMs, maxBatchSize);
  }

  report.maxBatchMs = Math.round(report.maxBatchMs * 10) / 10;
  return report;
}

export interface DeleteSpec {
  table: string;
  /** Condition a row must meet to be changed. It must not depend on the time of evaluation. */
  where: RawBuilder<unknown>;
}

/**
 * Builds one batch statement around `change`: the keyset selection `batch`
 * before it, and the counts runBatches reads after it. `change` is one or more
 * CTEs, the last named `changed_rows`, that act on the rows `inBatch` selects.
 */
function batchStatement(
  spec: DeleteSpec,
  batchSize: number,
  afterId: number,
  change: (inBatch: RawBuilder<unknown>) => RawBuilder<unknown>,
): RawBuilder<BatchRow> {
  const table = sql.table(spec.table);
  const inBatch = sql`ctid = any(array(select ctid from batch)) and (${spec.where})`;
  return sql<BatchRow>`
    with batch as materialized (
      select id, ctid from ${table}
      where id > ${afterId} and (${spec.where})
      order by id
      limit ${batchSize}
    ), ${change(inBatch)}
    select
      (select count(*) from batch)::int as scanned,
      (select max(id) from batch) as last_id,
      (select count(*) from changed_rows)::int as changed
  `;
}

/** Deletes every row of `spec.table` that matches `spec.where`, one batch per statement. */
export function deleteInBatches(db: Db, spec: DeleteSpec, options: BatchOptions): Promise<BatchReport> {
  const table = sql.table(spec.table);
  return runBatches(db, options, (afterId, batchSize) =>
    batchStatement(spec, batchSize, afterId, (inBatch) => sql`
      changed_rows as (delete from ${table} where ${inBatch} returning 1)
    `),
  );
}

export interface UpdateSpec extends DeleteSpec {
  /** The SET list, for example sql`revoked_at = ${now}`. It must make `where` false for the row. */
  set: RawBuilder<unknown>;
}

/** Updates every row of `spec.table` that matches `spec.where`, one batch per statement. */
export function updateInBatches(db: Db, spec: UpdateSpec, options: BatchOptions): Promise<BatchReport> {
  const table = sql.table(spec.table);
  return runBatches(db, options, (afterId, batchSize) =>
    batchStatement(spec, batchSize, afterId, (inBatch) => sql`
      changed_rows as (update ${table} set ${spec.set} where ${inBatch} returning 1)
    `),
  );
}

export interface ArchiveSpec extends DeleteSpec {
  archiveTable: string;
  /** Columns copied to the archive table; the archive fills its own extra columns by default. */
  columns: readonly string[];
}

/**
 * Moves matching rows into `spec.archiveTable`, one batch per statement.
 * DELETE ... RETURNING feeds the INSERT in one statement, so a crash or kill
 * at any point either moves a whole batch or leaves it in place: no row is
 * lost or copied twice. A row whose id already exists in the archive aborts
 * the batch with a unique violation instead of being dropped.
 */
export function archiveInBatches(db: Db, spec: ArchiveSpec, options: BatchOptions): Promise<BatchReport> {
  const table = sql.table(spec.table);
  const columns = sql.join(spec.columns.map((column) => sql.ref(column)));
  return runBatches(db, options, (afterId, batchSize) =>
    batchStatement(spec, batchSize, afterId, (inBatch) => sql`
      moved as (delete from ${table} where ${inBatch} returning ${columns}),
      changed_rows as (insert into ${sql.table(spec.archiveTable)} (${columns}) select ${columns} from moved returning 1)
    `),
  );
}

/** Counts the rows a batch operation with `where` would change, for dry runs. */
export async function countMatching(db: Db, table: string, where: RawBuilder<unknown>): Promise<number> {
  const { rows } = await sql<{ count: number }>`
    select count(*)::int as count from ${sql.table(table)} where ${where}
  `.execute(db);
  return rows[0]?.count ?? 0;
}
