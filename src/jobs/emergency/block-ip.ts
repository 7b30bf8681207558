import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { BlockedIp } from '../../db/schema.js';
import { defineJob } from '../contract.js';
import { upsertBlock } from './block-rules.js';
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

/** Blocks an IP address or range, with the rules of upsertBlock (./block-rules.ts). */
export const blockIp = defineJob({
  name: 'block-ip',
  queue: 'maintenance',
  description: 'Block an IP address or CIDR range, for a number of hours or without end',
  payload: Type.Object(
    {
      address: Type.String({ format: IP_NETWORK_FORMAT, maxLength: 64, description: 'IPv4 or IPv6 address, or CIDR range such as 203.0.113.0/24' }),
      reason: Type.String({ minLength: 1, maxLength: 500, description: 'Why the address is blocked, shown to operators' }),
      expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HOURS, description: 'Hours until the block ends; default without end' })),
    },
    { additionalProperties: false },
  ),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run(context, payload) {
    const result = await context.db.transaction().execute(async (trx) => {
      await sql`set transaction read write`.execute(trx);
      return upsertBlock(trx, {
        address: payload.address,
        reason: payload.reason,
        blockedBy: context.job.requestedBy,
        ...(payload.expiresInHours === undefined ? {} : { expiresInHours: payload.expiresInHours }),
      });
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
