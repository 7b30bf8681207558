import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/server/app.js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthCheckUrls } from '../../src/jobs/health/checks.js';
import { TEST_ADMIN_TOKEN, buildTestApp, injectWithoutToken } from '../helpers/app.js';
import { TEST_REDIS_URL, createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';

const prefix = uniqueName('auth_settings');
let database: TestDatabase;
const apps: FastifyInstance[] = [];

async function build(settings: Record<string, string>): Promise<FastifyInstance> {
  const app = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, ...settings }), logger: false });
  apps.push(app);
  // The rate limit lets requests through uncounted until Redis is connected; the counts below need it connected.
  await app.redis.ping();
  return app;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  database = await createTestDatabase('auth_settings');
});

afterAll(async () => {
  for (const app of apps) await app.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('rate limit', () => {
  it('limits each token on its own', async () => {
    const app = await build({ RATE_LIMIT_MAX: '5', RATE_LIMIT_ANONYMOUS_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
    const created = await app.inject({ method: 'POST', url: '/api/tokens', payload: { name: 'busy-bot', role: 'viewer' } });
    const busy = created.json().token as string;
    // The POST above was the admin token's first request; these are its second to fourth.
    for (let i = 0; i < 3; i += 1) expect((await app.inject({ method: 'GET', url: '/api/jobs' })).statusCode).toBe(200);

    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(busy) })).statusCode);
    const limited = await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(busy) });

    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(limited.json().message).toContain('token "busy-bot" may make 5 requests per 60 s');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await app.inject({ method: 'GET', url: '/api/jobs' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/jobs' })).statusCode).toBe(429);
  });

  it('limits requests without a token by address', async () => {
    const app = await build({ RATE_LIMIT_MAX: '100', RATE_LIMIT_ANONYMOUS_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
    const anonymous = (remoteAddress: string) => injectWithoutToken(app, { method: 'GET', url: '/api/jobs', remoteAddress });

    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await anonymous('192.0.2.40')).statusCode);
    const invalid = await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer('ssk_wrong-token-guess'), remoteAddress: '192.0.2.40' });

    expect(statuses).toEqual([401, 401, 401, 429]);
    // A wrong token counts against the address too, so guessing tokens is limited.
    expect(invalid.statusCode).toBe(429);
    expect((await anonymous('192.0.2.41')).statusCode).toBe(401);
  });

  it('leaves liveness, readiness and metrics out of the limit', async () => {
    const app = await build({ RATE_LIMIT_MAX: '100', RATE_LIMIT_ANONYMOUS_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' });
    for (let i = 0; i < 3; i += 1) await injectWithoutToken(app, { method: 'GET', url: '/api/jobs', remoteAddress: '127.0.0.1' });
    expect((await injectWithoutToken(app, { method: 'GET', url: '/api/jobs', remoteAddress: '127.0.0.1' })).statusCode).toBe(429);

    for (let i = 0; i < 5; i += 1) {
      expect((await injectWithoutToken(app, { method: 'GET', url: '/health', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
      expect((await injectWithoutToken(app, { method: 'GET', url: '/health/ready', remoteAddress: '127.0.0.1' })).statusCode).not.toBe(429);
      expect((await injectWithoutToken(app, { method: 'GET', url: '/metrics', remoteAddress: '127.0.0.1' })).statusCode).toBe(200);
    }
  });

  it('keeps its counters in Redis under the queue prefix', async () => {
    const redis = new Redis(TEST_REDIS_URL);
    try {
      const keys = await redis.keys(`${prefix}:rate-limit:*`);
      expect(keys).toContain(`${prefix}:rate-limit:token:busy-bot`);
      expect(keys).toContain(`${prefix}:rate-limit:ip:192.0.2.40`);
      expect(keys.join(' ')).not.toContain(TEST_ADMIN_TOKEN);
    } finally {
      redis.disconnect();
    }
  });
});

describe('BASE_PATH', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await build({ BASE_PATH: '/ops' });
  });

  it('serves the API under the prefix', async () => {
    const jobs = await app.inject({ method: 'GET', url: '/ops/api/jobs' });
    const withQuery = await app.inject({ method: 'GET', url: '/ops/api/maintenance-logs?limit=5' });
    const health = await injectWithoutToken(app, { method: 'GET', url: '/ops/health' });

    expect(jobs.statusCode).toBe(200);
    expect(withQuery.statusCode).toBe(200);
    expect(health.statusCode).toBe(200);
  });

  it('gives status URLs and messages with the prefix', async () => {
    const enqueued = await app.inject({ method: 'POST', url: '/ops/api/jobs/cache-stats' });
    const missing = await app.inject({ method: 'GET', url: '/ops/api/no-such-route' });

    expect(enqueued.statusCode).toBe(202);
    expect(enqueued.json().statusUrl).toBe(`/ops/api/jobs/cache-stats/${enqueued.json().id}`);
    expect((await app.inject({ method: 'GET', url: enqueued.json().statusUrl })).statusCode).toBe(200);
    expect(missing.json().message).toBe('Route GET /ops/api/no-such-route does not exist; GET /ops/docs lists the routes');
  });

  it('checks its own /health under the prefix', () => {
    expect(healthCheckUrls(testConfig({ BASE_PATH: '/ops', PORT: '3105' }))).toEqual(['http://127.0.0.1:3105/ops/health']);
  });

  it('answers 404 outside the prefix', async () => {
    for (const url of ['/api/jobs', '/health', '/opsx/api/jobs', '/']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().message, url).toContain('is outside BASE_PATH /ops');
    }
  });

  it('links Bull Board assets under the prefix', async () => {
    const page = await app.inject({ method: 'GET', url: '/ops/admin/queues' });

    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<base href="/ops/admin/queues/"');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    expect((await app.inject({ method: 'GET', url: `/ops/admin/queues/${script}` })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/ops/admin/queues/api/queues' })).statusCode).toBe(200);
  });

  it('serves the OpenAPI document with the prefix as server', async () => {
    const response = await app.inject({ method: 'GET', url: '/ops/docs/json' });

    expect(response.statusCode).toBe(200);
    expect(response.json().servers).toEqual([{ url: '/ops' }]);
  });
});

describe('security headers', () => {
  it('sends helmet headers and a CSP Bull Board works with', async () => {
    const app = await build({});
    const response = await app.inject({ method: 'GET', url: '/admin/queues' });
    const csp = String(response.headers['content-security-policy']);

    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self' https: 'unsafe-inline'");
    expect(csp).not.toContain('upgrade-insecure-requests');
  });
});

describe('first start without tokens', () => {
  it('warns that every route will answer 401', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const fresh = await createTestDatabase('auth_first_start');
    const app = await buildApp({ config: testConfig({ DATABASE_URL: fresh.url, QUEUE_PREFIX: `${prefix}_first` }), logger });
    try {
      await app.ready();
      expect(lines.join('')).toContain('no API token exists and SHIPSHAPE_ADMIN_TOKEN is unset');
    } finally {
      await app.close();
      await fresh.drop();
    }
  });
});
