import type { IncomingMessage } from 'node:http';

/** Internal URL every request outside BASE_PATH is rewritten to, so the auth hook can reply 404 to it. */
export const OUTSIDE_BASE_PATH = '/__outside-base-path__';

/**
 * Returns Fastify's rewriteUrl function for BASE_PATH, or undefined when it is
 * empty. Routes are registered without the prefix; the function strips it
 * from each incoming URL, so `/ops/api/jobs` reaches `/api/jobs`. A URL
 * outside the prefix is rewritten to OUTSIDE_BASE_PATH and gets 404.
 */
export function basePathRewriter(basePath: string): ((request: IncomingMessage) => string) | undefined {
  if (basePath === '') return undefined;
  return (request) => {
    const url = request.url ?? '/';
    if (url === basePath) return '/';
    const next = url.charAt(basePath.length);
    if (url.startsWith(basePath) && (next === '/' || next === '?')) {
      const rest = url.slice(basePath.length);
      return rest.startsWith('?') ? `/${rest}` : rest;
    }
    return OUTSIDE_BASE_PATH;
  };
}
