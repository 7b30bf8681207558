import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Job } from 'bullmq';
import type { JobDefinition, JobEnvelope } from '../../jobs/contract.js';
import { checkPayload } from '../../jobs/payload.js';
import { calendar } from '../../queues/calendar.js';
import { callerName, requireRole } from '../auth/plugin.js';
import { ApiError } from '../errors.js';
import { requireRedis } from '../plugins/resources.js';

const MAX_DELAY_MS = 365 * 24 * 3_600_000;

const JobName = Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$', description: 'Job name, for example token-cleanup' });
const JobId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9:_-]+$' });

const CatalogEntry = Type.Object({
  name: Type.String(),
  queue: Type.String(),
  description: Type.String(),
  role: Type.String(),
  destructive: Type.Boolean(),
  kind: Type.String(),
  requestable: Type.Boolean({ description: 'False for jobs only Shipshape enqueues' }),
  payloadSchema: Type.Unknown(),
  schedule: Type.Union([
    Type.Object({ pattern: Type.Optional(Type.String()), every: Type.Optional(Type.Integer()), description: Type.String() }),
    Type.Null(),
  ]),
});

const EnqueueBody = Type.Object(
  {
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Job payload; see payloadSchema in GET /api/jobs' })),
    delay: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DELAY_MS, description: 'Milliseconds to wait before the run' })),
  },
  { additionalProperties: false },
);

const EnqueueResponse = Type.Object({
  id: Type.String(),
  name: Type.String(),
  queue: Type.String(),
  state: Type.String(),
  statusUrl: Type.String(),
});

const JobRun = Type.Object({
  id: Type.String(),
  name: Type.String(),
  queue: Type.String(),
  state: Type.String({ description: 'waiting, delayed, active, completed, failed, prioritized or unknown' }),
  progress: Type.Unknown(),
  payload: Type.Unknown(),
  requestedBy: Type.Union([Type.String(), Type.Null()]),
  result: Type.Unknown({ description: 'The job summary once completed' }),
  failedReason: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Object({ made: Type.Integer(), max: Type.Integer() }),
  createdAt: Type.String(),
  processedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  runAt: Type.String({ description: 'When the job becomes due' }),
  logs: Type.Array(Type.String()),
});

function describe(definition: JobDefinition) {
  const entry = calendar.find((candidate) => candidate.job === definition.name);
  return {
    name: definition.name,
    queue: definition.queue,
    description: definition.description,
    role: definition.role,
    destructive: definition.destructive,
    kind: definition.kind,
    requestable: !definition.internalOnly,
    payloadSchema: definition.payload,
    schedule: entry ? { pattern: entry.pattern, every: entry.every, description: entry.description } : null,
  };
}

const isoOrNull = (millis: number | undefined) => (millis ? new Date(millis).toISOString() : null);

/**
 * Turns a failed connection during a payload's database check into a 503: a
 * network error, or SQLSTATE class 08 (connection) or 57P (server shutting
 * down). Other server errors stay 500s.
 */
function unreachableDatabase(error: unknown): never {
  // A programming error is no outage.
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) throw error;
  const code = (error as { code?: unknown }).code;
  const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
  if (sqlState === null || sqlState.startsWith('08') || sqlState.startsWith('57P')) {
    throw new ApiError(
      'SERVICE_UNAVAILABLE',
      `PostgreSQL is unreachable, so the names in data could not be checked; nothing was enqueued. Retry once GET /health/ready passes (${(error as Error).message})`,
    );
  }
  throw error;
}

export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const findDefinition = (name: string) => {
    const definition = app.registry.get(name);
    if (!definition) {
      throw new ApiError('JOB_NOT_FOUND', `Job "${name}" does not exist; known jobs: ${app.registry.names().join(', ')}`);
    }
    return definition;
  };

  app.get(
    '/api/jobs',
    { schema: { summary: 'List the job catalog', tags: ['jobs'], response: { 200: Type.Array(CatalogEntry) } } },
    async () => app.registry.list().map(describe),
  );

  app.post(
    '/api/jobs/:name',
    {
      // Viewers reach the handler, which checks the job's own role.
      config: { role: 'viewer' },
      // A POST without a body (`curl -X POST .../token-cleanup`) means "run with defaults".
      preValidation: async (request) => {
        // Only an absent body means "defaults"; a JSON null is rejected by the schema.
        if (request.body === undefined) request.body = {};
      },
      preHandler: requireRedis,
      schema: {
        summary: 'Enqueue a run of a job',
        tags: ['jobs'],
        params: Type.Object({ name: JobName }),
        // Declared empty so that `?dryRun=true` is rejected instead of ignored.
        querystring: Type.Object({}, { additionalProperties: false }),
        body: EnqueueBody,
        response: { 202: EnqueueResponse },
      },
    },
    async (request, reply) => {
      const definition = findDefinition(request.params.name);
      if (definition.internalOnly) throw new ApiError('JOB_NOT_REQUESTABLE', definition.internalOnly);
      requireRole(request, definition.role, `running ${definition.name}`);
      const body = request.body;
      const check = checkPayload(definition, body.data ?? {}, { config: app.config });
      if (!check.valid) {
        throw new ApiError('INVALID_PAYLOAD', `Invalid payload for ${definition.name}: ${check.errors.join('; ')}`, {
          errors: check.errors,
        });
      }

      const databaseProblems = (await definition.checkDatabase?.(app.db, check.payload).catch(unreachableDatabase)) ?? [];
      if (databaseProblems.length > 0) {
        throw new ApiError('INVALID_PAYLOAD', `Invalid payload for ${definition.name}: ${databaseProblems.join('; ')}`, {
          errors: databaseProblems,
        });
      }

      const envelope: JobEnvelope = { payload: check.payload, requestedBy: callerName(request) };
      const job = await app.queues[definition.queue].add(definition.name, envelope, { delay: body.delay ?? 0 });
      const id = String(job.id);
      request.log.info({ jobName: definition.name, jobId: id, queue: definition.queue }, 'job enqueued');

      return reply.code(202).send({
        id,
        name: definition.name,
        queue: definition.queue,
        state: body.delay ? 'delayed' : 'waiting',
        statusUrl: `${app.config.BASE_PATH}/api/jobs/${definition.name}/${id}`,
      });
    },
  );

  app.get(
    '/api/jobs/:name/:id',
    {
      preHandler: requireRedis,
      schema: {
        summary: 'Show the state, result and log of one run',
        tags: ['jobs'],
        params: Type.Object({ name: JobName, id: JobId }),
        response: { 200: JobRun },
      },
    },
    async (request) => {
      const definition = findDefinition(request.params.name);
      const queue = app.queues[definition.queue];
      const notFound = () =>
        new ApiError('JOB_RUN_NOT_FOUND', `No run ${request.params.id} of ${definition.name} exists; it may have been removed by retention`);
      const first: Job<JobEnvelope> | undefined = await queue.getJob(request.params.id);
      if (!first) throw notFound();
      if (first.name !== definition.name) {
        // Run ids are counted per queue, so the id may belong to another job of the same queue.
        throw new ApiError(
          'JOB_RUN_NOT_FOUND',
          `Run ${request.params.id} on the ${definition.queue} queue is a run of ${first.name}, not ${definition.name}; see /api/jobs/${first.name}/${request.params.id}`,
        );
      }

      // The state is read before the job's data: a job that finishes in between
      // is then shown with its result, never as completed without one.
      const state = await first.getState();
      const job: Job<JobEnvelope> | undefined = state === 'completed' || state === 'failed' ? await queue.getJob(request.params.id) : first;
      if (!job) throw notFound();
      const { logs } = await queue.getJobLogs(String(job.id), 0, 999);
      return {
        id: String(job.id),
        name: job.name,
        queue: definition.queue,
        state,
        progress: job.progress,
        payload: job.data?.payload ?? null,
        requestedBy: job.data?.requestedBy ?? null,
        result: job.returnvalue ?? null,
        failedReason: job.failedReason ?? null,
        attempts: { made: job.attemptsMade, max: job.opts.attempts ?? 1 },
        createdAt: new Date(job.timestamp).toISOString(),
        processedAt: isoOrNull(job.processedOn),
        finishedAt: isoOrNull(job.finishedOn),
        // job.delay is reset to 0 once a delayed job is promoted; the options keep the request.
        runAt: new Date(job.timestamp + (job.opts.delay ?? 0)).toISOString(),
        logs,
      };
    },
  );
};
