import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/server/app.js';

/**
 * Builds the API as the test files call it. Every test file builds its app
 * here, so that what a caller must send with each request (such as a token)
 * is added in one place.
 */
export async function buildTestApp(options: AppOptions): Promise<FastifyInstance> {
  return buildApp(options);
}
