import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { buildTestApp } from '../helpers/app.js';
import { findUnboundedFields } from '../helpers/schema-bounds.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';

const prefix = uniqueName('bad_input');
let database: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  database = await createTestDatabase('bad_input');
  app = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }), logger: false });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

const json = (method: InjectOptions['method'], url: string, payload: unknown): InjectOptions => ({ method, url, payload: payload as InjectOptions['payload'] });
const raw = (url: string, body: string, contentType: string): InjectOptions => ({ method: 'POST', url, payload: body, headers: { 'content-type': contentType } });

// [case, request, expected status, text the message must contain]
const cases: Array<[string, InjectOptions, number, string]> = [
  ['wrong type in the payload', json('POST', '/api/jobs/token-cleanup', { data: { batchSize: 'ten' } }), 400, 'data.batchSize'],
  ['wrong type of delay', json('POST', '/api/jobs/token-cleanup', { delay: '10' }), 400, 'body.delay'],
  ['huge delay', json('POST', '/api/jobs/token-cleanup', { delay: 1e20 }), 400, 'body.delay'],
  ['huge batch size', json('POST', '/api/jobs/token-cleanup', { data: { batchSize: 1e12 } }), 400, 'data.batchSize'],
  ['negative number', json('POST', '/api/jobs/token-cleanup', { delay: -1 }), 400, 'body.delay'],
  ['unknown body field', json('POST', '/api/jobs/token-cleanup', { dryRun: true }), 400, 'unknown field "dryRun"'],
  ['unknown payload field', json('POST', '/api/jobs/token-cleanup', { data: { everything: true } }), 400, 'everything'],
  ['unknown query field', { method: 'POST', url: '/api/jobs/token-cleanup?dryRun=true' }, 400, 'querystring'],
  ['JSON null body', raw('/api/jobs/token-cleanup', 'null', 'application/json'), 400, 'body'],
  ['JSON array body', json('POST', '/api/jobs/token-cleanup', [1, 2]), 400, 'body'],
  ['SQL injection in a job name', { method: 'POST', url: "/api/jobs/x'%20OR%201=1--" }, 400, 'params.name'],
  ['SQL injection in a query filter', { method: 'GET', url: `/api/maintenance-logs?type=${encodeURIComponent("routine' OR '1'='1")}` }, 400, 'querystring.type'],
  ['SQL injection in a token name', json('POST', '/api/tokens', { name: "x'; drop table api_tokens;--", role: 'viewer' }), 400, 'body.name'],
  ['path traversal in a job name', { method: 'POST', url: '/api/jobs/..%2F..%2Fetc%2Fpasswd' }, 400, 'params.name'],
  ['path traversal in a run id', { method: 'GET', url: '/api/jobs/token-cleanup/..%2F..%2Fetc%2Fpasswd' }, 400, 'params.id'],
  ['path traversal in a token name', { method: 'POST', url: '/api/tokens/..%2Fadmin/revoke' }, 400, 'params.name'],
  ['overlong path segment', { method: 'GET', url: `/api/jobs/token-cleanup/${'9'.repeat(300)}` }, 414, 'longer than 200'],
  ['bad percent-encoding', { method: 'GET', url: '/api/jobs/%E0%A4%A' }, 400, 'percent-encoding'],
  ['overlong query string value', { method: 'GET', url: `/api/maintenance-logs?job=${'a'.repeat(5000)}` }, 400, 'querystring.job'],
  ['invalid date in a query', { method: 'GET', url: '/api/maintenance-logs?from=yesterday' }, 400, 'querystring.from'],
  ['invalid cron in a schedule update', json('PUT', '/api/schedules/token-cleanup', { pattern: '61 25 * * *' }), 400, 'pattern'],
  ['cron words in a schedule update', json('PUT', '/api/schedules/token-cleanup', { pattern: 'every tuesday' }), 400, 'pattern'],
  ['unknown time zone in a schedule update', json('PUT', '/api/schedules/token-cleanup', { tz: 'Mars/Olympus' }), 400, 'Mars/Olympus'],
  ['invalid JSON', raw('/api/jobs/token-cleanup', '{"data": {', 'application/json'), 400, 'JSON'],
  ['wrong content type', raw('/api/jobs/token-cleanup', 'data=1', 'application/x-www-form-urlencoded'), 415, 'application/x-www-form-urlencoded is not supported; send the body as application/json'],
  ['plain text body', raw('/api/tokens', 'name=x&role=admin', 'text/plain'), 415, 'text/plain is not supported; send the body as application/json'],
  ['oversized body', json('POST', '/api/alerts', { severity: 'low', source: 'x', key: 'k', message: 'm', details: { blob: 'x'.repeat(70 * 1024) } }), 413, 'too large'],
  ['NUL character', json('POST', '/api/alerts', { severity: 'low', source: 'probe', key: 'k', message: 'a\u0000b' }), 400, 'NUL'],
  ['overlong string', json('POST', '/api/alerts', { severity: 'low', source: 'probe', key: 'k', message: 'm'.repeat(5000) }), 400, 'body.message'],
  ['unknown role', json('POST', '/api/tokens', { name: 'deckhand', role: 'captain' }), 400, 'viewer, operator, admin'],
  ['missing field', json('POST', '/api/tokens', { name: 'deckhand' }), 400, 'role'],
  ['bad token format: no scheme', { method: 'GET', url: '/api/jobs', headers: { authorization: 'ssk_abc' } }, 401, 'Bearer'],
  ['bad token format: wrong scheme', { method: 'GET', url: '/api/jobs', headers: { authorization: 'Digest abc' } }, 401, 'Bearer'],
  ['bad token format: control characters', { method: 'GET', url: '/api/jobs', headers: { authorization: 'Bearer abc\tdef' } }, 401, 'Bearer'],
  ['bad token format: 10 kB token', { method: 'GET', url: '/api/jobs', headers: { authorization: `Bearer ${'a'.repeat(10_000)}` } }, 401, 'longer than 256'],
  ['bad token format: SQL in the token', { method: 'GET', url: '/api/jobs', headers: { authorization: "Bearer ' OR '1'='1" } }, 401, 'Bearer'],
];

describe('bad input', () => {
  it.each(cases)('rejects %s', async (_label, request, status, text) => {
    const response = await app.inject(request);

    expect(response.statusCode, response.body).toBe(status);
    const body = response.json();
    expect(body.statusCode).toBe(status);
    expect(typeof body.code).toBe('string');
    expect(body.message).toContain(text);
    expect(response.body).not.toMatch(/\n\s+at /);
  });
});

describe('input bounds', () => {
  it('bounds every job payload string and array', () => {
    const problems = jobDefinitions.flatMap((definition) => findUnboundedFields(definition.payload, `${definition.name}: data`));

    expect(problems).toEqual([]);
  });

  it('bounds every route input string and array', () => {
    const document = app.swagger() as { paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string; schema: unknown }>; requestBody?: { content?: Record<string, { schema: unknown }> } }>> };
    const problems: string[] = [];
    let inputs = 0;
    for (const [url, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const parameter of operation.parameters ?? []) {
          inputs += 1;
          problems.push(...findUnboundedFields(parameter.schema, `${method.toUpperCase()} ${url} ${parameter.in}.${parameter.name}`));
        }
        for (const [type, content] of Object.entries(operation.requestBody?.content ?? {})) {
          inputs += 1;
          problems.push(...findUnboundedFields(content.schema, `${method.toUpperCase()} ${url} body (${type})`));
        }
      }
    }

    expect(inputs).toBeGreaterThan(20);
    expect(problems).toEqual([]);
  });

  it('finds unbounded fields in a schema', () => {
    const schema = {
      type: 'object',
      properties: {
        free: { type: 'string' },
        capped: { type: 'string', maxLength: 10 },
        name: { type: 'string', pattern: '^[a-z]{1,5}$' },
        open: { type: 'string', pattern: '^[a-z]+$' },
        list: { type: 'array', items: { type: 'string', maxLength: 5 } },
        nested: { anyOf: [{ type: 'array', maxItems: 2, items: { type: 'string' } }, { type: 'null' }] },
      },
    };

    expect(findUnboundedFields(schema, 'body')).toEqual([
      'body.free: string without maxLength',
      'body.open: string without maxLength',
      'body.list: array without maxItems',
      'body.nested[0][]: string without maxLength',
    ]);
  });
});
