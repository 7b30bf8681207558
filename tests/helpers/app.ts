import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { ConfigSchema, type Config } from '../../src/config.js';
import { buildApp, type AppOptions } from '../../src/server/app.js';

/**
 * The bootstrap admin token of every app buildTestApp builds, and of the API
 * processes the tests start (SHIPSHAPE_ADMIN_TOKEN).
 */
export const TEST_ADMIN_TOKEN = `test-admin-${randomBytes(24).toString('hex')}`;

/** Rate limit of test apps whose config keeps the default: tests poll fast and must not get 429. */
export const TEST_RATE_LIMIT_MAX = 1_000_000;

function hasAuthorization(headers: InjectOptions['headers']): boolean {
  return Object.keys(headers ?? {}).some((name) => name.toLowerCase() === 'authorization');
}

/** Adds `Authorization: Bearer TEST_ADMIN_TOKEN` to a request that sets no Authorization header itself. */
export function withAdminToken(options: InjectOptions): InjectOptions {
  if (hasAuthorization(options.headers)) return options;
  return { ...options, headers: { ...options.headers, authorization: `Bearer ${TEST_ADMIN_TOKEN}` } };
}

function testDefaults(config: Config): Config {
  const defaultOf = (name: 'RATE_LIMIT_MAX' | 'RATE_LIMIT_ANONYMOUS_MAX') => ConfigSchema.properties[name].default as number;
  return Object.freeze({
    ...config,
    SHIPSHAPE_ADMIN_TOKEN: config.SHIPSHAPE_ADMIN_TOKEN ?? TEST_ADMIN_TOKEN,
    RATE_LIMIT_MAX: config.RATE_LIMIT_MAX === defaultOf('RATE_LIMIT_MAX') ? TEST_RATE_LIMIT_MAX : config.RATE_LIMIT_MAX,
    RATE_LIMIT_ANONYMOUS_MAX:
      config.RATE_LIMIT_ANONYMOUS_MAX === defaultOf('RATE_LIMIT_ANONYMOUS_MAX') ? TEST_RATE_LIMIT_MAX : config.RATE_LIMIT_ANONYMOUS_MAX,
  });
}

const unwrappedInject = new WeakMap<FastifyInstance, FastifyInstance['inject']>();

/** Sends a request to an app of buildTestApp exactly as given: without an Authorization header unless it sets one. */
export async function injectWithoutToken(app: FastifyInstance, options: InjectOptions) {
  const inject = unwrappedInject.get(app);
  if (!inject) throw new Error('injectWithoutToken takes an app that buildTestApp built');
  return inject(options);
}

/**
 * Builds the API as the test files call it. Every test file builds its app
 * here, so that what a caller must send with each request is added in one
 * place: the app accepts TEST_ADMIN_TOKEN (unless the config sets its own
 * SHIPSHAPE_ADMIN_TOKEN), and `app.inject` sends it with every request that
 * sets no Authorization header. A request that sets one, even empty or
 * wrong, goes out as it is; that is how tests check 401 and 403. Rate limits
 * left at their defaults are raised to TEST_RATE_LIMIT_MAX.
 */
export async function buildTestApp(options: AppOptions): Promise<FastifyInstance> {
  const app = await buildApp({ ...options, config: testDefaults(options.config) });
  const inject = app.inject.bind(app) as (...args: unknown[]) => unknown;
  unwrappedInject.set(app, inject as FastifyInstance['inject']);
  const wrapped = (...args: unknown[]) => {
    const [first, ...rest] = args;
    if (typeof first === 'string') return inject(withAdminToken({ url: first }), ...rest);
    if (first && typeof first === 'object') return inject(withAdminToken(first as InjectOptions), ...rest);
    return inject(...args);
  };
  app.inject = wrapped as FastifyInstance['inject'];
  return app;
}
