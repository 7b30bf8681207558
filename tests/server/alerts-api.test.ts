import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';

const prefix = uniqueName('alerts_api');
let database: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  database = await createTestDatabase('alerts_api');
  app = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix }), logger: false });
});

afterAll(async () => {
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

const raise = (payload: Record<string, unknown>) => app.inject({ method: 'POST', url: '/api/alerts', payload });

describe('alerts API', () => {
  it('raises and counts repeats of a key', async () => {
    const first = await raise({ severity: 'medium', source: 'security-review', key: 'login-burst:10.0.0.9', message: 'Failed login burst' });
    const second = await raise({ severity: 'medium', source: 'security-review', key: 'login-burst:10.0.0.9', message: 'Failed login burst' });

    expect(first.statusCode).toBe(201);
    expect(first.json().created).toBe(true);
    expect(second.json()).toMatchObject({ created: false, alert: { id: first.json().alert.id, occurrences: 2 } });
  });

  it('filters by status and severity', async () => {
    await raise({ severity: 'low', source: 'audit', key: 'dormant:42', message: 'Dormant account' });

    const low = await app.inject({ method: 'GET', url: '/api/alerts?severity=low&status=open' });
    const critical = await app.inject({ method: 'GET', url: '/api/alerts?severity=critical' });

    expect(low.json().items.map((item: { key: string }) => item.key)).toEqual(['dormant:42']);
    expect(critical.json().items).toEqual([]);
  });

  it('acknowledges once, then answers 409', async () => {
    const { alert } = (await raise({ severity: 'critical', source: 'backup', key: 'backup:failed', message: 'Backup failed' })).json();

    const ack = await app.inject({ method: 'POST', url: `/api/alerts/${alert.id}/ack`, payload: { by: 'second.engineer@fleet.example' } });
    const again = await app.inject({ method: 'POST', url: `/api/alerts/${alert.id}/ack`, payload: { by: 'someone' } });

    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toMatchObject({ status: 'acknowledged', acknowledgedBy: 'second.engineer@fleet.example' });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe('ALERT_STATE_CONFLICT');
  });

  it('resolves an acknowledged alert', async () => {
    const { alert } = (await raise({ severity: 'high', source: 'backup', key: 'backup:slow', message: 'Backup slow' })).json();
    await app.inject({ method: 'POST', url: `/api/alerts/${alert.id}/ack`, payload: { by: 'ops' } });

    const resolved = await app.inject({ method: 'POST', url: `/api/alerts/${alert.id}/resolve`, payload: { by: 'ops' } });

    expect(resolved.statusCode).toBe(200);
    expect(resolved.json()).toMatchObject({ status: 'resolved', resolvedBy: 'ops' });
  });

  const invalid: Array<[string, string, string, unknown, number, string]> = [
    ['unknown severity', 'POST', '/api/alerts', { severity: 'urgent', source: 's', key: 'k', message: 'm' }, 400, 'severity'],
    ['missing key', 'POST', '/api/alerts', { severity: 'low', source: 's', message: 'm' }, 400, 'key'],
    ['ack without actor', 'POST', '/api/alerts/1/ack', {}, 400, 'by'],
    ['ack of unknown alert', 'POST', '/api/alerts/999999/ack', { by: 'ops' }, 404, 'Alert 999999'],
    ['bad status filter', 'GET', '/api/alerts?status=closed', undefined, 400, 'querystring.status must be one of open, acknowledged, resolved'],
  ];
  for (const [name, method, url, payload, status, mentions] of invalid) {
    it(`rejects ${name}`, async () => {
      const response = await app.inject({ method: method as 'GET' | 'POST', url, ...(payload ? { payload: payload as object } : {}) });

      expect(response.statusCode).toBe(status);
      expect(response.json().message).toContain(mentions);
    });
  }
});
