import { sql, type Kysely } from 'kysely';

/*
 * Files the platform keeps under STORAGE_DIR. Every path is relative to
 * STORAGE_DIR and uses forward slashes: uploads live under `uploads/`,
 * certificates under `certificates/`, and storage-cleanup moves old
 * certificates to `archive/certificates/`.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('uploads')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    // A deleted user's files stay until someone removes them; the row keeps the file referenced.
    .addColumn('user_id', 'bigint', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('path', 'text', (col) => col.notNull().unique())
    .addColumn('original_name', 'text', (col) => col.notNull())
    .addColumn('content_type', 'text', (col) => col.notNull())
    .addColumn('size_bytes', 'bigint', (col) => col.notNull().check(sql`size_bytes >= 0`))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('uploads_user_id_idx').on('uploads').column('user_id').execute();

  await db.schema
    .createTable('certificates')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('user_id', 'bigint', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('module_id', 'text', (col) => col.notNull())
    .addColumn('certificate_number', 'text', (col) => col.notNull().unique())
    .addColumn('file_path', 'text', (col) => col.notNull().unique())
    .addColumn('issued_at', 'timestamptz', (col) => col.notNull())
    // Set when storage-cleanup moves the file to the archive area.
    .addColumn('archived_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('certificates_user_id_idx').on('certificates').column('user_id').execute();
  await db.schema
    .createIndex('certificates_issued_at_unarchived_idx')
    .on('certificates')
    .column('issued_at')
    .where(sql.ref('archived_at'), 'is', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('certificates').execute();
  await db.schema.dropTable('uploads').execute();
}
