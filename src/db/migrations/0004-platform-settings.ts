import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  // One row of typed columns: the platform reads it on every request, and
  // Shipshape's emergency jobs write it.
  await db.schema
    .createTable('platform_settings')
    .addColumn('id', 'boolean', (col) => col.primaryKey().defaultTo(true).check(sql`id`))
    .addColumn('maintenance_mode', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('maintenance_message', 'text')
    .addColumn('maintenance_until', 'timestamptz')
    .addColumn('read_only', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('lockdown', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('rate_limit_per_minute', 'integer', (col) => col.check(sql`rate_limit_per_minute > 0`))
    // Every JWT whose `iat` is before this instant is refused.
    .addColumn('tokens_valid_after', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_by', 'text')
    .execute();
  await db.insertInto('platform_settings').values({ id: true }).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('platform_settings').execute();
}
