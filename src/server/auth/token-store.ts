import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { generateToken, hashToken } from './token-secret.js';
import type { Role } from './roles.js';

/** The name under which requests made with SHIPSHAPE_ADMIN_TOKEN are recorded; no stored token may take it. */
export const BOOTSTRAP_TOKEN_NAME = 'bootstrap-admin';

/** Token names: lower-case letters, digits, dots, dashes and underscores, starting with a letter or digit. */
export const TOKEN_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

export interface TokenRecord {
  id: number;
  name: string;
  role: Role;
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

const UNIQUE_VIOLATION = '23505';

/** Thrown when a token name is taken by another token, revoked or not. */
export class TokenNameTakenError extends Error {
  override name = 'TokenNameTakenError';
}

const columns = ['id', 'name', 'role', 'created_by', 'created_at', 'last_used_at', 'revoked_at'] as const;

function toRecord(row: {
  id: number;
  name: string;
  role: Role;
  created_by: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    createdBy: row.created_by,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * Generates a token, stores its hash and returns the token with its record.
 * The token itself is stored nowhere: the caller shows it once.
 */
export async function createToken(db: Db, input: { name: string; role: Role; createdBy: string }): Promise<{ token: string; record: TokenRecord }> {
  const token = generateToken();
  try {
    const row = await db
      .insertInto('api_tokens')
      .values({ name: input.name, role: input.role, token_hash: hashToken(token), created_by: input.createdBy })
      .returning(columns)
      .executeTakeFirstOrThrow();
    return { token, record: toRecord(row) };
  } catch (error) {
    if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
      throw new TokenNameTakenError(`a token named "${input.name}" exists already`, { cause: error });
    }
    throw error;
  }
}

/** Lists every token, revoked ones included, oldest first. */
export async function listTokens(db: Db): Promise<TokenRecord[]> {
  const rows = await db.selectFrom('api_tokens').select(columns).orderBy('id').execute();
  return rows.map(toRecord);
}

/**
 * Marks a token revoked and returns it with its hash, so the caller can drop
 * it from caches. Revoking a revoked token keeps the first revocation time.
 * Returns undefined when no token has this name.
 */
export async function revokeToken(db: Db, name: string): Promise<{ record: TokenRecord; tokenHash: string } | undefined> {
  const row = await db
    .updateTable('api_tokens')
    .set({ revoked_at: sql`coalesce(revoked_at, now())` })
    .where('name', '=', name)
    .returning([...columns, 'token_hash'])
    .executeTakeFirst();
  return row ? { record: toRecord(row), tokenHash: row.token_hash } : undefined;
}

/** Finds the live (not revoked) token with this hash. */
export async function findLiveToken(db: Db, tokenHash: string): Promise<{ id: number; name: string; role: Role } | undefined> {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'role'])
    .where('token_hash', '=', tokenHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

/** Writes the last use of several tokens in one statement. */
export async function recordLastUse(db: Db, uses: ReadonlyMap<number, Date>): Promise<void> {
  if (uses.size === 0) return;
  const ids = [...uses.keys()];
  const times = [...uses.values()].map((time) => time.toISOString());
  await sql`
    update api_tokens as t
    set last_used_at = greatest(t.last_used_at, u.used_at)
    from unnest(${ids}::bigint[], ${times}::timestamptz[]) as u(id, used_at)
    where t.id = u.id
  `.execute(db);
}
