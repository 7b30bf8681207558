import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { isQueueName, queueNames, type QueueName } from '../queues/queues.js';
import { requireRole } from './auth/plugin.js';
import { ApiError } from './errors.js';
import { hasRole, type Role, type RouteAccess } from './auth/roles.js';

export const BULL_BOARD_PATH = '/admin/queues';

// Bull Board's API routes that retry or promote jobs; operators may use them.
const OPERATOR_ROUTES = [
  '/api/queues/:queueName/retry/:queueStatus',
  '/api/queues/:queueName/:jobId/retry',
  '/api/queues/:queueName/promote',
  '/api/queues/:queueName/:jobId/promote',
];

// Of those, the routes that act on one job, and the ones that act on every job of a queue in one state.
const SINGLE_JOB_ROUTES = ['/api/queues/:queueName/:jobId/retry', '/api/queues/:queueName/:jobId/promote'];
const WHOLE_QUEUE_ROUTES = ['/api/queues/:queueName/retry/:queueStatus', '/api/queues/:queueName/promote'];

/**
 * Bull Board routes that would bypass Shipshape's own checks, each with the
 * route to use instead. Adding a job or editing its data skips payload
 * validation, the job's role and the maintenance log. Editing a job scheduler
 * skips the schedule overrides, their limits and their history.
 */
const REPLACED_ROUTES: Record<string, string> = {
  '/api/queues/:queueName/add': 'request runs with POST /api/jobs/:name, which validates the payload',
  '/api/queues/:queueName/:jobId/update-data': 'request a new run with POST /api/jobs/:name instead of editing a job',
  '/api/queues/:queueName/job-schedulers/:schedulerId': 'change schedules with PUT /api/schedules/:id',
  '/api/queues/:queueName/job-schedulers/:schedulerId/remove': 'pause schedules with POST /api/schedules/:id/pause',
  '/api/queues/:queueName/job-schedulers/:schedulerId/run': 'run a schedule now with POST /api/schedules/:id/run',
};

/** Returns the highest role any job of `queue` requires, so a bulk retry cannot rerun a job its caller could not request. */
function highestJobRole(app: FastifyInstance, queue: QueueName): Role {
  let highest: Role = 'operator';
  for (const definition of app.registry.list()) {
    if (definition.queue === queue && !hasRole(highest, definition.role)) highest = definition.role;
  }
  return highest;
}

/**
 * Checks that the caller may rerun the job or jobs a retry or promote request
 * touches: the job's own role for one job, the highest role of the queue's
 * jobs for a whole queue. A job Shipshape does not know needs admin.
 */
async function checkJobRoles(app: FastifyInstance, request: FastifyRequest, path: string): Promise<void> {
  const params = request.params as { queueName?: string; jobId?: string };
  const queue = params.queueName;
  if (!queue || !isQueueName(queue)) return;
  if (WHOLE_QUEUE_ROUTES.includes(path)) {
    requireRole(request, highestJobRole(app, queue), `retrying or promoting every job of the ${queue} queue`);
    return;
  }
  const job = params.jobId ? await app.queues[queue].getJob(params.jobId) : undefined;
  if (!job) return;
  const role = app.registry.get(job.name)?.role ?? 'admin';
  requireRole(request, hasRole(role, 'operator') ? role : 'operator', `rerunning job ${job.name}`);
}

/**
 * Returns the role a Bull Board route needs: reading is for viewers, retry and
 * promote for operators, and every other change (clean, empty, obliterate,
 * remove, pause, add, edit) for admins. A viewer's board therefore shows
 * buttons whose requests get 403. Retry and promote also check the roles of
 * the jobs they rerun, in a preHandler.
 */
export function bullBoardRouteRole(method: string | string[], url: string): RouteAccess {
  const methods = ([] as string[]).concat(method);
  if (methods.every((each) => each === 'GET' || each === 'HEAD')) return 'viewer';
  const path = url.slice(BULL_BOARD_PATH.length);
  return OPERATOR_ROUTES.includes(path) ? 'operator' : 'admin';
}

/**
 * Mounts Bull Board at /admin/queues over the API's four queues. Its pages
 * and API are registered under /admin/queues and served under
 * BASE_PATH/admin/queues; the page links its assets and API by BASE_PATH.
 */
export async function mountBullBoard(app: FastifyInstance): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(`${app.config.BASE_PATH}${BULL_BOARD_PATH}`);
  createBullBoard({
    queues: queueNames.map((name) => new BullMQAdapter(app.queues[name])),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Shipshape' } },
  });
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route: RouteOptions) => {
      route.config = { ...route.config, role: bullBoardRouteRole(route.method, route.url) };
      const path = route.url.slice(BULL_BOARD_PATH.length);
      const replacement = REPLACED_ROUTES[path];
      const changes = ([] as string[]).concat(route.method).some((method) => method !== 'GET' && method !== 'HEAD');
      if (replacement && changes) {
        route.preHandler = async () => {
          throw new ApiError('FORBIDDEN', `Bull Board cannot do this in Shipshape; ${replacement}`);
        };
        return;
      }
      if (SINGLE_JOB_ROUTES.includes(path) || WHOLE_QUEUE_ROUTES.includes(path)) {
        const existing = route.preHandler === undefined ? [] : ([] as unknown[]).concat(route.preHandler);
        route.preHandler = [...existing, async (request: FastifyRequest) => checkJobRoles(app, request, path)] as RouteOptions['preHandler'];
      }
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}
