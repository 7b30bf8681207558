import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { BlockedIp } from '../../db/schema.js';
import { defineJob } from '../contract.js';
import { IP_NETWORK_FORMAT } from './payload-rules.js';

const MAX_HOURS = 24 * 365 * 10;

function describeBlock(row: BlockedIp) {
  return {
    id: row.id,
    network: row.network,
    reason: row.reason,
    blockedBy: row.blocked_by,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at?.toISOString() ?? null,
  };
}

/**
 * Blocks an IP address or range. The address is stored as its network:
 * `198.51.100.7/24` becomes `198.51.100.0/24`, a single address gets /32 or
 * /128. Blocking a network that already has a row updates that row: the new
 * reason and requester replace the old ones, and the expiry only moves later,
 * with no expiry counting as the latest. An expired row counts as no block.
 */
export const blockIp = defineJob({
  name: 'block-ip',
  queue: 'maintenance',
  description: 'Block an IP address or CIDR range, for a number of hours or without end',
  payload: Type.Object(
    {
      address: Type.String({ format: IP_NETWORK_FORMAT, description: 'IPv4 or IPv6 address, or CIDR range such as 203.0.113.0/24' }),
      reason: Type.String({ minLength: 1, maxLength: 500, description: 'Why the address is blocked, shown to operators' }),
      expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HOURS, description: 'Hours until the block ends; default without end' })),
    },
    { additionalProperties: false },
  ),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run(context, payload) {
    const expiresAt = payload.expiresInHours === undefined ? null : sql<Date>`now() + make_interval(hours => ${payload.expiresInHours})`;

    const result = await context.db.transaction().execute(async (trx) => {
      await sql`set transaction read write`.execute(trx);
      // The cast rejects what the payload format let through but Postgres does not accept.
      const network = sql<string>`network(${payload.address}::inet)`;
      const existing = await trx
        .selectFrom('blocked_ips')
        .selectAll()
        .select(sql<boolean>`expires_at is null or expires_at > now()`.as('active'))
        .where('network', '=', network)
        .forUpdate()
        .executeTakeFirst();

      const after = await trx
        .insertInto('blocked_ips')
        .values({ network, reason: payload.reason, blocked_by: context.job.requestedBy, expires_at: expiresAt })
        .onConflict((conflict) =>
          conflict.column('network').doUpdateSet({
            reason: payload.reason,
            blocked_by: context.job.requestedBy,
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
      return { existing, after };
    });

    const { after } = result;
    await context.log(`blocked ${after.network} until ${after.expires_at?.toISOString() ?? 'further notice'}`);
    return {
      address: payload.address,
      network: after.network,
      before: result.existing ? { ...describeBlock(result.existing), active: result.existing.active } : null,
      after: describeBlock(after),
    };
  },
});
