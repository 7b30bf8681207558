import { sql, type Transaction } from 'kysely';
import type { BlockedIp, Database } from '../../db/schema.js';

export interface BlockRequest {
  /** IPv4 or IPv6 address, or CIDR range. */
  address: string;
  reason: string;
  blockedBy: string;
  /** Hours until the block ends; undefined blocks without end. */
  expiresInHours?: number;
}

export interface BlockOutcome {
  /** The row before this call, with whether it was still in force; null when the network had none. */
  existing: (BlockedIp & { active: boolean }) | null;
  after: BlockedIp;
}

/**
 * Blocks an address or range inside `trx`, with block-ip's rules. The address
 * is stored as its network: `198.51.100.7/24` becomes `198.51.100.0/24`, a
 * single address gets /32 or /128. A network that already has a row keeps
 * that row: the new reason and requester replace the old ones, and the expiry
 * only moves later, with no expiry counting as the latest. An expired row
 * counts as no block and is replaced.
 */
export async function upsertBlock(trx: Transaction<Database>, request: BlockRequest): Promise<BlockOutcome> {
  const expiresAt = request.expiresInHours === undefined ? null : sql<Date>`now() + make_interval(hours => ${request.expiresInHours})`;
  // The cast rejects what a payload format let through but Postgres does not accept.
  const network = sql<string>`network(${request.address}::inet)`;

  const existing = await trx
    .selectFrom('blocked_ips')
    .selectAll()
    .select(sql<boolean>`expires_at is null or expires_at > now()`.as('active'))
    .where('network', '=', network)
    .forUpdate()
    .executeTakeFirst();

  const after = await trx
    .insertInto('blocked_ips')
    .values({ network, reason: request.reason, blocked_by: request.blockedBy, expires_at: expiresAt })
    .onConflict((conflict) =>
      conflict.column('network').doUpdateSet({
        reason: request.reason,
        blocked_by: request.blockedBy,
        // An expired block is replaced; an active one is only extended.
        expires_at: sql`case
          when blocked_ips.expires_at is not null and blocked_ips.expires_at <= now() then excluded.expires_at
          when blocked_ips.expires_at is null or excluded.expires_at is null then null
          else greatest(blocked_ips.expires_at, excluded.expires_at)
        end`,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  return { existing: existing ?? null, after };
}
