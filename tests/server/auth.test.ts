import { createHash } from 'node:crypto';
import { Worker } from 'bullmq';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { pino } from 'pino';
import { createDatabase } from '../../src/db/database.js';
import { TokenAuthenticator } from '../../src/server/auth/authenticator.js';
import { BOOTSTRAP_TOKEN_NAME, createToken as storeToken } from '../../src/server/auth/token-store.js';
import { TEST_ADMIN_TOKEN, buildTestApp, injectWithoutToken } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const prefix = uniqueName('auth');
let database: TestDatabase;
let app: FastifyInstance;
const tokens: Record<'viewer' | 'operator' | 'admin', string> = { viewer: '', operator: '', admin: '' };

/** Adds a maintenance job and moves it to failed the way a worker would, without running it. */
async function failedJob(name: string) {
  // Earlier requests in this file left jobs waiting; the worker must take this one.
  await app.queues.maintenance.drain(true);
  await app.queues.maintenance.add(name, { payload: {}, requestedBy: 'test' }, { attempts: 1 });
  const worker = new Worker('maintenance', null, { connection: app.redis.duplicate({ maxRetriesPerRequest: null }), prefix, autorun: false });
  try {
    const job = await worker.getNextJob('test-token');
    if (!job) throw new Error(`no ${name} job to fail`);
    await job.moveToFailed(new Error('probe failure'), 'test-token', false);
    return job;
  } finally {
    await worker.close();
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const basic = (token: string, user = 'anyone') => ({ authorization: `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}` });

async function createToken(target: FastifyInstance, name: string, role: string): Promise<string> {
  const response = await target.inject({ method: 'POST', url: '/api/tokens', payload: { name, role } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().token;
}

beforeAll(async () => {
  database = await createTestDatabase('auth');
  app = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }), logger: false });
  tokens.viewer = await createToken(app, 'deck-viewer', 'viewer');
  tokens.operator = await createToken(app, 'deck-operator', 'operator');
  tokens.admin = await createToken(app, 'deck-admin', 'admin');
});

afterAll(async () => {
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('token storage', () => {
  it('stores only the SHA-256 hash', async () => {
    const rows = await database.db.selectFrom('api_tokens').selectAll().where('name', '=', 'deck-viewer').execute();

    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(createHash('sha256').update(tokens.viewer).digest('hex'));
    expect(JSON.stringify(rows)).not.toContain(tokens.viewer);
    expect(rows[0]).toMatchObject({ role: 'viewer', created_by: BOOTSTRAP_TOKEN_NAME, revoked_at: null });
  });

  it('generates distinct high-entropy tokens', () => {
    const all = Object.values(tokens);
    expect(new Set(all).size).toBe(3);
    for (const token of all) expect(token).toMatch(/^ssk_[A-Za-z0-9_-]{43}$/);
  });

  it('lists tokens without secrets', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/tokens' });

    expect(response.statusCode).toBe(200);
    expect(response.json().map((token: { name: string }) => token.name)).toEqual(['deck-viewer', 'deck-operator', 'deck-admin']);
    for (const token of Object.values(tokens)) expect(response.body).not.toContain(token);
    expect(response.body).not.toContain('token_hash');
    expect(response.body).not.toContain('"token"');
  });

  it('rejects a taken or reserved name with 409', async () => {
    const taken = await app.inject({ method: 'POST', url: '/api/tokens', payload: { name: 'deck-viewer', role: 'admin' } });
    const reserved = await app.inject({ method: 'POST', url: '/api/tokens', payload: { name: BOOTSTRAP_TOKEN_NAME, role: 'admin' } });

    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: 'TOKEN_NAME_TAKEN' });
    expect(taken.json().message).toContain('deck-viewer');
    expect(reserved.statusCode).toBe(409);
    for (const name of ['scheduler', 'api', 'anonymous']) {
      const response = await app.inject({ method: 'POST', url: '/api/tokens', payload: { name, role: 'viewer' } });
      expect(response.statusCode, name).toBe(409);
      expect(response.json().message).toContain('runs no token requested');
    }
  });
});

describe('authentication', () => {
  const cases: Array<[string, InjectOptions['headers'], string]> = [
    ['missing header', undefined, 'no API token was sent'],
    ['empty header', { authorization: '' }, 'must be "Bearer <token>"'],
    ['scheme only', { authorization: 'Bearer' }, 'must be "Bearer <token>"'],
    ['empty token', { authorization: 'Bearer ' }, 'token is empty'],
    ['unknown scheme', { authorization: `Token ${TEST_ADMIN_TOKEN}` }, 'scheme must be Bearer'],
    ['basic outside the browser pages', basic(TEST_ADMIN_TOKEN), 'scheme must be Bearer'],
    ['unknown token', bearer(`ssk_${'A'.repeat(43)}`), 'unknown or revoked'],
    ['token with spaces', { authorization: `Bearer ${TEST_ADMIN_TOKEN} extra` }, 'must be "Bearer <token>"'],
    ['overlong token', bearer('x'.repeat(5000)), 'longer than 256'],
    ['non-ASCII token', bearer('tökén-ünïcode-value-that-is-long-enough'), 'characters no token has'],
    ['truncated admin token', bearer(TEST_ADMIN_TOKEN.slice(0, -1)), 'unknown or revoked'],
  ];

  it.each(cases)('answers 401 for %s', async (_label, headers, reason) => {
    const response = headers
      ? await app.inject({ method: 'GET', url: '/api/jobs', headers })
      : await injectWithoutToken(app, { method: 'GET', url: '/api/jobs' });

    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="Shipshape"/);
    expect(response.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(response.json().message).toContain('requires an API token with the viewer role');
    expect(response.json().message).toContain(reason);
    for (const token of [...Object.values(tokens), TEST_ADMIN_TOKEN]) expect(response.body).not.toContain(token);
  });

  it('names the admin role for changes without a token', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/tokens', headers: { authorization: '' }, payload: { name: 'x', role: 'viewer' } });

    expect(response.statusCode).toBe(401);
    expect(response.json().message).toContain('POST /api/tokens requires an API token with the admin role');
  });

  it('rejects before reading an oversized body', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/jobs/token-cleanup',
      headers: { authorization: '', 'content-type': 'application/json' },
      payload: JSON.stringify({ data: { note: 'x'.repeat(200_000) } }),
    });

    expect(response.statusCode).toBe(401);
  });

  it('accepts every role for reading', async () => {
    for (const token of Object.values(tokens)) {
      const response = await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) });
      expect(response.statusCode).toBe(200);
    }
  });
});

describe('roles', () => {
  it('keeps viewers from running jobs', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/rebuild-cache', headers: bearer(tokens.viewer) });

    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'FORBIDDEN' });
    expect(response.json().message).toBe('Token "deck-viewer" has the viewer role, but running rebuild-cache requires operator or higher');
  });

  it('lets viewers run viewer jobs', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/cache-stats', headers: bearer(tokens.viewer) });

    expect(response.statusCode).toBe(202);
  });

  it('records the token name as requester', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/rebuild-cache', headers: bearer(tokens.operator) });

    expect(response.statusCode).toBe(202);
    const job = await app.queues.maintenance.getJob(response.json().id);
    expect(job?.data.requestedBy).toBe('deck-operator');
  });

  it('keeps operators from emergency and destructive jobs', async () => {
    for (const name of ['maintenance-mode', 'force-logout-all', 'token-cleanup']) {
      const response = await app.inject({ method: 'POST', url: `/api/jobs/${name}`, headers: bearer(tokens.operator), payload: { data: {} } });
      expect(response.statusCode, name).toBe(403);
      expect(response.json().message, name).toContain(`running ${name} requires admin or higher`);
    }
  });

  it('checks the job role of a schedule run', async () => {
    const before = await app.queues.maintenance.getJobCounts('waiting', 'delayed');
    const response = await app.inject({ method: 'POST', url: '/api/schedules/token-cleanup/run', headers: bearer(tokens.operator) });

    expect(response.statusCode).toBe(403);
    expect(response.json().message).toContain('running token-cleanup requires admin or higher');
    expect(await app.queues.maintenance.getJobCounts('waiting', 'delayed')).toEqual(before);
  });

  it('lets admins run destructive jobs', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/jobs/token-cleanup',
      headers: bearer(tokens.admin),
      payload: { data: { dryRun: true } },
    });

    expect(response.statusCode).toBe(202);
  });

  it('keeps token management to admins', async () => {
    for (const role of ['viewer', 'operator'] as const) {
      const list = await app.inject({ method: 'GET', url: '/api/tokens', headers: bearer(tokens[role]) });
      const create = await app.inject({ method: 'POST', url: '/api/tokens', headers: bearer(tokens[role]), payload: { name: 'sneaky', role: 'admin' } });
      expect(list.statusCode).toBe(403);
      expect(list.json().message).toContain('GET /api/tokens requires admin or higher');
      expect(create.statusCode).toBe(403);
    }
  });

  it('requires admin for changes routes do not declare', async () => {
    // Bull Board's clean action declares no role of its own and falls to the admin default.
    const url = '/admin/queues/api/queues/maintenance/clean/failed';
    const operator = await app.inject({ method: 'PUT', url, headers: basic(tokens.operator) });
    const admin = await app.inject({ method: 'PUT', url, headers: basic(tokens.admin) });

    expect(operator.statusCode).toBe(403);
    expect(operator.json().message).toContain('requires admin or higher');
    expect(admin.statusCode).toBe(200);
  });

  it('gives every destructive or emergency job the admin role', () => {
    const wrong = jobDefinitions
      .filter((definition) => (definition.destructive || definition.kind === 'emergency') && definition.role !== 'admin')
      .map((definition) => `${definition.name} (${definition.role})`);

    expect(wrong).toEqual([]);
  });
});

describe('Bull Board access', () => {
  it('asks browsers for Basic credentials', async () => {
    const response = await app.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: '' } });

    expect(response.statusCode).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Basic realm="Shipshape"/);
    expect(response.json().message).toContain('log in with any user name and the token as password');
  });

  it('opens with the token as Basic password', async () => {
    const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: basic(tokens.viewer, 'jane') });
    const queues = await app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: basic(tokens.viewer, '') });

    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(queues.statusCode).toBe(200);
  });

  it('keeps viewers read-only and lets operators retry', async () => {
    const failed = await failedJob('rebuild-cache');
    expect(await failed.getState()).toBe('failed');
    const url = `/admin/queues/api/queues/maintenance/${failed.id}/retry`;

    const viewer = await app.inject({ method: 'PUT', url, headers: basic(tokens.viewer) });
    const pause = await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/maintenance/pause', headers: basic(tokens.operator) });

    expect(viewer.statusCode).toBe(403);
    expect(viewer.json().message).toContain('requires operator or higher');
    expect(pause.statusCode).toBe(403);
    expect(await app.queues.maintenance.isPaused()).toBe(false);

    const operator = await app.inject({ method: 'PUT', url, headers: basic(tokens.operator) });
    expect(operator.statusCode).toBe(204);
    expect(await failed.getState()).not.toBe('failed');
  });

  it('checks the role of the job a retry reruns', async () => {
    const failed = await failedJob('token-cleanup');
    expect(await failed.getState()).toBe('failed');
    const url = `/admin/queues/api/queues/maintenance/${failed.id}/retry`;

    const operator = await app.inject({ method: 'PUT', url, headers: basic(tokens.operator) });
    expect(operator.statusCode).toBe(403);
    expect(operator.json().message).toContain('rerunning job token-cleanup requires admin');
    expect(await failed.getState()).toBe('failed');

    const admin = await app.inject({ method: 'PUT', url, headers: basic(tokens.admin) });
    expect(admin.statusCode).toBe(204);
    expect(await failed.getState()).not.toBe('failed');
  });

  it('requires the highest job role of a queue for a bulk retry', async () => {
    const response = await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/maintenance/retry/failed', headers: basic(tokens.operator) });

    expect(response.statusCode).toBe(403);
    expect(response.json().message).toContain('every job of the maintenance queue requires admin');
  });

  it.each([
    ['POST', '/admin/queues/api/queues/maintenance/add', { name: 'token-cleanup', data: { dryRun: true } }, 'POST /api/jobs/:name'],
    ['PATCH', '/admin/queues/api/queues/maintenance/job-schedulers/token-cleanup', { pattern: '*/2 * * * * *' }, 'PUT /api/schedules/:id'],
    ['PUT', '/admin/queues/api/queues/maintenance/job-schedulers/token-cleanup/remove', undefined, 'POST /api/schedules/:id/pause'],
  ] as const)('sends %s %s to Shipshape\'s own route', async (method, url, payload, replacement) => {
    const response = await app.inject({ method, url, headers: basic(tokens.admin), ...(payload ? { payload } : {}) });

    expect(response.statusCode).toBe(403);
    expect(response.body).toContain(replacement);
    expect(await app.queues.maintenance.getJobCounts('waiting', 'active')).toMatchObject({ active: 0 });
  });

  it('rejects cross-site changes', async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/admin/queues/api/queues/maintenance/pause',
      headers: { ...basic(tokens.admin), 'sec-fetch-site': 'cross-site' },
    });

    expect(response.statusCode).toBe(403);
    expect(response.json().message).toContain('another site');
    expect(await app.queues.maintenance.isPaused()).toBe(false);
  });
});

describe('open routes', () => {
  it('serves liveness without a token', async () => {
    const response = await app.inject({ method: 'GET', url: '/health', headers: { authorization: '' } });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'pass' });
  });

  it('shows readiness details only with a token', async () => {
    const anonymous = await app.inject({ method: 'GET', url: '/health/ready', headers: { authorization: '' } });
    const wrong = await app.inject({ method: 'GET', url: '/health/ready', headers: bearer('not-a-real-token') });
    const viewer = await app.inject({ method: 'GET', url: '/health/ready', headers: bearer(tokens.viewer) });

    expect(Object.keys(anonymous.json())).toEqual(['status']);
    expect(Object.keys(wrong.json())).toEqual(['status']);
    expect(viewer.json().checks['postgres:responseTime']).toBeDefined();
  });

  it('opens metrics to loopback only', async () => {
    const local = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: '' }, remoteAddress: '127.0.0.1' });
    const local6 = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: '' }, remoteAddress: '::1' });
    const remote = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: '' }, remoteAddress: '192.0.2.10' });
    const remoteWithToken = await app.inject({ method: 'GET', url: '/metrics', headers: bearer(tokens.viewer), remoteAddress: '192.0.2.10' });

    expect(local.statusCode).toBe(200);
    expect(local6.statusCode).toBe(200);
    expect(remote.statusCode).toBe(401);
    expect(remoteWithToken.statusCode).toBe(200);
  });
});

describe('token cache and revocation', () => {
  it('checks a cached token without the database', async () => {
    const token = await createToken(app, 'cache-probe', 'viewer');
    expect((await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) })).statusCode).toBe(200);

    // Revoked behind the API's back: only the cache decides until its entry expires.
    await database.db.updateTable('api_tokens').set({ revoked_at: new Date() }).where('name', '=', 'cache-probe').execute();
    const cached = await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) });

    expect(cached.statusCode).toBe(200);
  });

  it('writes last use in batches', async () => {
    const token = await createToken(app, 'last-use-probe', 'viewer');
    for (let i = 0; i < 5; i += 1) await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) });
    const lastUse = () => database.db.selectFrom('api_tokens').select('last_used_at').where('name', '=', 'last-use-probe').executeTakeFirstOrThrow();

    expect((await lastUse()).last_used_at).toBeNull();
    await app.authenticator.flushLastUses();
    expect((await lastUse()).last_used_at).toBeInstanceOf(Date);
  });

  it('writes last use when the API closes', async () => {
    const other = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }), logger: false });
    const token = await createToken(other, 'closing-probe', 'viewer');
    await other.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) });
    await other.close();

    const row = await database.db.selectFrom('api_tokens').select('last_used_at').where('name', '=', 'closing-probe').executeTakeFirstOrThrow();
    expect(row.last_used_at).toBeInstanceOf(Date);
  });

  it('revokes in every API process at once', async () => {
    const other = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }), logger: false });
    try {
      const token = await createToken(app, 'revoke-probe', 'operator');
      expect((await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) })).statusCode).toBe(200);
      expect((await other.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) })).statusCode).toBe(200);

      const revoked = await app.inject({ method: 'POST', url: '/api/tokens/revoke-probe/revoke' });
      expect(revoked.statusCode).toBe(200);
      expect(revoked.json().revokedAt).toEqual(expect.any(String));

      const here = await app.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) });
      expect(here.statusCode).toBe(401);
      expect(here.json().message).toContain('unknown or revoked');
      // The other process learns of it through Redis pub/sub, well before its cache entry expires.
      await waitFor('the other API process to reject the revoked token', async () => {
        const response = await other.inject({ method: 'GET', url: '/api/jobs', headers: bearer(token) });
        return response.statusCode === 401 ? true : undefined;
      }, { timeoutMs: 5000 });
    } finally {
      await other.close();
    }
  });

  it('answers 404 for revoking an unknown token', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/tokens/no-such-token/revoke' });

    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'TOKEN_NOT_FOUND' });
  });
});

describe('authentication while PostgreSQL is down', () => {
  it('keeps accepting tokens verified before', async () => {
    const pool = createDatabase(database.url, { max: 1, applicationName: 'auth-outage-test' });
    const { token } = await storeToken(pool, { name: 'outage-probe', role: 'viewer', createdBy: 'test' });
    const authenticator = new TokenAuthenticator({ db: pool, logger: pino({ level: 'silent' }), cacheTtlMs: 1, lastUseFlushMs: 3_600_000 });
    try {
      expect(await authenticator.verify(token)).toEqual({ name: 'outage-probe', role: 'viewer' });
      // A destroyed pool fails every query, as an unreachable server does.
      await pool.destroy();
      await new Promise((resolve) => setImmediate(resolve));

      expect(await authenticator.verify(token)).toEqual({ name: 'outage-probe', role: 'viewer' });
      await expect(authenticator.verify('ssk_never_seen_before_0000000000000000000000000')).rejects.toThrow();
    } finally {
      await authenticator.close().catch(() => undefined);
    }
  });
});
