import { sql } from 'kysely';
import type { Db } from './database.js';

/** Reads the database clock, so every worker computes cutoffs and windows against the same time. */
export async function databaseNow(source: { db: Db }): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`select now() as now`.execute(source.db);
  return rows[0]?.now ?? new Date();
}
