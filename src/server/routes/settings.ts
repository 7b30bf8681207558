import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';

const LATEST_BLOCKS = 5;

const BlockedIp = Type.Object({
  network: Type.String(),
  reason: Type.String(),
  blockedBy: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()], { description: 'null for a block without end' }),
});

const Settings = Type.Object({
  maintenanceMode: Type.Object({
    enabled: Type.Boolean(),
    message: Type.Union([Type.String(), Type.Null()]),
    until: Type.Union([Type.String(), Type.Null()]),
  }),
  readOnly: Type.Boolean(),
  lockdown: Type.Boolean(),
  rateLimitPerMinute: Type.Union([Type.Integer(), Type.Null()], { description: 'Per-IP request limit the platform applies; null for none' }),
  tokensValidAfter: Type.Union([Type.String(), Type.Null()], { description: 'Every JWT issued before this instant is refused' }),
  updatedAt: Type.String(),
  updatedBy: Type.Union([Type.String(), Type.Null()]),
  blockedIps: Type.Object({
    active: Type.Integer({ description: 'Blocks without end or with an expiry in the future' }),
    latest: Type.Array(BlockedIp, { description: `The ${LATEST_BLOCKS} newest active blocks` }),
  }),
});

export const settingsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/settings',
    { schema: { summary: 'Show the flags the platform reads on each request', tags: ['settings'], response: { 200: Settings } } },
    async () => {
      const row = await app.db.selectFrom('platform_settings').selectAll().executeTakeFirstOrThrow();
      const active = sql<boolean>`expires_at is null or expires_at > now()`;
      const blockCount = await app.db
        .selectFrom('blocked_ips')
        .select(sql<number>`count(*)::int`.as('count'))
        .where(active)
        .executeTakeFirstOrThrow();
      const latestBlocks = await app.db.selectFrom('blocked_ips').selectAll().where(active).orderBy('id', 'desc').limit(LATEST_BLOCKS).execute();
      return {
        maintenanceMode: {
          enabled: row.maintenance_mode,
          message: row.maintenance_message,
          until: row.maintenance_until?.toISOString() ?? null,
        },
        readOnly: row.read_only,
        lockdown: row.lockdown,
        rateLimitPerMinute: row.rate_limit_per_minute,
        tokensValidAfter: row.tokens_valid_after?.toISOString() ?? null,
        updatedAt: row.updated_at.toISOString(),
        updatedBy: row.updated_by,
        blockedIps: {
          active: blockCount.count,
          latest: latestBlocks.map((block) => ({
            network: block.network,
            reason: block.reason,
            blockedBy: block.blocked_by,
            createdAt: block.created_at.toISOString(),
            expiresAt: block.expires_at?.toISOString() ?? null,
          })),
        },
      };
    },
  );
};
