import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';

/** Media type of the IETF health check response format (draft-inadarei-api-health-check). */
const HEALTH_JSON = 'application/health+json';
const CHECK_TIMEOUT_MS = 2000;

const CheckResult = Type.Object({
  status: Type.Union([Type.Literal('pass'), Type.Literal('fail')]),
  observedValue: Type.Optional(Type.Number()),
  observedUnit: Type.Optional(Type.String()),
  time: Type.String(),
  output: Type.Optional(Type.String()),
});

const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('pass'), Type.Literal('warn'), Type.Literal('fail')]),
  description: Type.Optional(Type.String()),
  checks: Type.Optional(Type.Record(Type.String(), Type.Array(CheckResult))),
});

async function timed(name: string, probe: () => Promise<unknown>) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} check timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  const time = new Date().toISOString();
  try {
    await Promise.race([probe(), timeout]);
    const observedValue = Math.round((performance.now() - started) * 10) / 10;
    return { status: 'pass' as const, observedValue, observedUnit: 'ms', time };
  } catch (error) {
    return { status: 'fail' as const, time, output: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    { schema: { summary: 'Liveness: the API process answers', tags: ['health'], response: { 200: HealthResponse } } },
    async (_request, reply) => reply.type(HEALTH_JSON).send({ status: 'pass' }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        summary: 'Readiness: Postgres and Redis answer',
        tags: ['health'],
        response: { 200: HealthResponse, 503: HealthResponse },
      },
    },
    async (_request, reply) => {
      const [postgres, redis] = await Promise.all([
        timed('postgres', () => sql`select 1`.execute(app.db)),
        timed('redis', () => app.redis.ping()),
      ]);
      const status = postgres.status === 'pass' && redis.status === 'pass' ? 'pass' : 'fail';
      return reply
        .code(status === 'pass' ? 200 : 503)
        .type(HEALTH_JSON)
        .send({
          status,
          description: 'Shipshape API dependencies',
          checks: { 'postgres:responseTime': [postgres], 'redis:responseTime': [redis] },
        });
    },
  );
};
