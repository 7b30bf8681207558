import { sql, type Kysely } from 'kysely';

/*
 * The tables a restore replaces.
 *
 * Shipshape's own records share the database with the platform's data. A
 * restore replaces the rows of every table in the `public` schema except the
 * ones below, which it leaves as they are. So the log of the restore itself,
 * the backup catalog, open alerts, queued emails, health history, reports,
 * schedule overrides, API tokens, the migration history and the emergency
 * flags (read-only mode, blocked addresses) survive it. A new table is
 * platform data unless it is added here. None of these tables may have a
 * foreign key into a platform table, because the restore's TRUNCATE has no
 * CASCADE and would fail.
 */
export const SHIPSHAPE_TABLES: readonly string[] = [
  'maintenance_logs',
  'backups',
  'alerts',
  'alert_digests',
  'email_queue',
  'platform_settings',
  'blocked_ips',
  'health_check_state',
  'health_check_history',
  'reports',
  'schedule_overrides',
  'schedule_history',
  'api_tokens',
  'kysely_migration',
  'kysely_migration_lock',
];

// Reads the catalog only, so any Kysely instance or transaction will do.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Queryable = Kysely<any>;

/** Names of the platform's data tables in the public schema, sorted by name. */
export async function listPlatformTables(db: Queryable): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select c.relname as name
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
     order by c.relname
  `.execute(db);
  return rows.map((row) => row.name).filter((name) => !SHIPSHAPE_TABLES.includes(name));
}

/** Exact row counts of `tables`; inside a REPEATABLE READ transaction they match that snapshot. */
export async function countRows(db: Queryable, tables: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await sql<{ count: string | number }>`select count(*) as count from ${sql.table(`public.${table}`)}`.execute(db);
    counts[table] = Number(rows[0]?.count ?? 0);
  }
  return counts;
}

/** Name of the newest applied migration, or null before the first. */
export async function currentMigration(db: Queryable): Promise<string | null> {
  const { rows } = await sql<{ name: string | null }>`
    select max(name) as name from kysely_migration
  `.execute(db);
  return rows[0]?.name ?? null;
}

/**
 * Orders `tables` so that every table comes after the tables its foreign keys
 * reference, the order in which rows can be loaded with the constraints in
 * force. Self-references are ignored; a cycle is an error.
 */
export async function orderByForeignKeys(db: Queryable, tables: readonly string[]): Promise<string[]> {
  const { rows } = await sql<{ child: string; parent: string }>`
    select child.relname as child, parent.relname as parent
      from pg_constraint con
      join pg_class child on child.oid = con.conrelid
      join pg_class parent on parent.oid = con.confrelid
      join pg_namespace n on n.oid = child.relnamespace
     where con.contype = 'f' and n.nspname = 'public' and con.conrelid <> con.confrelid
  `.execute(db);

  const wanted = new Set(tables);
  const parents = new Map<string, Set<string>>(tables.map((table) => [table, new Set()]));
  for (const row of rows) {
    if (wanted.has(row.child) && wanted.has(row.parent)) parents.get(row.child)!.add(row.parent);
  }

  const ordered: string[] = [];
  const done = new Set<string>();
  while (ordered.length < tables.length) {
    const ready = [...wanted].filter((table) => !done.has(table) && [...parents.get(table)!].every((parent) => done.has(parent)));
    if (ready.length === 0) {
      const left = [...wanted].filter((table) => !done.has(table));
      throw new Error(`Foreign keys form a cycle between ${left.join(', ')}; these tables cannot be loaded one after another`);
    }
    for (const table of ready.sort()) {
      ordered.push(table);
      done.add(table);
    }
  }
  return ordered;
}

/** Sequences (serial and identity) owned by `tables`, by sequence name. */
export async function ownedSequences(db: Queryable, tables: readonly string[]): Promise<string[]> {
  const { rows } = await sql<{ sequence: string; owner: string }>`
    select s.relname as sequence, t.relname as owner
      from pg_class s
      join pg_namespace n on n.oid = s.relnamespace
      join pg_depend d on d.objid = s.oid and d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass
      join pg_class t on t.oid = d.refobjid
     where s.relkind = 'S' and n.nspname = 'public' and d.deptype in ('a', 'i')
  `.execute(db);
  const wanted = new Set(tables);
  return rows.filter((row) => wanted.has(row.owner)).map((row) => row.sequence);
}
