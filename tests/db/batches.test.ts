import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { batchSizing, deleteInBatches, nextBatchSize } from '../../src/db/batches.js';
import { createTestDatabase, testConfig, type TestDatabase } from '../helpers/services.js';

const ROWS = 20_000;
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('batches');
});

afterAll(async () => {
  await database?.drop();
});

beforeEach(async () => {
  await sql`truncate token_blacklist restart identity`.execute(database.db);
  await sql`
    insert into token_blacklist (jti, reason, blacklisted_at, expires_at)
    select md5(i::text), 'logout', now() - interval '2 days', now() - interval '1 day'
    from generate_series(1, ${ROWS}) as i
  `.execute(database.db);
});

const expired = sql`expires_at <= now()`;

describe('nextBatchSize', () => {
  it.each([
    // size, elapsed ms, budget ms, max, expected
    [1000, 10, 50, 100_000, 2000],
    [1000, 40, 50, 100_000, 1250],
    [1000, 100, 50, 100_000, 500],
    [1000, 1000, 50, 100_000, 500],
    [1000, 0, 50, 100_000, 2000],
    [1000, 10, 50, 1500, 1500],
    [1, 1000, 50, 100_000, 1],
  ])('sizes %i rows after %i ms (budget %i, max %i)', (size, elapsed, budget, max, expected) => {
    expect(nextBatchSize(size, elapsed, budget, max)).toBe(expected);
  });
});

describe('adaptive batches', () => {
  it('keeps a fixed size without a budget', async () => {
    const report = await deleteInBatches(database.db, { table: 'token_blacklist', where: expired }, { batchSize: 1000 });

    expect(report.rows).toBe(ROWS);
    expect(report.batches).toBe(ROWS / 1000);
    expect(report.maxBatchSize).toBe(1000);
  });

  it('grows batches that finish under the budget', async () => {
    const sizes: number[] = [];
    const report = await deleteInBatches(
      database.db,
      { table: 'token_blacklist', where: expired },
      { batchSize: 100, budgetMs: 60_000, maxBatchSize: 5000, onBatch: (progress) => void sizes.push(progress.lastBatchRows) },
    );

    expect(report.rows).toBe(ROWS);
    // 100, 200, 400, ... doubling up to the maximum, then 5000 per batch.
    expect(sizes.slice(0, 6)).toEqual([100, 200, 400, 800, 1600, 3200]);
    expect(report.maxBatchSize).toBe(5000);
    expect(report.batches).toBeLessThan(ROWS / 1000);
    const { rows } = await sql<{ count: number }>`select count(*)::int as count from token_blacklist`.execute(database.db);
    expect(rows[0]!.count).toBe(0);
  });

  it('shrinks batches that take longer than the budget', async () => {
    const report = await deleteInBatches(
      database.db,
      { table: 'token_blacklist', where: sql`id <= 500 and ${expired}` },
      // A budget far below any real statement time halves the size after every batch, down to one row.
      { batchSize: 8, budgetMs: 0.000_001, maxBatchSize: 5000, onBatch: () => {} },
    );

    expect(report.rows).toBe(500);
    expect(report.maxBatchSize).toBe(8);
    expect(report.batches).toBeGreaterThan(500 / 8);
  });
});

describe('batchSizing', () => {
  const config = testConfig({ CLEANUP_BATCH_SIZE: '2000', CLEANUP_BATCH_BUDGET_MS: '75', CLEANUP_MAX_BATCH_SIZE: '9000' });

  it('adapts from the settings by default', () => {
    expect(batchSizing(config)).toEqual({ batchSize: 2000, budgetMs: 75, maxBatchSize: 9000 });
  });

  it('fixes a requested size', () => {
    expect(batchSizing(config, 300)).toEqual({ batchSize: 300 });
  });
});
