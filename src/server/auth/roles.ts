import type { Role } from '../../jobs/contract.js';

export type { Role };

/** Roles from least to most powerful; each role may do everything the ones before it may. */
export const roles: readonly Role[] = ['viewer', 'operator', 'admin'];

/**
 * Access a route requires: a role, `public` for routes open to anyone (liveness
 * and readiness), or `metrics` for GET /metrics, which METRICS_AUTH governs.
 */
export type RouteAccess = Role | 'public' | 'metrics';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The lowest role that may call the route; default viewer for GET and HEAD, admin for other methods. */
    role?: RouteAccess;
  }
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

/** Returns true when a token of role `held` may do what `required` allows. */
export function hasRole(held: Role, required: Role): boolean {
  return roles.indexOf(held) >= roles.indexOf(required);
}

/** Returns the role a route needs when it declares none: viewer for reads, admin for changes. */
export function defaultRole(method: string): Role {
  return method === 'GET' || method === 'HEAD' ? 'viewer' : 'admin';
}
