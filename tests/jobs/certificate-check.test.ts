import { QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import { execFile } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSecureContext, createServer, type Server } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHostTargets } from '../../src/jobs/security/certificate-check.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { calendar } from '../../src/queues/calendar.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const run = promisify(execFile);
const prefix = uniqueName('certificates');
const DAY = 86_400_000;

let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let events: QueueEvents;
let folder: string;
let server: Server;
let port: number;
let closedPort: number;

type Summary = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const check = (data: Record<string, unknown> = {}) =>
  runJobThroughApi(app, { maintenance: events }, 'certificate-check', data) as Promise<Summary>;

const openssl = (...args: string[]) => run('openssl', args, { cwd: folder });

/** Creates a self-signed certificate for `name` valid for `days` from now, with its key. */
async function selfSigned(name: string, days: number): Promise<void> {
  await openssl(
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', String(days), '-subj', `/CN=${name}`,
  );
}

/**
 * Creates a certificate for `name` valid from 60 to 30 days ago. OpenSSL 3.0's `req`
 * and `x509` cannot start a certificate in the past, so a test CA signs it
 * with `openssl ca -startdate -enddate`.
 */
async function expired(name: string): Promise<void> {
  const format = (date: Date) => date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  await selfSigned('test-ca', 30);
  await mkdir(path.join(folder, 'ca'), { recursive: true });
  await writeFile(path.join(folder, 'ca/index.txt'), '');
  await writeFile(path.join(folder, 'ca/serial'), '01\n');
  await writeFile(
    path.join(folder, 'ca.cnf'),
    ['[ca]', 'default_ca = test', '[test]', 'database = ca/index.txt', 'new_certs_dir = ca', 'serial = ca/serial',
      'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied', ''].join('\n'),
  );
  await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  await openssl('ca', '-batch', '-config', 'ca.cnf', '-cert', 'test-ca.pem', '-keyfile', 'test-ca.key', '-in', `${name}.csr`,
    '-out', `${name}.pem`, '-notext',
    '-startdate', format(new Date(Date.now() - 60 * DAY)), '-enddate', format(new Date(Date.now() - 30 * DAY)));
}

async function secureContext(name: string) {
  return createSecureContext({
    key: await readFile(path.join(folder, `${name}.key`)),
    cert: await readFile(path.join(folder, `${name}.pem`)),
  });
}

async function alerts() {
  return database.db.selectFrom('alerts').selectAll().orderBy('id').execute();
}

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'shipshape-certificates-'));
  await selfSigned('valid.test', 365);
  await selfSigned('soon.test', 20);
  await selfSigned('urgent.test', 5);
  await expired('expired.test');
  await writeFile(path.join(folder, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');

  // One server, one certificate per SNI name; a handshake without a known name gets valid.test.
  const contexts = new Map([
    ['valid.test', await secureContext('valid.test')],
    ['soon.test', await secureContext('soon.test')],
    ['urgent.test', await secureContext('urgent.test')],
    ['expired.test', await secureContext('expired.test')],
  ]);
  server = createServer({
    key: await readFile(path.join(folder, 'valid.test.key')),
    cert: await readFile(path.join(folder, 'valid.test.pem')),
    SNICallback: (servername, callback) => callback(null, contexts.get(servername) ?? contexts.get('valid.test')),
  });
  server.on('secureConnection', (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;

  // A port that was free a moment ago and has no listener now.
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));

  database = await createTestDatabase('certificates');
  const config = testConfig({
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    CERT_CHECK_HOSTS: ['valid.test', 'soon.test', 'urgent.test', 'expired.test'].map((name) => `127.0.0.1:${port},${name}`).concat(`127.0.0.1:${closedPort}`).join(' '),
    CERT_CHECK_FILES: ['valid.test.pem', 'soon.test.pem', 'expired.test.pem', 'broken.pem', 'missing.pem'].map((name) => path.join(folder, name)).join(';'),
    CERT_CHECK_TIMEOUT_MS: '5000',
  });
  app = await buildTestApp({ config, logger: false });
  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
});

afterAll(async () => {
  await events?.close();
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
  if (server) await new Promise((resolve) => server.close(resolve));
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('certificate-check calendar entry', () => {
  it('fires on the 1st of each month at 06:00 UTC', () => {
    const entry = calendar.find((candidate) => candidate.job === 'certificate-check')!;
    const fires = CronExpressionParser.parse(entry.pattern!, { currentDate: new Date('2026-11-15T12:00:00Z'), tz: 'UTC' }).take(3);
    expect(fires.map((fire) => fire.toISOString())).toEqual([
      '2026-12-01T06:00:00.000Z',
      '2027-01-01T06:00:00.000Z',
      '2027-02-01T06:00:00.000Z',
    ]);
  });
});

describe('CERT_CHECK_HOSTS parsing', () => {
  it('reads host, port and servername', () => {
    expect(parseHostTargets('db.example:5432 [::1]:443,api.example;127.0.0.1:8443')).toEqual([
      { kind: 'host', host: 'db.example', port: 5432, servername: 'db.example', label: 'db.example:5432' },
      { kind: 'host', host: '::1', port: 443, servername: 'api.example', label: '[::1]:443 (SNI api.example)' },
      { kind: 'host', host: '127.0.0.1', port: 8443, servername: undefined, label: '127.0.0.1:8443' },
    ]);
  });

  it('rejects a comma-separated host list at start', () => {
    expect(() => testConfig({ CERT_CHECK_HOSTS: 'a.example:443,b.example:443' })).toThrow(/CERT_CHECK_HOSTS/);
  });
});

describe('certificate-check', () => {
  let first: Summary;

  beforeAll(async () => {
    first = await check();
  });

  const byTarget = (summary: Summary, target: string) => summary.certificates.find((entry: Summary) => entry.target === target);

  it('reads each host certificate through SNI', () => {
    expect(first.checked).toBe(10);
    expect(byTarget(first, `127.0.0.1:${port} (SNI valid.test)`)).toMatchObject({ status: 'ok', subject: 'CN=valid.test', alert: null });
    expect(byTarget(first, `127.0.0.1:${port} (SNI soon.test)`)).toMatchObject({ status: 'expiring', subject: 'CN=soon.test', alert: 'high' });
    expect(byTarget(first, `127.0.0.1:${port} (SNI urgent.test)`)).toMatchObject({ status: 'critical', subject: 'CN=urgent.test', alert: 'critical' });
    expect(byTarget(first, `127.0.0.1:${port} (SNI expired.test)`)).toMatchObject({ status: 'expired', subject: 'CN=expired.test', alert: 'critical' });
    expect(byTarget(first, `127.0.0.1:${port} (SNI soon.test)`).daysLeft).toBe(19);
  });

  it('reports a closed port as an error', () => {
    expect(byTarget(first, `127.0.0.1:${closedPort}`)).toMatchObject({ status: 'error', alert: 'critical', error: expect.stringContaining('ECONNREFUSED') });
  });

  it('reads PEM files, unreadable ones as errors', () => {
    const file = (name: string) => byTarget(first, path.join(folder, name));
    expect(file('valid.test.pem')).toMatchObject({ kind: 'file', status: 'ok', subject: 'CN=valid.test' });
    expect(file('soon.test.pem')).toMatchObject({ status: 'expiring', alert: 'high' });
    expect(file('expired.test.pem')).toMatchObject({ status: 'expired', alert: 'critical' });
    expect(file('broken.pem')).toMatchObject({ status: 'error', alert: 'critical' });
    expect(file('missing.pem')).toMatchObject({ status: 'error', error: expect.stringContaining('ENOENT') });
  });

  it('raises one alert per endpoint or file with host, subject and expiry', async () => {
    const rows = await alerts();
    expect(rows).toHaveLength(8);
    const soon = rows.find((row) => row.dedup_key === `certificate:host:127.0.0.1:${port}:soon.test`)!;
    expect(soon.severity).toBe('high');
    const expiry = byTarget(first, `127.0.0.1:${port} (SNI soon.test)`).expiresAt.slice(0, 10);
    expect(soon.message).toBe(`TLS certificate of 127.0.0.1:${port} (SNI soon.test) (CN=soon.test) expires on ${expiry}, in 19 days`);
    const unreachable = rows.find((row) => row.dedup_key === `certificate:host:127.0.0.1:${closedPort}:`)!;
    expect(unreachable.severity).toBe('critical');
    expect(unreachable.message).toContain(`127.0.0.1:${closedPort} could not be checked`);
    expect(rows.find((row) => row.dedup_key.endsWith(':valid.test'))).toBeUndefined();
  });

  it('counts a repeat on the open alerts', async () => {
    await check();
    const rows = await alerts();
    expect(rows).toHaveLength(8);
    expect(rows.every((row) => row.occurrences === 2)).toBe(true);
  });

  it('resolves an alert when the certificate is fine again', async () => {
    const summary = await check({ warnDays: 10, criticalDays: 3 });
    expect(byTarget(summary, `127.0.0.1:${port} (SNI soon.test)`).status).toBe('ok');
    const soon = (await alerts()).find((row) => row.dedup_key === `certificate:host:127.0.0.1:${port}:soon.test`)!;
    expect(soon.status).toBe('resolved');
    expect(soon.resolved_by).toBe('certificate-check');
  });

  it('rejects a critical threshold above the warning one', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/jobs/certificate-check', payload: { data: { warnDays: 5, criticalDays: 9 } } });
    expect(response.statusCode).toBe(400);
    expect(response.body).toContain('data.criticalDays');
  });
});
