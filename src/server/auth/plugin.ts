import helmet from '@fastify/helmet';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import { BULL_BOARD_PATH } from '../bull-board.js';
import { ApiError } from '../errors.js';
import { DEFAULT_CACHE_TTL_MS, listenForRevocations, revocationChannel, TokenAuthenticator, type Principal } from './authenticator.js';
import { OUTSIDE_BASE_PATH } from './base-path.js';
import { readCredentials, type Credentials } from './credentials.js';
import { registerRateLimit } from './rate-limit.js';
import { defaultRole, hasRole, type Role, type RouteAccess } from './roles.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Verifies API tokens; created when the app is ready. */
    authenticator: TokenAuthenticator;
    /** Drops a revoked token hash from the cache of every API process. */
    announceRevocation(tokenHash: string): Promise<void>;
  }
  interface FastifyRequest {
    /** The token the request was made with, or null when it carries no valid token. */
    principal: Principal | null;
    /** Reason the request carries no valid token, set by the authentication hook. */
    authProblem: string | null;
  }
}

const REALM = 'Shipshape';
const DOCS_PATH = '/docs';
const METRICS_PATH = '/metrics';
const LOOPBACK_ADDRESSES = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * Returns whether a URL is a page a person opens in a browser. These routes accept
 * HTTP Basic credentials (any user name, the token as password) and answer
 * 401 with a Basic challenge, so the browser shows its login prompt.
 */
function isBrowserRoute(url: string): boolean {
  return url === BULL_BOARD_PATH || url.startsWith(`${BULL_BOARD_PATH}/`) || url === DOCS_PATH || url.startsWith(`${DOCS_PATH}/`);
}

function routeUrl(request: FastifyRequest): string {
  return request.routeOptions.url ?? request.url.split('?')[0]!;
}

/** Returns the access a request needs: the route's declared role, else the default for its method. */
export function routeAccess(request: FastifyRequest): RouteAccess {
  const declared = request.routeOptions.config?.role;
  if (declared) return declared;
  if (request.routeOptions.url === METRICS_PATH) return 'metrics';
  return defaultRole(request.method);
}

function describeRoute(request: FastifyRequest): string {
  return `${request.method} ${routeUrl(request)}`;
}

function unauthorized(request: FastifyRequest, reply: FastifyReply, role: Role): ApiError {
  const browser = isBrowserRoute(routeUrl(request));
  const challenge = browser ? `Basic realm="${REALM}", charset="UTF-8"` : `Bearer realm="${REALM}"`;
  const problem = request.authProblem ?? 'no API token was sent';
  void reply.header('www-authenticate', request.headers.authorization === undefined ? challenge : `${challenge}, error="invalid_token"`);
  const send = browser ? 'log in with any user name and the token as password' : 'send "Authorization: Bearer <token>"';
  return new ApiError(
    'UNAUTHORIZED',
    `${describeRoute(request)} requires an API token with the ${role} role or higher, and ${problem}; ${send} (an admin creates tokens with shipshape tokens create)`,
  );
}

/**
 * Throws 403 when the request's token has a lower role than `required`.
 * Handlers call it for checks that depend on the request, such as a job's own
 * role; `what` names the action in the message.
 */
export function requireRole(request: FastifyRequest, required: Role, what: string): void {
  const principal = request.principal;
  if (!principal) throw new ApiError('UNAUTHORIZED', `${what} requires an API token with the ${required} role or higher`);
  if (!hasRole(principal.role, required)) {
    throw new ApiError('FORBIDDEN', `Token "${principal.name}" has the ${principal.role} role, but ${what} requires ${required} or higher`);
  }
}

/** Returns the token's name, which runs record as requestedBy and performed_by. */
export function callerName(request: FastifyRequest): string {
  return request.principal?.name ?? 'anonymous';
}

/** Logs a warning when no token can reach the API, so a first start without SHIPSHAPE_ADMIN_TOKEN explains its 401s. */
async function warnWithoutTokens(db: Db, logger: Logger): Promise<void> {
  try {
    const row = await db.selectFrom('api_tokens').select((eb) => eb.fn.countAll<number>().as('count')).where('revoked_at', 'is', null).executeTakeFirst();
    if (Number(row?.count ?? 0) === 0) {
      logger.warn('no API token exists and SHIPSHAPE_ADMIN_TOKEN is unset, so every route but /health returns 401; start once with SHIPSHAPE_ADMIN_TOKEN set and create tokens with it');
    }
  } catch (error) {
    logger.debug({ err: error }, 'could not count API tokens at start');
  }
}

function problemOf(credentials: Credentials): string | null {
  if (credentials.kind === 'none') return null;
  if (credentials.kind === 'malformed') return credentials.reason;
  return 'the token is unknown or revoked';
}

/**
 * Authentication, authorization, the rate limit and security headers for
 * every route. Register it before any route: its onRoute hooks (the rate
 * limit) reach only routes registered after it.
 *
 * Order per request: onRequest authenticates (app level: the token is looked
 * up, nothing is rejected yet), then the rate limit counts the request
 * (route level), then preParsing rejects missing tokens (401) and low roles
 * (403), before any body is read.
 */
export const authPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    let authenticator: TokenAuthenticator | undefined;
    let stopListening: (() => void) | undefined;
    const channel = revocationChannel(config.QUEUE_PREFIX);

    app.decorateRequest('principal', null);
    app.decorateRequest('authProblem', null);
    app.decorate('authenticator', {
      getter: () => {
        if (!authenticator) throw new Error('the authenticator exists once the app is ready');
        return authenticator;
      },
    });
    app.decorate('announceRevocation', async (tokenHash: string) => {
      authenticator?.invalidate(tokenHash);
      try {
        await app.redis.publish(channel, tokenHash);
      } catch (error) {
        // The revocation is stored; other API processes drop the token when their cache entry expires.
        app.log.warn({ err: error, channel }, `announcing a token revocation failed; other API processes accept the token for up to ${DEFAULT_CACHE_TTL_MS / 1000} s more`);
      }
    });

    app.addHook('onReady', async () => {
      const logger = app.log as Logger;
      authenticator = new TokenAuthenticator({ db: app.db, logger, bootstrapToken: config.SHIPSHAPE_ADMIN_TOKEN });
      stopListening = await listenForRevocations(app.redis, channel, authenticator, logger);
      if (!config.SHIPSHAPE_ADMIN_TOKEN) await warnWithoutTokens(app.db, logger);
    });
    // preClose runs before any onClose hook, so the last use of tokens is written while the
    // database pool, which the resources plugin closes in its onClose hook, is still open.
    app.addHook('preClose', async () => {
      stopListening?.();
      await authenticator?.close();
    });

    await app.register(helmet, {
      contentSecurityPolicy: {
        // Helmet's default CSP suits Bull Board (inline styles, scripts from 'self') and Swagger UI
        // (scripts from 'self' only), except upgrade-insecure-requests, which would send their
        // asset requests to https:// on an API served over plain HTTP.
        directives: { 'upgrade-insecure-requests': null },
      },
    });

    app.addHook('onRequest', async (request, reply) => {
      if (request.url === OUTSIDE_BASE_PATH) {
        const base = config.BASE_PATH;
        await reply.code(404).send({
          statusCode: 404,
          code: 'NOT_FOUND',
          error: 'Not Found',
          message: `${request.originalUrl.split('?')[0]} is outside BASE_PATH ${base}; every route is under ${base}, for example ${base}/api/jobs`,
        });
        return reply;
      }

      const credentials = readCredentials(request.headers.authorization, isBrowserRoute(routeUrl(request)));
      request.authProblem = problemOf(credentials);
      if (credentials.kind !== 'token') return;
      // NOTE: a well-formed token the cache does not know costs one indexed lookup in PostgreSQL
      // before the rate limit counts the request, so a flood of distinct guesses reaches the database.
      let principal: Principal | undefined;
      try {
        principal = await app.authenticator.verify(credentials.token);
      } catch (error) {
        // Liveness, readiness and metrics must respond while PostgreSQL is down, so they serve
        // their anonymous view instead of failing on a token that cannot be checked.
        const access = routeAccess(request);
        if (access !== 'public' && access !== 'metrics') throw error;
        request.authProblem = 'the token could not be checked because PostgreSQL did not respond';
        return;
      }
      if (principal) {
        request.principal = principal;
        request.authProblem = null;
      }
    });

    await registerRateLimit(app, config);

    app.addHook('preParsing', async (request, reply) => {
      const access = routeAccess(request);
      if (access === 'public') return;
      if (access === 'metrics' && config.METRICS_AUTH === 'loopback' && LOOPBACK_ADDRESSES.has(request.ip)) return;

      const required: Role = access === 'metrics' ? 'viewer' : access;
      if (!request.principal) throw unauthorized(request, reply, required);
      if (!hasRole(request.principal.role, required)) {
        throw new ApiError(
          'FORBIDDEN',
          `Token "${request.principal.name}" has the ${request.principal.role} role, but ${describeRoute(request)} requires ${required} or higher`,
        );
      }
      // A browser adds Basic credentials to every request to this origin, even to one that a
      // page on another site triggers. So changes must come from pages of this site.
      if (request.method !== 'GET' && request.method !== 'HEAD' && request.headers['sec-fetch-site'] === 'cross-site') {
        throw new ApiError('FORBIDDEN', `${describeRoute(request)} was sent by a page on another site; open the page from this API instead`);
      }
    });
  },
  { name: 'shipshape-auth' },
);
