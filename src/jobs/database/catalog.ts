import { Type } from '@sinclair/typebox';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../../db/schema.js';

/*
 * Catalog look-ups shared by the database jobs.
 *
 * - TableName: a table as a payload names it, `users` or `app.users`, as
 *   written in SQL without quotes (so folded to lower case).
 * - ResolvedTable: a name found in pg_class, with its schema.
 * Every statement these jobs build quotes each identifier with
 * pg.escapeIdentifier, whatever the catalog returned.
 */

/** Unquoted SQL identifiers, optionally schema-qualified. */
export const TableName = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_$]{0,62}(\\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$',
  description: 'Table name as written in SQL without quotes, optionally schema-qualified: users or public.users',
});

/** Index names follow the same rule as table names. */
export const IndexName = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_$]{0,62}(\\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$',
  description: 'Index name as written in SQL without quotes, optionally schema-qualified',
});

/** The tables the runbook's "Table Maintenance" section vacuums and analyzes. */
export const RUNBOOK_VACUUM_TABLES = ['users', 'crews', 'training_progress'] as const;

/** The tables whose indexes the runbook's "Index Optimization" section rebuilds. */
export const RUNBOOK_REINDEX_TABLES = ['users', 'training_progress', 'quiz_attempts'] as const;

/** Schemas that are never user data. */
export const SYSTEM_SCHEMAS = sql`('pg_catalog', 'information_schema', 'pg_toast')`;

export interface ResolvedRelation {
  /** The name as the payload gave it. */
  requested: string;
  oid: number;
  schema: string;
  name: string;
}

/** `"schema"."name"`, each part quoted. */
export function qualifiedName(schema: string, name: string): string {
  return `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;
}

/** Splits `schema.name` or `name` and quotes each part, as to_regclass expects. */
function quotedParts(name: string): string {
  return name.toLowerCase().split('.').map((part) => pg.escapeIdentifier(part)).join('.');
}

/**
 * Finds each name in the catalog (search_path applies to unqualified names)
 * with one of `relkinds`. Returns the relations found and the names that are
 * missing or of another kind.
 */
export async function resolveRelations(
  db: Kysely<Database>,
  names: readonly string[],
  relkinds: readonly string[],
): Promise<{ found: ResolvedRelation[]; missing: string[] }> {
  const found: ResolvedRelation[] = [];
  const missing: string[] = [];
  for (const requested of [...new Set(names)]) {
    const { rows } = await sql<{ oid: number; schema: string; name: string; relkind: string }>`
      select c.oid::int8 as oid, n.nspname as schema, c.relname as name, c.relkind::text as relkind
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where c.oid = to_regclass(${quotedParts(requested)})
    `.execute(db);
    const row = rows[0];
    if (row && relkinds.includes(row.relkind) && !['pg_catalog', 'information_schema', 'pg_toast'].includes(row.schema)) {
      // `users` and `public.users` can name the same table, which is then acted on once.
      if (!found.some((relation) => relation.oid === Number(row.oid))) {
        found.push({ requested, oid: Number(row.oid), schema: row.schema, name: row.name });
      }
    } else {
      missing.push(requested);
    }
  }
  return { found, missing };
}

/** Tables VACUUM and REINDEX accept: ordinary, partitioned, materialized views. */
export const TABLE_KINDS = ['r', 'p', 'm'] as const;
export const INDEX_KINDS = ['i', 'I'] as const;

/** Message naming the unknown tables and the fix, as the API returns it. */
export function unknownTablesMessage(field: string, missing: readonly string[], kind = 'table'): string {
  return `${field}: no ${kind} named ${missing.map((name) => `"${name}"`).join(', ')} in this database; list tables with the table-sizes job, or give schema.name`;
}
