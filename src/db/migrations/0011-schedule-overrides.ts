import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  // One row per calendar entry an operator changed; the calendar in code stays the default.
  await db.schema
    .createTable('schedule_overrides')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('pattern', 'text')
    .addColumn('every', 'bigint', (col) => col.check(sql`every > 0`))
    .addColumn('tz', 'text')
    .addColumn('paused', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('updated_by', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('schedule_overrides_pattern_or_every', sql`pattern is null or every is null`)
    .execute();

  // Append-only: who changed which schedule, when, and its override before and after.
  await db.schema
    .createTable('schedule_history')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('schedule_id', 'text', (col) => col.notNull())
    .addColumn('action', 'text', (col) => col.notNull().check(sql`action in ('update', 'pause', 'resume', 'reset')`))
    .addColumn('changed_by', 'text', (col) => col.notNull())
    .addColumn('changed_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('before', 'jsonb')
    // Null after a reset, which removes the override.
    .addColumn('after', 'jsonb')
    .execute();
  await db.schema.createIndex('schedule_history_schedule_idx').on('schedule_history').columns(['schedule_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('schedule_history').execute();
  await db.schema.dropTable('schedule_overrides').execute();
}
