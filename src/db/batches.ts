import { sql, type RawBuilder } from 'kysely';
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
 */

export interface BatchProgress {
  /** Rows changed so far. */
  rows: number;
  batches: number;
  /** Rows the last batch changed. */
  lastBatchRows: number;
}

export interface BatchOptions {
  batchSize: number;
  signal?: AbortSignal;
  onBatch?: (progress: BatchProgress) => Promise<void> | void;
}

export interface BatchReport {
  rows: number;
  batches: number;
  /** Duration of the slowest statement, in milliseconds. */
  maxBatchMs: number;
}

interface BatchRow {
  scanned: number;
  last_id: number | null;
  changed: number;
}

async function runBatches(
  db: Db,
  options: BatchOptions,
  statement: (afterId: number) => RawBuilder<BatchRow>,
): Promise<BatchReport> {
  const report: BatchReport = { rows: 0, batches: 0, maxBatchMs: 0 };
  let afterId = 0;

  for (;;) {
    options.signal?.throwIfAborted();

    const started = performance.now();
    const { rows } = await statement(afterId).execute(db);
    const elapsed = performance.now() - started;

    const row = rows[0];
    if (!row || row.scanned === 0 || row.last_id === null) break;
    afterId = row.last_id;
    report.rows += row.changed;
    report.batches += 1;
    report.maxBatchMs = Math.max(report.maxBatchMs, elapsed);
    await options.onBatch?.({ rows: report.rows, batches: report.batches, lastBatchRows: row.changed });

    if (row.scanned < options.batchSize) break;
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

/** Deletes every row of `spec.table` that matches `spec.where`, `batchSize` rows per statement. */
export function deleteInBatches(db: Db, spec: DeleteSpec, options: BatchOptions): Promise<BatchReport> {
  const table = sql.table(spec.table);
  return runBatches(db, options, (afterId) =>
    batchStatement(spec, options.batchSize, afterId, (inBatch) => sql`
      changed_rows as (delete from ${table} where ${inBatch} returning 1)
    `),
  );
}

export interface UpdateSpec extends DeleteSpec {
  /** The SET list, for example sql`revoked_at = ${now}`. It must make `where` false for the row. */
  set: RawBuilder<unknown>;
}

/** Updates every row of `spec.table` that matches `spec.where`, `batchSize` rows per statement. */
export function updateInBatches(db: Db, spec: UpdateSpec, options: BatchOptions): Promise<BatchReport> {
  const table = sql.table(spec.table);
  return runBatches(db, options, (afterId) =>
    batchStatement(spec, options.batchSize, afterId, (inBatch) => sql`
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
 * Moves matching rows into `spec.archiveTable`, `batchSize` rows per statement.
 * DELETE ... RETURNING feeds the INSERT in one statement, so a crash or kill
 * at any point either moves a whole batch or leaves it in place: no row is
 * lost or copied twice. A row whose id already exists in the archive aborts
 * the batch with a unique violation instead of being dropped.
 */
export function archiveInBatches(db: Db, spec: ArchiveSpec, options: BatchOptions): Promise<BatchReport> {
  const table = sql.table(spec.table);
  const columns = sql.join(spec.columns.map((column) => sql.ref(column)));
  return runBatches(db, options, (afterId) =>
    batchStatement(spec, options.batchSize, afterId, (inBatch) => sql`
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
