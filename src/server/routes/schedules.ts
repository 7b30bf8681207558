import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { calendar, type CalendarEntry } from '../../queues/calendar.js';
import { readSkipCounts, scheduleKeys, withSyncLock } from '../../queues/schedule-locks.js';
import {
  changeOverride,
  effectiveSchedule,
  removeOverride,
  findOverride,
  loadOverrides,
  type OverrideChange,
  type ScheduleOverride,
} from '../../queues/schedule-overrides.js';
import { applySchedule } from '../../queues/schedule-sync.js';
import { checkEvery, checkPattern, checkTimeZone, fireTimes } from '../../queues/schedule-timing.js';
import type { ScheduledRunData } from '../../queues/scheduled-run-data.js';
import type { ScheduleChangeAction } from '../../db/schema.js';
import { callerName, requireRole } from '../auth/plugin.js';
import type { Logger } from '../../logger.js';
import { ApiError } from '../errors.js';
import { requireRedis } from '../plugins/resources.js';
import { describeLocalTime, Preview, PreviewQuery, Schedule, ScheduleChange, ScheduleParams, HistoryEntry } from './schedule-schemas.js';

const MAX_HISTORY = 100;

type SchedulerState = Awaited<ReturnType<FastifyInstance['queues']['maintenance']['getJobScheduler']>>;

function findEntry(id: string): CalendarEntry {
  const entry = calendar.find((candidate) => candidate.job === id);
  if (entry) return entry;
  const ids = calendar.map((candidate) => candidate.job).join(', ');
  throw new ApiError('SCHEDULE_NOT_FOUND', `Schedule "${id}" does not exist; the schedules are ${ids} (GET /api/schedules lists them)`);
}

function describeOverride(override: ScheduleOverride | undefined) {
  if (!override) return null;
  return {
    pattern: override.pattern,
    every: override.every,
    tz: override.tz,
    paused: override.paused,
    updatedBy: override.updated_by,
    updatedAt: override.updated_at.toISOString(),
  };
}

/** Describes one schedule as the API shows it: the calendar default and the override side by side, and the effective result. */
function describeSchedule(
  app: FastifyInstance,
  entry: CalendarEntry,
  override: ScheduleOverride | undefined,
  scheduler: SchedulerState,
  skipped: number,
) {
  const effective = effectiveSchedule(entry, override);
  // The live scheduler is what BullMQ runs. It differs from the effective schedule only until the next sync.
  const timing = scheduler
    ? { pattern: scheduler.pattern ?? null, every: scheduler.every ?? null, tz: scheduler.tz ?? effective.tz }
    : { pattern: effective.pattern ?? null, every: effective.every ?? null, tz: effective.tz };
  return {
    id: entry.job,
    queue: app.registry.queueOf(entry.job),
    ...timing,
    paused: effective.paused,
    nextRun: !effective.paused && scheduler?.next ? new Date(scheduler.next).toISOString() : null,
    calendar: entry.description,
    default: { pattern: entry.pattern ?? null, every: entry.every ?? null, tz: effectiveSchedule(entry).tz },
    override: describeOverride(override),
    skippedOverlaps: skipped,
  };
}

async function readSchedule(app: FastifyInstance, entry: CalendarEntry) {
  const [override, scheduler, skips] = await Promise.all([
    findOverride(app.db, entry.job),
    app.queues[app.registry.queueOf(entry.job)].getJobScheduler(entry.job),
    readSkipCounts(app.redis, app.config.QUEUE_PREFIX),
  ]);
  return describeSchedule(app, entry, override, scheduler, skips.get(entry.job) ?? 0);
}

/** Checks the schedule a change would produce; throws INVALID_SCHEDULE naming the body field at fault. */
function checkChange(app: FastifyInstance, entry: CalendarEntry, current: ScheduleOverride | undefined, change: OverrideChange): void {
  if (change.pattern !== undefined && change.every !== undefined) {
    throw new ApiError('INVALID_SCHEDULE', 'body.pattern and body.every are exclusive; send a pattern or an interval, not both', {
      field: 'body.every',
    });
  }
  const invalid = (field: string, message: string) => new ApiError('INVALID_SCHEDULE', `body.${message}`, { field: `body.${field}` });

  if (change.tz !== undefined) {
    const problem = checkTimeZone(change.tz);
    if (problem) throw invalid('tz', problem);
  }
  const minimum = app.config.SCHEDULE_MIN_INTERVAL_MS;
  if (change.every !== undefined) {
    const problem = checkEvery(change.every, minimum);
    if (problem) throw invalid('every', problem);
    return;
  }

  const after = effectiveSchedule(entry, {
    ...(current ?? { id: entry.job, pattern: null, every: null, tz: null, paused: false, updated_by: '', updated_at: new Date() }),
    ...(change.pattern !== undefined ? { pattern: change.pattern, every: null } : {}),
    ...(change.tz !== undefined ? { tz: change.tz } : {}),
  });
  if (after.pattern === undefined) return;
  const problem = checkPattern(after.pattern, after.tz, minimum);
  if (problem) throw invalid(change.pattern !== undefined ? 'pattern' : 'tz', problem);
}

/**
 * Stores a change and makes the BullMQ job scheduler follow it, holding the
 * sync lock so that an API process starting meanwhile applies it in order.
 */
async function applyChange(
  app: FastifyInstance,
  entry: CalendarEntry,
  action: ScheduleChangeAction,
  change: OverrideChange,
  changedBy: string,
) {
  const queue = app.queues[app.registry.queueOf(entry.job)];
  await withSyncLock(app.redis, app.config.QUEUE_PREFIX, async () => {
    const result = await changeOverride(app.db, entry.job, action, change, changedBy);
    if (!result.changed) return;
    await applySchedule({ queue, entry, schedule: effectiveSchedule(entry, result.after), logger: app.log as Logger });
    app.log.info({ scheduler: entry.job, action, changedBy, before: result.before, after: result.after }, 'schedule changed');
  });
  return readSchedule(app, entry);
}

export const scheduleRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/schedules',
    {
      preHandler: requireRedis,
      config: { role: 'viewer' },
      schema: {
        summary: 'List the schedules: calendar default, override, effective timing and next run',
        tags: ['schedules'],
        response: { 200: Type.Array(Schedule) },
      },
    },
    async () => {
      const [overrides, skips] = await Promise.all([loadOverrides(app.db), readSkipCounts(app.redis, app.config.QUEUE_PREFIX)]);
      return Promise.all(
        calendar.map(async (entry) => {
          const scheduler = await app.queues[app.registry.queueOf(entry.job)].getJobScheduler(entry.job);
          return describeSchedule(app, entry, overrides.get(entry.job), scheduler, skips.get(entry.job) ?? 0);
        }),
      );
    },
  );

  app.get(
    '/api/schedules/:id',
    {
      preHandler: requireRedis,
      config: { role: 'viewer' },
      schema: { summary: 'Show one schedule', tags: ['schedules'], params: ScheduleParams, response: { 200: Schedule } },
    },
    async (request) => readSchedule(app, findEntry(request.params.id)),
  );

  app.put(
    '/api/schedules/:id',
    {
      preHandler: requireRedis,
      config: { role: 'admin' },
      schema: {
        summary: 'Change the pattern or interval and the time zone of a schedule',
        tags: ['schedules'],
        params: ScheduleParams,
        body: ScheduleChange,
        response: { 200: Schedule },
      },
    },
    async (request) => {
      const entry = findEntry(request.params.id);
      const change: OverrideChange = request.body;
      checkChange(app, entry, await findOverride(app.db, entry.job), change);
      return applyChange(app, entry, 'update', change, callerName(request));
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/api/schedules/:id/${action}`,
      {
        preHandler: requireRedis,
        config: { role: 'admin' },
        schema: {
          summary: action === 'pause' ? 'Pause a schedule: remove its job scheduler until resumed' : 'Resume a paused schedule',
          tags: ['schedules'],
          params: ScheduleParams,
          response: { 200: Schedule },
        },
      },
      async (request) => {
        const entry = findEntry(request.params.id);
        return applyChange(app, entry, action, { paused: action === 'pause' }, callerName(request));
      },
    );
  }

  app.post(
    '/api/schedules/:id/reset',
    {
      preHandler: requireRedis,
      config: { role: 'admin' },
      schema: {
        summary: "Remove a schedule's override, so the calendar's default applies again",
        tags: ['schedules'],
        params: ScheduleParams,
        response: { 200: Schedule },
      },
    },
    async (request) => {
      const entry = findEntry(request.params.id);
      const changedBy = callerName(request);
      const queue = app.queues[app.registry.queueOf(entry.job)];
      await withSyncLock(app.redis, app.config.QUEUE_PREFIX, async () => {
        const removed = await removeOverride(app.db, entry.job, changedBy);
        if (!removed) return;
        await applySchedule({ queue, entry, schedule: effectiveSchedule(entry), logger: app.log as Logger });
        app.log.info({ scheduler: entry.job, action: 'reset', changedBy, before: removed }, 'schedule reset to the calendar default');
      });
      return readSchedule(app, entry);
    },
  );

  app.post(
    '/api/schedules/:id/run',
    {
      preHandler: requireRedis,
      config: { role: 'operator' },
      schema: {
        summary: 'Run the scheduled job once now, with its calendar payload',
        tags: ['schedules'],
        params: ScheduleParams,
        response: {
          202: Type.Object({ id: Type.String(), name: Type.String(), queue: Type.String(), state: Type.String(), statusUrl: Type.String() }),
        },
      },
    },
    async (request, reply) => {
      const entry = findEntry(request.params.id);
      const definition = app.registry.get(entry.job);
      // The route lets operators in; a job that needs more (a destructive one) still needs its own role.
      if (definition) requireRole(request, definition.role, `running ${entry.job}`);
      const queueName = app.registry.queueOf(entry.job);
      const running = await app.redis.get(scheduleKeys(app.config.QUEUE_PREFIX).runLock(entry.job));
      if (running) {
        throw new ApiError(
          'SCHEDULE_RUNNING',
          `${entry.job} is running now (${running}); wait for that run to finish, then request another`,
          { runningJob: running },
        );
      }

      const data: ScheduledRunData = {
        payload: entry.payload ?? {},
        requestedBy: callerName(request),
        schedule: { id: entry.job, trigger: 'run-now' },
      };
      const job = await app.queues[queueName].add(entry.job, data);
      const id = String(job.id);
      request.log.info({ jobName: entry.job, jobId: id, queue: queueName, requestedBy: data.requestedBy }, 'scheduled job run requested');
      return reply.code(202).send({ id, name: entry.job, queue: queueName, state: 'waiting', statusUrl: `${app.config.BASE_PATH}/api/jobs/${entry.job}/${id}` });
    },
  );

  app.get(
    '/api/schedules/:id/preview',
    {
      preHandler: requireRedis,
      config: { role: 'viewer' },
      schema: {
        summary: 'The next fire times of the effective schedule',
        tags: ['schedules'],
        params: ScheduleParams,
        querystring: PreviewQuery,
        response: { 200: Preview },
      },
    },
    async (request) => {
      const entry = findEntry(request.params.id);
      const effective = effectiveSchedule(entry, await findOverride(app.db, entry.job));
      const { count = 10 } = request.query;
      let times: number[];
      let from: number;
      if (request.query.from !== undefined) {
        from = new Date(request.query.from).getTime();
        times = fireTimes(effective, from, count);
      } else {
        from = Date.now();
        const scheduler = await app.queues[app.registry.queueOf(entry.job)].getJobScheduler(entry.job);
        // An interval runs from its scheduler's pending run; a pattern from the clock, as BullMQ plans it.
        times = effective.every !== undefined && scheduler?.next ? fireTimes(effective, scheduler.next, count, true) : fireTimes(effective, from, count);
      }
      return {
        id: entry.job,
        pattern: effective.pattern ?? null,
        every: effective.every ?? null,
        tz: effective.tz,
        paused: effective.paused,
        from: new Date(from).toISOString(),
        fireTimes: times.map((time) => ({ at: new Date(time).toISOString(), local: describeLocalTime(time, effective.tz) })),
      };
    },
  );

  app.get(
    '/api/schedules/:id/history',
    {
      config: { role: 'viewer' },
      schema: {
        summary: 'Changes to a schedule, newest first',
        tags: ['schedules'],
        params: ScheduleParams,
        response: { 200: Type.Array(HistoryEntry) },
      },
    },
    async (request) => {
      const entry = findEntry(request.params.id);
      const rows = await app.db
        .selectFrom('schedule_history')
        .selectAll()
        .where('schedule_id', '=', entry.job)
        .orderBy('id', 'desc')
        .limit(MAX_HISTORY)
        .execute();
      return rows.map((row) => ({
        id: row.id,
        action: row.action,
        changedBy: row.changed_by,
        changedAt: row.changed_at.toISOString(),
        before: row.before ?? null,
        after: row.after,
      }));
    },
  );
};
