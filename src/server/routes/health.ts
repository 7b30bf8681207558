import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import { loadStates } from '../../jobs/health/store.js';
import { worstStatus, type ComponentState, type HealthStatus } from '../../jobs/health/types.js';

/** Media type of the IETF health check response format (draft-inadarei-api-health-check). */
const HEALTH_JSON = 'application/health+json';
const CHECK_TIMEOUT_MS = 2000;
// Three missed 30-second runs: the health-check job is not running.
const STALE_AFTER_SECONDS = 90;

const CheckResult = Type.Object({
  componentId: Type.Optional(Type.String()),
  status: Type.Union([Type.Literal('pass'), Type.Literal('warn'), Type.Literal('fail')]),
  observedValue: Type.Optional(Type.Number()),
  observedUnit: Type.Optional(Type.String()),
  time: Type.String(),
  output: Type.Optional(Type.String()),
});
type CheckResult = typeof CheckResult.static;

const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('pass'), Type.Literal('warn'), Type.Literal('fail')]),
  description: Type.Optional(Type.String()),
  checks: Type.Optional(Type.Record(Type.String(), Type.Array(CheckResult))),
});

async function timed(name: string, probe: () => Promise<unknown>): Promise<CheckResult> {
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

/**
 * Turns the health-check job's latest results into health+json checks keyed
 * `component:measurement`. Each entry's status is the component's confirmed
 * status where the measurement passed, so one bad result does not flip the
 * report before the job confirms it.
 */
function jobChecks(states: ComponentState[], now: number): Record<string, CheckResult[]> {
  const checks: Record<string, CheckResult[]> = {};
  for (const state of states) {
    for (const item of state.measurements) {
      const key = `${state.component}:${item.measurement}`;
      // A bad measurement of a component still confirmed as passing is reported as pass until the job confirms it.
      let status: HealthStatus = item.status;
      if (state.status === 'pass') status = 'pass';
      (checks[key] ??= []).push({
        ...(item.componentId ? { componentId: item.componentId } : {}),
        status,
        ...(item.observedValue !== undefined ? { observedValue: item.observedValue } : {}),
        ...(item.observedUnit ? { observedUnit: item.observedUnit } : {}),
        time: item.time,
        ...(item.output ? { output: item.output } : {}),
      });
    }
  }

  // Before the first run there is nothing to report, and readiness rests on Postgres and Redis alone.
  if (states.length === 0) return checks;
  const latest = Math.max(...states.map((state) => Date.parse(state.checkedAt)));
  const age = Math.round((now - latest) / 1000);
  const stale = age > STALE_AFTER_SECONDS;
  checks['health-check:age'] = [
    {
      status: stale ? 'warn' : 'pass',
      observedValue: age,
      observedUnit: 's',
      time: new Date(latest).toISOString(),
      ...(stale ? { output: `the latest health-check result is ${age} s old; check that a worker serves the health queue` } : {}),
    },
  ];
  return checks;
}

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    { config: { role: 'public' }, schema: { summary: 'Liveness: the API process answers', tags: ['health'], response: { 200: HealthResponse } } },
    async (_request, reply) => reply.type(HEALTH_JSON).send({ status: 'pass' }),
  );

  app.get(
    '/health/ready',
    {
      // Open to anyone, such as a load balancer; without a token the response has the status only.
      config: { role: 'public' },
      schema: {
        summary: 'Readiness: Postgres and Redis answer, and the latest health-check results',
        tags: ['health'],
        response: { 200: HealthResponse, 503: HealthResponse },
      },
    },
    async (request, reply) => {
      const [postgres, redis] = await Promise.all([
        timed('postgres', () => sql`select 1`.execute(app.db)),
        timed('redis', () => app.redis.ping()),
      ]);
      let states: ComponentState[] = [];
      if (redis.status === 'pass') {
        states = [...(await loadStates(app.redis, app.config.QUEUE_PREFIX).catch(() => new Map<string, ComponentState>())).values()];
      }
      const results = jobChecks(states, Date.now());
      const checks: Record<string, CheckResult[]> = { 'postgres:responseTime': [postgres], 'redis:responseTime': [redis], ...results };

      // Only the API's own dependencies make it unready (fail, 503). A component the
      // job reports failing, such as SMTP, leaves the API able to serve, so it warns.
      const jobStatus = worstStatus([...states.map((state) => state.status), ...(results['health-check:age'] ?? []).map((check) => check.status)]);
      const status = worstStatus([postgres.status, redis.status, jobStatus === 'pass' ? 'pass' : 'warn']);
      return reply
        .code(status === 'fail' ? 503 : 200)
        .type(HEALTH_JSON)
        .send(
          // The checks name components and their errors, which only a token holder may read.
          request.principal ? { status, description: 'Shipshape API dependencies and the latest health-check results', checks } : { status },
        );
    },
  );
};
