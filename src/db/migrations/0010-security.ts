import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  // Every sign-in attempt the platform records, successful or not. `email` is
  // what was typed, so attempts against unknown accounts are kept too.
  await db.schema
    .createTable('login_attempts')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('user_id', 'bigint', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('email', 'text', (col) => col.notNull())
    .addColumn('ip_address', sql`inet`, (col) => col.notNull())
    .addColumn('success', 'boolean', (col) => col.notNull())
    .addColumn('failure_reason', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('attempted_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('login_attempts_attempted_at_idx').on('login_attempts').column('attempted_at').execute();
  await db.schema.createIndex('login_attempts_ip_address_idx').on('login_attempts').columns(['ip_address', 'attempted_at']).execute();
  await db.schema.createIndex('login_attempts_email_idx').on('login_attempts').columns(['email', 'attempted_at']).execute();

  // Security events the platform itself raises (suspicious sign-in, token reuse, ...).
  await db.schema
    .createTable('security_alerts')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('alert_type', 'text', (col) => col.notNull())
    .addColumn('severity', 'text', (col) => col.notNull().check(sql`severity in ('critical', 'high', 'medium', 'low')`))
    .addColumn('user_id', 'bigint', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('ip_address', sql`inet`)
    .addColumn('description', 'text', (col) => col.notNull())
    .addColumn('details', 'jsonb')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('resolved_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('security_alerts_created_at_idx').on('security_alerts').column('created_at').execute();

  // When the password was last set; null means never changed since the account was created.
  await db.schema.alterTable('users').addColumn('password_changed_at', 'timestamptz').execute();

  // Reports Shipshape writes, such as the weekly maintenance report. No foreign
  // key into the platform tables, so reseeding them never touches reports.
  await db.schema
    .createTable('reports')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('kind', 'text', (col) => col.notNull())
    .addColumn('title', 'text', (col) => col.notNull())
    .addColumn('period_start', 'timestamptz', (col) => col.notNull())
    .addColumn('period_end', 'timestamptz', (col) => col.notNull())
    .addColumn('body', 'text', (col) => col.notNull())
    .addColumn('summary', 'jsonb')
    .addColumn('email_id', 'bigint')
    // The BullMQ job that wrote it: a retried job finds its report instead of writing a second one.
    .addColumn('job_id', 'text', (col) => col.unique())
    .addColumn('created_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('reports_kind_id_idx').on('reports').columns(['kind', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('reports').execute();
  await db.schema.alterTable('users').dropColumn('password_changed_at').execute();
  await db.schema.dropTable('security_alerts').execute();
  await db.schema.dropTable('login_attempts').execute();
}
