import { sql, type Kysely } from 'kysely';

/* eslint-disable @typescript-eslint/no-explicit-any */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'bigint', (col) => col.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('severity', 'text', (col) => col.notNull().check(sql`severity in ('critical', 'high', 'medium', 'low')`))
    .addColumn('source', 'text', (col) => col.notNull())
    .addColumn('dedup_key', 'text', (col) => col.notNull())
    .addColumn('message', 'text', (col) => col.notNull())
    .addColumn('details', 'jsonb')
    .addColumn('status', 'text', (col) =>
      col.notNull().defaultTo('open').check(sql`status in ('open', 'acknowledged', 'resolved')`),
    )
    .addColumn('occurrences', 'integer', (col) => col.notNull().defaultTo(1))
    .addColumn('first_seen_at', 'timestamptz', (col) => col.notNull())
    .addColumn('last_seen_at', 'timestamptz', (col) => col.notNull())
    // When the alert first went out by email, alone or in a digest.
    .addColumn('notified_at', 'timestamptz')
    .addColumn('acknowledged_at', 'timestamptz')
    .addColumn('acknowledged_by', 'text')
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('resolved_by', 'text')
    .addColumn('resolution_notified_at', 'timestamptz')
    // Critical alerts: the last escalation level emailed (1 = first contact) and when.
    .addColumn('escalation_level', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('escalated_at', 'timestamptz')
    .execute();
  // One unresolved alert per key: a repeat of the key counts on that row.
  await db.schema
    .createIndex('alerts_open_dedup_key_idx')
    .on('alerts')
    .column('dedup_key')
    .unique()
    .where(sql.ref('status'), '<>', 'resolved')
    .execute();
  await db.schema.createIndex('alerts_status_severity_idx').on('alerts').columns(['status', 'severity', 'id']).execute();

  // One row per digest sent, so a window is never emailed twice.
  await db.schema
    .createTable('alert_digests')
    .addColumn('severity', 'text', (col) => col.notNull())
    .addColumn('window_end', 'timestamptz', (col) => col.notNull())
    .addColumn('alert_count', 'integer', (col) => col.notNull())
    .addColumn('email_id', 'bigint', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('alert_digests_pkey', ['severity', 'window_end'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('alert_digests').execute();
  await db.schema.dropTable('alerts').execute();
}
