import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  // One row per database dump. A row is `completed` only after its file was
  // fsynced and renamed into place, so a row in any other state names no
  // usable file.
  await db.schema
    .createTable('backups')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('kind', 'text', (col) => col.notNull().check(sql`kind in ('daily', 'monthly', 'manual', 'pre-restore')`))
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('running').check(sql`status in ('running', 'completed', 'failed')`))
    // File name inside BACKUP_DIR; the dump is written to `<file>.partial` first.
    .addColumn('file', 'text', (col) => col.notNull().unique())
    // Folder inside BACKUP_DIR with the storage archive, configuration and manifest of a full backup.
    .addColumn('bundle', 'text')
    .addColumn('size_bytes', 'bigint')
    .addColumn('sha256', 'text')
    .addColumn('database_name', 'text', (col) => col.notNull())
    .addColumn('server_version', 'text')
    .addColumn('pg_dump_version', 'text')
    // Newest applied Kysely migration at dump time: restore-db requires the same schema.
    .addColumn('schema_migration', 'text')
    // Rows per platform table, counted in the snapshot the dump used.
    .addColumn('row_counts', 'jsonb')
    .addColumn('requested_by', 'text', (col) => col.notNull())
    .addColumn('job_id', 'text')
    .addColumn('started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('finished_at', 'timestamptz')
    .addColumn('error', 'text')
    .addColumn('verification_status', 'text', (col) => col.check(sql`verification_status in ('passed', 'failed')`))
    .addColumn('verified_at', 'timestamptz')
    .addColumn('verification_error', 'text')
    .addColumn('restore_test_status', 'text', (col) => col.check(sql`restore_test_status in ('passed', 'failed')`))
    .addColumn('restore_tested_at', 'timestamptz')
    .addColumn('restore_test_ms', 'integer')
    .addColumn('restore_test_error', 'text')
    .execute();
  await db.schema.createIndex('backups_kind_started_at_idx').on('backups').columns(['kind', 'started_at desc']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('backups').execute();
}
