import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  // IP addresses and ranges the platform refuses; written by the block-ip job.
  // One row per network: blocking it again updates that row.
  await db.schema
    .createTable('blocked_ips')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('network', sql`cidr`, (col) => col.notNull().unique())
    .addColumn('reason', 'text', (col) => col.notNull())
    .addColumn('blocked_by', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    // Null blocks without end.
    .addColumn('expires_at', 'timestamptz')
    .execute();
  // The platform asks whether any network contains a client address (`network >>= $1`),
  // which a GiST index with inet_ops answers without a scan.
  await sql`create index blocked_ips_network_gist on blocked_ips using gist (network inet_ops)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('blocked_ips').execute();
}
