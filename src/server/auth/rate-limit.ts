import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import { ApiError } from '../errors.js';

// One fixed window per key: the first request of a window sets its expiry.
const INCREMENT_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

type RateLimitRedis = Redis & { shipshapeRateLimit(key: string, windowMs: number): Promise<[number, number]> };

type IncrCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * A @fastify/rate-limit store on the API's own Redis connection, which the
 * resources plugin opens after this plugin is registered, so the store reads
 * it at request time. While that connection is not ready the store lets
 * requests through: the limit must not take the API down with Redis, and
 * GET /health/ready must still respond.
 */
function createStore(getRedis: () => Redis, namespace: string) {
  return class RedisRateLimitStore {
    incr(key: string, callback: IncrCallback, timeWindow: number): void {
      const redis = getRedis() as RateLimitRedis;
      if (redis.status !== 'ready') {
        callback(null, { current: 0, ttl: timeWindow });
        return;
      }
      if (typeof redis.shipshapeRateLimit !== 'function') {
        redis.defineCommand('shipshapeRateLimit', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
      }
      redis.shipshapeRateLimit(`${namespace}${key}`, timeWindow).then(
        ([current, ttl]) => callback(null, { current, ttl }),
        (error: Error) => callback(error),
      );
    }

    child(): this {
      return this;
    }
  };
}

const PROBE_ROUTES = new Set(['/health', '/health/ready', '/metrics']);

/** Returns true for the liveness, readiness and metrics routes, which the rate limit leaves alone. */
export function isProbeRoute(request: FastifyRequest): boolean {
  return request.method === 'GET' && PROBE_ROUTES.has(request.routeOptions.url ?? '');
}

/** Returns the rate limit key: the token's name when the request carries a valid token, else the client address. */
export function rateLimitKey(request: FastifyRequest): string {
  return request.principal ? `token:${request.principal.name}` : `ip:${request.ip}`;
}

/**
 * Registers the rate limit on every route registered after it. It runs after
 * authentication (a route-level onRequest hook runs after the app-level
 * ones), so a token's requests count against the token wherever they come
 * from, and requests without a valid token count against their address.
 */
export async function registerRateLimit(app: FastifyInstance, config: Config): Promise<void> {
  const windowSeconds = Math.round(config.RATE_LIMIT_WINDOW_MS / 1000);
  await app.register(rateLimit, {
    global: true,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    max: (request) => (request.principal ? config.RATE_LIMIT_MAX : config.RATE_LIMIT_ANONYMOUS_MAX),
    keyGenerator: rateLimitKey,
    // Liveness, readiness and metrics stay reachable for probes and scrapers, even from an
    // address that has spent its limit on wrong tokens. They read no request body and run no job.
    allowList: (request) => isProbeRoute(request),
    store: createStore(() => app.redis, `${config.QUEUE_PREFIX}:rate-limit:`),
    // A Redis error lets the request through, for the reason given at createStore.
    skipOnError: true,
    errorResponseBuilder: (request, context) => {
      const holder = request.principal ? `token "${request.principal.name}"` : `address ${request.ip}`;
      return new ApiError(
        'RATE_LIMITED',
        `Rate limit exceeded: ${holder} may make ${context.max} requests per ${windowSeconds} s; retry in ${context.after}`,
      );
    },
  });
}
