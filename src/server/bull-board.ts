import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { queueNames } from '../queues/queues.js';

export const BULL_BOARD_PATH = '/admin/queues';

/** Mounts Bull Board at /admin/queues over the API's four queues. */
export async function mountBullBoard(app: FastifyInstance): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: queueNames.map((name) => new BullMQAdapter(app.queues[name])),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Shipshape' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
}
