import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { queueNames } from '../../queues/queues.js';
import { desiredConcurrency, queueTotals, readRoster } from '../../queues/worker-control.js';
import { requireRedis } from '../plugins/resources.js';

const LATEST_BLOCKS = 5;

const BlockedIp = Type.Object({
  network: Type.String(),
  reason: Type.String(),
  blockedBy: Type.String(),
  createdAt: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()], { description: 'null for a block without end' }),
});

const QueueConcurrency = Type.Object({
  perWorker: Type.Integer({ description: 'Jobs each worker process runs at once, as set by scale-up or the default' }),
  workers: Type.Integer({ description: 'Running worker processes that serve the queue' }),
  total: Type.Integer({ description: 'Jobs the running workers take at once, all together' }),
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
  workers: Type.Record(Type.String(), QueueConcurrency, { description: 'Concurrency per queue, set at run time by scale-up' }),
});

export const settingsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/settings',
    {
      schema: { summary: 'Show the flags the platform reads on each request, and worker concurrency', tags: ['settings'], response: { 200: Settings } },
      preHandler: requireRedis,
    },
    async () => {
      const row = await app.db.selectFrom('platform_settings').selectAll().executeTakeFirstOrThrow();
      const active = sql<boolean>`expires_at is null or expires_at > now()`;
      const blockCount = await app.db
        .selectFrom('blocked_ips')
        .select(sql<number>`count(*)::int`.as('count'))
        .where(active)
        .executeTakeFirstOrThrow();
      const prefix = app.config.QUEUE_PREFIX;
      const [requested, roster] = await Promise.all([desiredConcurrency(app.redis, prefix), readRoster(app.redis, prefix)]);
      const workers = Object.fromEntries(
        queueNames.map((queue) => {
          const { workers: serving, total } = queueTotals(roster, queue);
          return [queue, { perWorker: requested[queue], workers: serving, total }];
        }),
      );
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
        workers,
      };
    },
  );
};
