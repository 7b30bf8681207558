import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { queueNames } from '../queues/queues.js';
import type { RouteAccess } from './auth/roles.js';

export const BULL_BOARD_PATH = '/admin/queues';

// Bull Board's API routes that retry or promote jobs; operators may use them.
const OPERATOR_ROUTES = [
  '/api/queues/:queueName/retry/:queueStatus',
  '/api/queues/:queueName/:jobId/retry',
  '/api/queues/:queueName/promote',
  '/api/queues/:queueName/:jobId/promote',
];

/**
 * Returns the role a Bull Board route needs: reading is for viewers, retry and
 * promote for operators, and every other change (clean, empty, obliterate,
 * remove, pause, add, edit) for admins. A viewer's board therefore shows
 * buttons whose requests get 403.
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
    });
    await scope.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
  });
}
