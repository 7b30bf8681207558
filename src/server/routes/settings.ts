import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

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
});

export const settingsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/settings',
    { schema: { summary: 'Show the flags the platform reads on each request', tags: ['settings'], response: { 200: Settings } } },
    async () => {
      const row = await app.db.selectFrom('platform_settings').selectAll().executeTakeFirstOrThrow();
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
      };
    },
  );
};
