import { Type } from '@sinclair/typebox';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from '../../db/schema.js';

/*
 * Catalog look-ups shared by the database jobs.
 *
 * - TableName: a table as a payload names it, `users` or `app.users`.
 * - ResolvedRelation: a name found in pg_class, with its schema.
 * A name is matched against pg_class as the catalog stores it, with the exact
 * spelling first: `CrewLog` finds the table created as "CrewLog". When no
 * relation has that spelling, a case-insensitive match is used if exactly one
 * relation has it (`crewlog` or `USERS`). Two or more case-insensitive matches
 * make the name ambiguous, and the payload is rejected naming them.
 * Every statement these jobs build quotes each identifier with
 * pg.escapeIdentifier, whatever the catalog returned.
 */

/** Identifiers of letters, digits, `_` and `$`, optionally schema-qualified. */
export const TableName = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_$]{0,62}(\\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$',
  description:
    'Table name, optionally schema-qualified: users, public.users or CrewLog. The exact spelling is tried first, then a case-insensitive match if only one table has it',
});

/** Index names follow the same rule as table names. */
export const IndexName = Type.String({
  pattern: '^[A-Za-z_][A-Za-z0-9_$]{0,62}(\\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$',
  description: 'Index name, optionally schema-qualified, matched like table names: exact spelling first, then a unique case-insensitive match',
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

/** A name that matches two or more relations when case is ignored, and none exactly. */
export interface AmbiguousRelation {
  requested: string;
  /** The matching relations as `"schema"."name"`. */
  matches: string[];
}

interface CatalogRow {
  oid: number;
  schema: string;
  name: string;
  relkind: string;
}

/** Splits `schema.name` or `name` and quotes each part as written, so to_regclass keeps its case. */
function exactParts(name: string): string {
  return name.split('.').map((part) => pg.escapeIdentifier(part)).join('.');
}

/** Looks a name up with its exact spelling; search_path applies to an unqualified name. */
async function findExact(db: Kysely<Database>, requested: string): Promise<CatalogRow | undefined> {
  const { rows } = await sql<CatalogRow>`
    select c.oid::int8 as oid, n.nspname as schema, c.relname as name, c.relkind::text as relkind
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.oid = to_regclass(${exactParts(requested)})
  `.execute(db);
  return rows[0];
}

/**
 * Looks a name up ignoring case, among the relations of `relkinds` outside the
 * system schemas. An unqualified name matches only relations visible through
 * search_path, as an unqualified name in SQL does.
 */
async function findIgnoringCase(db: Kysely<Database>, requested: string, relkinds: readonly string[]): Promise<CatalogRow[]> {
  const parts = requested.split('.');
  const name = parts.at(-1)!;
  const schema = parts.length === 2 ? parts[0]! : null;
  const { rows } = await sql<CatalogRow>`
    select c.oid::int8 as oid, n.nspname as schema, c.relname as name, c.relkind::text as relkind
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where lower(c.relname) = lower(${name})
       and c.relkind::text = any(${[...relkinds]}::text[])
       and n.nspname not in ${SYSTEM_SCHEMAS}
       and ${schema === null ? sql`pg_table_is_visible(c.oid)` : sql`lower(n.nspname) = lower(${schema})`}
     order by n.nspname, c.relname
  `.execute(db);
  return rows;
}

const isUserRelation = (row: CatalogRow, relkinds: readonly string[]) =>
  relkinds.includes(row.relkind) && !['pg_catalog', 'information_schema', 'pg_toast'].includes(row.schema);

/**
 * Finds each name in the catalog with one of `relkinds`: the exact spelling
 * first, then a unique case-insensitive match. Returns the relations found,
 * the names that match nothing (or a relation of another kind), and the names
 * that match several relations when case is ignored.
 */
export async function resolveRelations(
  db: Kysely<Database>,
  names: readonly string[],
  relkinds: readonly string[],
): Promise<{ found: ResolvedRelation[]; missing: string[]; ambiguous: AmbiguousRelation[] }> {
  const found: ResolvedRelation[] = [];
  const missing: string[] = [];
  const ambiguous: AmbiguousRelation[] = [];
  for (const requested of [...new Set(names)]) {
    let row = await findExact(db, requested);
    if (!row) {
      const candidates = await findIgnoringCase(db, requested, relkinds);
      if (candidates.length > 1) {
        ambiguous.push({ requested, matches: candidates.map((candidate) => qualifiedName(candidate.schema, candidate.name)) });
        continue;
      }
      row = candidates[0];
    }
    if (row && isUserRelation(row, relkinds)) {
      // `users` and `public.users` can name the same table, which is then acted on once.
      if (!found.some((relation) => relation.oid === Number(row.oid))) {
        found.push({ requested, oid: Number(row.oid), schema: row.schema, name: row.name });
      }
    } else {
      missing.push(requested);
    }
  }
  return { found, missing, ambiguous };
}

/** Tables VACUUM and REINDEX accept: ordinary, partitioned, materialized views. */
export const TABLE_KINDS = ['r', 'p', 'm'] as const;
export const INDEX_KINDS = ['i', 'I'] as const;

/** Messages for the names `resolveRelations` could not resolve, one per kind of problem; empty when all resolved. */
export function relationProblems(
  field: string,
  resolved: { missing: readonly string[]; ambiguous: readonly AmbiguousRelation[] },
  kind = 'table',
): string[] {
  const problems: string[] = [];
  if (resolved.missing.length > 0) problems.push(unknownTablesMessage(field, resolved.missing, kind));
  for (const { requested, matches } of resolved.ambiguous) {
    problems.push(`${field}: "${requested}" matches ${matches.join(' and ')} when case is ignored; give the exact spelling`);
  }
  return problems;
}

/** Message naming the unknown tables and the fix, as the API returns it. */
export function unknownTablesMessage(field: string, missing: readonly string[], kind = 'table'): string {
  return `${field}: no ${kind} named ${missing.map((name) => `"${name}"`).join(', ')} in this database; list tables with the table-sizes job, or give schema.name`;
}
