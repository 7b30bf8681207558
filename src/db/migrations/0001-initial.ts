import { sql, type Kysely } from 'kysely';

// Migrations take Kysely<any> on purpose: they must keep compiling after the
// schema types in ../schema.ts move on to later shapes.

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('crews')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('vessel', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('email', 'text', (col) => col.notNull().unique())
    .addColumn('full_name', 'text', (col) => col.notNull())
    .addColumn('role', 'text', (col) =>
      col.notNull().check(sql`role in ('admin', 'manager', 'crew')`),
    )
    .addColumn('crew_id', 'bigint', (col) => col.references('crews.id').onDelete('set null'))
    .addColumn('is_active', 'boolean', (col) => col.notNull().defaultTo(true))
    .addColumn('last_login_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('users_crew_id_idx').on('users').column('crew_id').execute();

  await db.schema
    .createTable('user_sessions')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('user_id', 'bigint', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('ip_address', sql`inet`)
    .addColumn('user_agent', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('last_seen_at', 'timestamptz')
    // NULL means the session lasts until it is revoked.
    .addColumn('expires_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('user_sessions_user_id_idx').on('user_sessions').column('user_id').execute();
  await db.schema.createIndex('user_sessions_expires_at_idx').on('user_sessions').column('expires_at').execute();
  await db.schema
    .createIndex('user_sessions_revoked_at_idx')
    .on('user_sessions')
    .column('revoked_at')
    .where(sql.ref('revoked_at'), 'is not', null)
    .execute();

  await db.schema
    .createTable('token_blacklist')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('jti', 'text', (col) => col.notNull().unique())
    .addColumn('user_id', 'bigint', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('reason', 'text', (col) => col.notNull())
    .addColumn('blacklisted_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    // The `exp` claim of the refused token. NULL keeps the entry forever.
    .addColumn('expires_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('token_blacklist_expires_at_idx').on('token_blacklist').column('expires_at').execute();

  await db.schema
    .createTable('audit_logs')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('user_id', 'bigint')
    .addColumn('action', 'text', (col) => col.notNull())
    .addColumn('entity_type', 'text')
    .addColumn('entity_id', 'text')
    .addColumn('details', 'jsonb')
    .addColumn('ip_address', sql`inet`)
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('audit_logs_created_at_idx').on('audit_logs').column('created_at').execute();

  // Same columns as audit_logs, and the same id: the primary key makes a second
  // copy of one row impossible.
  await db.schema
    .createTable('audit_logs_archive')
    .addColumn('id', 'bigint', (col) => col.primaryKey())
    .addColumn('user_id', 'bigint')
    .addColumn('action', 'text', (col) => col.notNull())
    .addColumn('entity_type', 'text')
    .addColumn('entity_id', 'text')
    .addColumn('details', 'jsonb')
    .addColumn('ip_address', sql`inet`)
    .addColumn('created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('archived_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('training_progress')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('user_id', 'bigint', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('module_id', 'text', (col) => col.notNull())
    .addColumn('status', 'text', (col) =>
      col.notNull().check(sql`status in ('not_started', 'in_progress', 'completed')`),
    )
    .addColumn('progress_percent', 'integer', (col) =>
      col.notNull().defaultTo(0).check(sql`progress_percent between 0 and 100`),
    )
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .addUniqueConstraint('training_progress_user_module_key', ['user_id', 'module_id'])
    .execute();

  await db.schema
    .createTable('quiz_attempts')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('user_id', 'bigint', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('quiz_id', 'text', (col) => col.notNull())
    .addColumn('score', 'integer', (col) => col.notNull().check(sql`score between 0 and 100`))
    .addColumn('passed', 'boolean', (col) => col.notNull())
    .addColumn('attempted_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('quiz_attempts_user_id_idx').on('quiz_attempts').column('user_id').execute();

  await db.schema
    .createTable('maintenance_logs')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('type', 'text', (col) => col.notNull().check(sql`type in ('routine', 'scheduled', 'emergency')`))
    .addColumn('action', 'text', (col) => col.notNull())
    .addColumn('performed_by', 'text', (col) => col.notNull())
    .addColumn('duration', sql`interval`, (col) => col.notNull())
    .addColumn('result', 'text', (col) => col.notNull().check(sql`result in ('success', 'failure')`))
    .addColumn('notes', 'text')
    .addColumn('job_name', 'text', (col) => col.notNull())
    .addColumn('job_id', 'text', (col) => col.notNull())
    .addColumn('queue', 'text', (col) => col.notNull())
    .addColumn('attempt', 'integer', (col) => col.notNull())
    .addColumn('summary', 'jsonb')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('maintenance_logs_job_name_created_at_idx')
    .on('maintenance_logs')
    .columns(['job_name', 'created_at desc'])
    .execute();
  await db.schema.createIndex('maintenance_logs_job_id_idx').on('maintenance_logs').column('job_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'maintenance_logs',
    'quiz_attempts',
    'training_progress',
    'audit_logs_archive',
    'audit_logs',
    'token_blacklist',
    'user_sessions',
    'users',
    'crews',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
