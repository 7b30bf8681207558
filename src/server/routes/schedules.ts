import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { calendar } from '../../queues/calendar.js';
import { queueNames } from '../../queues/queues.js';
import { requireRedis } from '../plugins/resources.js';

const Schedule = Type.Object({
  id: Type.String({ description: 'Scheduler id, equal to the job name' }),
  queue: Type.String(),
  pattern: Type.Union([Type.String(), Type.Null()]),
  every: Type.Union([Type.Integer(), Type.Null()]),
  tz: Type.Union([Type.String(), Type.Null()]),
  nextRun: Type.Union([Type.String(), Type.Null()]),
  calendar: Type.Union([Type.String({ description: 'The calendar entry in words' }), Type.Null()]),
});

export const scheduleRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/schedules',
    {
      preHandler: requireRedis,
      schema: { summary: 'List the job schedulers and their next runs', tags: ['schedules'], response: { 200: Type.Array(Schedule) } },
    },
    async () => {
      const perQueue = await Promise.all(
        queueNames.map(async (queueName) => {
          const schedulers = await app.queues[queueName].getJobSchedulers(0, -1, true);
          return schedulers.map((scheduler) => {
            const id = scheduler.id ?? scheduler.key;
            return {
              id,
              queue: queueName,
              pattern: scheduler.pattern ?? null,
              every: scheduler.every ?? null,
              tz: scheduler.tz ?? null,
              nextRun: scheduler.next ? new Date(scheduler.next).toISOString() : null,
              calendar: calendar.find((entry) => entry.job === id)?.description ?? null,
            };
          });
        }),
      );
      return perQueue.flat();
    },
  );
};
