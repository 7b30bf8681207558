import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import { readCurrentStates } from '../../jobs/health/current-state.js';
import { worstStatus } from '../../jobs/health/types.js';
import { StringEnum } from '../../schemas.js';

const Status = StringEnum(['pass', 'warn', 'fail']);

const Measurement = Type.Object({
  measurement: Type.String(),
  componentId: Type.Optional(Type.String()),
  observedValue: Type.Optional(Type.Number()),
  observedUnit: Type.Optional(Type.String()),
  status: Type.String(),
  time: Type.String(),
  output: Type.Optional(Type.String()),
});

const Component = Type.Object({
  component: Type.String(),
  status: Type.String({ description: 'Confirmed status: it changes after HEALTH_CONFIRM_RUNS equal results' }),
  since: Type.String(),
  output: Type.Union([Type.String(), Type.Null()]),
  checkedAt: Type.String(),
  observed: Type.String({ description: 'Status of the latest result' }),
  observedCount: Type.Integer({ description: 'Results in a row with the observed status' }),
  measurements: Type.Array(Measurement),
});

const Change = Type.Object({
  id: Type.Integer(),
  component: Type.String(),
  status: Type.String(),
  previousStatus: Type.Union([Type.String(), Type.Null()]),
  output: Type.Union([Type.String(), Type.Null()]),
  checkedAt: Type.String(),
});

export const healthCheckRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/health-checks',
    {
      schema: {
        summary: 'Current health per component and the latest status changes',
        tags: ['health'],
        querystring: Type.Object(
          {
            component: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Only changes of this component' })),
            status: Type.Optional(Status),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Status changes to return, newest first' }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            status: Type.String({ description: 'The worst confirmed status; pass when no run has happened yet' }),
            components: Type.Array(Component),
            changes: Type.Array(Change),
            changesUnavailable: Type.Optional(Type.String({ description: 'Why changes is empty: Postgres could not be read' })),
          }),
        },
      },
    },
    async (request) => {
      const { component, status, limit } = request.query;
      const states = await readCurrentStates(app.redis, app.db, app.config.QUEUE_PREFIX);

      let changes: Array<Static<typeof Change>> = [];
      let changesUnavailable: string | undefined;
      try {
        let query = app.db.selectFrom('health_check_history').selectAll().where('kind', '=', 'change').orderBy('id', 'desc').limit(limit);
        if (component) query = query.where('component', '=', component);
        if (status) query = query.where('status', '=', status);
        const rows = await query.execute();
        changes = rows.map((row) => ({
          id: row.id,
          component: row.component,
          status: row.status,
          previousStatus: row.previous_status,
          output: row.output,
          checkedAt: row.checked_at.toISOString(),
        }));
      } catch (error) {
        // The current state comes from Redis, so this route still responds while Postgres is down.
        request.log.warn({ err: error }, 'reading health history failed');
        changesUnavailable = `health history could not be read from Postgres: ${error instanceof Error ? error.message : String(error)}`;
      }

      return {
        status: worstStatus(states.map((state) => state.status)),
        components: states,
        changes,
        ...(changesUnavailable ? { changesUnavailable } : {}),
      };
    },
  );
};
