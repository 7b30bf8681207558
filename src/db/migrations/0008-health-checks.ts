import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  // One row per component: its confirmed status and the latest result. The
  // health-check job writes it every run; Redis holds the same state while
  // Postgres is unreachable, and the job writes it back here when it returns.
  await db.schema
    .createTable('health_check_state')
    .addColumn('component', 'text', (col) => col.primaryKey())
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('pass', 'warn', 'fail')`))
    .addColumn('since', 'timestamptz', (col) => col.notNull())
    .addColumn('output', 'text')
    // The measurements of the latest run, as health+json check objects.
    .addColumn('measurements', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('checked_at', 'timestamptz', (col) => col.notNull())
    .execute();

  // Every confirmed status change (kind 'change') and one sampled result per
  // component per HEALTH_SAMPLE_MINUTES (kind 'sample'). Pruned each run to
  // HEALTH_HISTORY_MAX_ROWS rows.
  await db.schema
    .createTable('health_check_history')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('component', 'text', (col) => col.notNull())
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('change', 'sample')`))
    .addColumn('status', 'text', (col) => col.notNull().check(sql`status in ('pass', 'warn', 'fail')`))
    .addColumn('previous_status', 'text')
    .addColumn('output', 'text')
    .addColumn('measurements', 'jsonb', (col) => col.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('checked_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('health_check_history_component_idx').on('health_check_history').columns(['component', 'id']).execute();
  await db.schema.createIndex('health_check_history_kind_idx').on('health_check_history').columns(['kind', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('health_check_history').execute();
  await db.schema.dropTable('health_check_state').execute();
}
