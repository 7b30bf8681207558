import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acknowledgeAlert, raiseAlert, resolveAlert, type AlertDependencies, type AlertInput } from '../../src/jobs/alerts/alerts.js';
import { dispatchAlerts, lastWindowEnd } from '../../src/jobs/alerts/dispatch.js';
import { createRedis } from '../../src/queues/connection.js';
import { createTestDatabase, removeRedisKeys, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';

const prefix = uniqueName('alerts');
const MINUTE = 60_000;
const T0 = new Date('2026-07-01T10:02:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * MINUTE);

let database: TestDatabase;
let redis: Redis;
let emailQueue: Queue;
let deps: AlertDependencies;

const alert = (overrides: Partial<AlertInput> = {}): AlertInput => ({
  severity: 'high',
  source: 'health-check',
  key: 'database:latency',
  message: 'Database latency above 500 ms',
  ...overrides,
});

async function emails() {
  return database.db.selectFrom('email_queue').select(['id', 'recipient', 'subject', 'body_text', 'source']).orderBy('id').execute();
}

beforeAll(async () => {
  database = await createTestDatabase('alerts');
  redis = createRedis(TEST_REDIS_URL, 'producer');
  emailQueue = new Queue('email', { connection: redis, prefix });
  deps = {
    db: database.db,
    emailQueue,
    logger: pino({ level: 'silent' }),
    config: testConfig({
      DATABASE_URL: database.url,
      QUEUE_PREFIX: prefix,
      ALERT_EMAIL_TO: 'bridge@fleet.example',
      ALERT_ESCALATION: 'oncall@fleet.example:0,lead@fleet.example:15,cto@fleet.example:30',
    }),
  };
});

beforeEach(async () => {
  await sql`truncate alerts, alert_digests, email_queue restart identity`.execute(database.db);
  await emailQueue.obliterate({ force: true });
});

afterAll(async () => {
  await emailQueue?.close();
  await removeRedisKeys(redis, prefix);
  redis?.disconnect();
  await database?.drop();
});

describe('critical alerts', () => {
  it('email the on-call engineer at once', async () => {
    const raised = await raiseAlert(deps, alert({ severity: 'critical', key: 'database:down', message: 'Database unreachable' }), T0);

    expect(raised.created).toBe(true);
    expect(raised.alert.escalation_level).toBe(1);
    const sent = await emails();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.recipient).toBe('oncall@fleet.example');
    expect(sent[0]?.subject).toBe('[CRITICAL] health-check: Database unreachable');
    expect(sent[0]?.body_text).toContain(`POST /api/alerts/${raised.alert.id}/ack`);
    expect(await emailQueue.getJob(`email-${raised.emailId}`)).toBeDefined();
  });

  it('count a repeated key without resending', async () => {
    const first = await raiseAlert(deps, alert({ severity: 'critical', key: 'database:down' }), T0);
    const second = await raiseAlert(deps, alert({ severity: 'critical', key: 'database:down' }), at(1));

    expect(second.created).toBe(false);
    expect(second.alert.id).toBe(first.alert.id);
    expect(second.alert.occurrences).toBe(2);
    expect(second.alert.last_seen_at.toISOString()).toBe(at(1).toISOString());
    expect(await emails()).toHaveLength(1);
  });

  it('escalate level by level while unacknowledged', async () => {
    const { alert: raised } = await raiseAlert(deps, alert({ severity: 'critical', key: 'storage:full' }), T0);

    expect((await dispatchAlerts(deps, at(14))).escalations).toEqual([]);
    const second = await dispatchAlerts(deps, at(15));
    expect(second.escalations).toMatchObject([{ alertId: raised.id, level: 2, to: 'lead@fleet.example' }]);
    expect((await dispatchAlerts(deps, at(44))).escalations).toEqual([]);
    const third = await dispatchAlerts(deps, at(45));
    expect(third.escalations).toMatchObject([{ alertId: raised.id, level: 3, to: 'cto@fleet.example' }]);
    expect((await dispatchAlerts(deps, at(200))).escalations).toEqual([]);

    const recipients = (await emails()).map((email) => email.recipient);
    expect(recipients).toEqual(['oncall@fleet.example', 'lead@fleet.example', 'cto@fleet.example']);
    expect((await emails())[1]?.subject).toContain('(escalation level 2)');
  });

  it('stop escalating once acknowledged', async () => {
    const { alert: raised } = await raiseAlert(deps, alert({ severity: 'critical', key: 'backup:missing' }), T0);

    const acknowledged = await acknowledgeAlert(database.db, raised.id, 'chief.engineer@fleet.example', at(5));
    const later = await dispatchAlerts(deps, at(120));

    expect(acknowledged).toMatchObject({ outcome: 'done', alert: { status: 'acknowledged', acknowledged_by: 'chief.engineer@fleet.example' } });
    expect(later.escalations).toEqual([]);
    expect(await emails()).toHaveLength(1);
  });

  it('send one resolved email to every level reached', async () => {
    const { alert: raised } = await raiseAlert(deps, alert({ severity: 'critical', key: 'api:down' }), T0);
    await dispatchAlerts(deps, at(15));

    const resolved = await resolveAlert(deps, raised.id, 'health-check', at(20));
    const again = await resolveAlert(deps, raised.id, 'health-check', at(21));

    expect(resolved.outcome).toBe('done');
    expect(again.outcome).toBe('conflict');
    const sent = await emails();
    expect(sent).toHaveLength(3);
    expect(sent[2]?.subject).toBe('[RESOLVED] health-check: Database latency above 500 ms');
    expect(sent[2]?.recipient).toBe('oncall@fleet.example,lead@fleet.example');
    expect((await dispatchAlerts(deps, at(120))).escalations).toEqual([]);
  });

  it('raise a new alert for a key after resolution', async () => {
    const first = await raiseAlert(deps, alert({ severity: 'critical', key: 'api:down' }), T0);
    await resolveAlert(deps, first.alert.id, 'health-check', at(1));

    const second = await raiseAlert(deps, alert({ severity: 'critical', key: 'api:down' }), at(2));

    expect(second.created).toBe(true);
    expect(second.alert.id).not.toBe(first.alert.id);
  });
});

describe('grouped alerts', () => {
  it('send three high alerts in a window as one email', async () => {
    await raiseAlert(deps, alert({ key: 'a', message: 'Disk at 86%' }), at(0));
    await raiseAlert(deps, alert({ key: 'b', message: 'CPU at 75%' }), at(3));
    await raiseAlert(deps, alert({ key: 'c', message: 'Memory at 82%' }), at(6));

    // T0 is 10:02, so the window closes at 10:15.
    const early = await dispatchAlerts(deps, new Date('2026-07-01T10:14:59.000Z'));
    const closed = await dispatchAlerts(deps, new Date('2026-07-01T10:15:00.000Z'));
    const again = await dispatchAlerts(deps, new Date('2026-07-01T10:16:00.000Z'));

    expect(early.digests).toEqual([]);
    expect(closed.digests).toMatchObject([{ severity: 'high', alerts: 3 }]);
    expect(again.digests).toEqual([]);
    const sent = await emails();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.recipient).toBe('bridge@fleet.example');
    expect(sent[0]?.subject).toBe('[HIGH] 3 high alerts up to 2026-07-01T10:15:00.000Z');
    for (const text of ['Disk at 86%', 'CPU at 75%', 'Memory at 82%']) expect(sent[0]?.body_text).toContain(text);
  });

  it('group medium alerts per hour', async () => {
    await raiseAlert(deps, alert({ severity: 'medium', key: 'm1' }), at(0));

    expect((await dispatchAlerts(deps, new Date('2026-07-01T10:59:00.000Z'))).digests).toEqual([]);
    expect((await dispatchAlerts(deps, new Date('2026-07-01T11:00:30.000Z'))).digests).toMatchObject([{ severity: 'medium', alerts: 1 }]);
  });

  it('put low alerts in the daily summary', async () => {
    await raiseAlert(deps, alert({ severity: 'low', key: 'l1', message: 'Certificate expires in 60 days' }), at(0));
    await raiseAlert(deps, alert({ severity: 'low', key: 'l2', message: 'Dormant admin account' }), at(30));

    expect((await dispatchAlerts(deps, new Date('2026-07-02T07:59:00.000Z'))).digests).toEqual([]);
    const summary = await dispatchAlerts(deps, new Date('2026-07-02T08:00:00.000Z'));

    expect(summary.digests).toMatchObject([{ severity: 'low', alerts: 2, windowEnd: '2026-07-02T08:00:00.000Z' }]);
    const [email] = await emails();
    expect(email?.subject).toContain('Daily summary of low alerts');
    expect(email?.body_text).toContain('Dormant admin account');
  });

  it('leave resolved alerts out of the digest', async () => {
    const { alert: gone } = await raiseAlert(deps, alert({ key: 'gone' }), at(0));
    await raiseAlert(deps, alert({ key: 'kept', message: 'Still high' }), at(1));
    await resolveAlert(deps, gone.id, 'operator', at(2));

    const closed = await dispatchAlerts(deps, new Date('2026-07-01T10:15:00.000Z'));

    expect(closed.digests).toMatchObject([{ severity: 'high', alerts: 1 }]);
    expect(await emails()).toHaveLength(1);
  });

  it('send a digest once when two workers dispatch together', async () => {
    await raiseAlert(deps, alert({ key: 'x' }), at(0));

    const results = await Promise.all([0, 1, 2].map(() => dispatchAlerts(deps, new Date('2026-07-01T10:15:00.000Z'))));

    expect(results.flatMap((result) => result.digests)).toHaveLength(1);
    expect(await emails()).toHaveLength(1);
  });
});

describe('window boundaries', () => {
  const config = testConfig({ ALERT_HIGH_WINDOW_MINUTES: '15', ALERT_MEDIUM_WINDOW_MINUTES: '60', ALERT_SUMMARY_HOUR: '8' });
  const cases: Array<[Parameters<typeof lastWindowEnd>[0], string, string]> = [
    ['high', '2026-07-01T10:14:59.999Z', '2026-07-01T10:00:00.000Z'],
    ['high', '2026-07-01T10:15:00.000Z', '2026-07-01T10:15:00.000Z'],
    ['medium', '2026-07-01T10:59:00.000Z', '2026-07-01T10:00:00.000Z'],
    ['low', '2026-07-01T07:59:00.000Z', '2026-06-30T08:00:00.000Z'],
    ['low', '2026-07-01T08:00:00.000Z', '2026-07-01T08:00:00.000Z'],
  ];
  for (const [severity, now, expected] of cases) {
    it(`ends the ${severity} window before ${now}`, () => {
      expect(lastWindowEnd(severity, new Date(now), { config }).toISOString()).toBe(expected);
    });
  }
});
