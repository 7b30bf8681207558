import { QueueEvents } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { FastifyInstance } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTALLATION_DIR, isNonBreakingUpdate } from '../../src/jobs/security/dependency-audit.js';
import { INCOMPLETE_ALERT_KEY, VULNERABILITIES_ALERT_KEY } from '../../src/jobs/security/dependency-alerts.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { calendar } from '../../src/queues/calendar.js';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

/*
 * npm runs against a registry this file serves on 127.0.0.1, or against
 * closed and silent local ports. Every npm child the job starts inherits this
 * process's environment, so the cache, user config and retry settings below
 * apply to it, and the job adds npm_config_registry from NPM_REGISTRY.
 */

type Summary = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let folder: string;
let fixture: string;
let database: TestDatabase;
let registry: Server;
let registryUrl: string;
const requests: string[] = [];
const prefixes: string[] = [];
/** Variables this file sets in process.env, and their earlier values, put back at the end. */
const npmEnvironment: Record<string, string> = {};
const previousEnvironment: Record<string, string | undefined> = {};

const INSTALLED = { alpha: '1.0.0', beta: '0.2.0', gamma: '2.0.0', delta: '0.0.3' };
const PUBLISHED: Record<string, { versions: string[]; latest: string }> = {
  alpha: { versions: ['1.0.0', '1.0.1', '1.2.0', '2.0.0'], latest: '2.0.0' },
  beta: { versions: ['0.2.0', '0.2.5', '0.3.0'], latest: '0.3.0' },
  gamma: { versions: ['2.0.0', '2.0.3', '2.1.0'], latest: '2.1.0' },
  delta: { versions: ['0.0.3', '0.0.4'], latest: '0.0.4' },
};
/** Advisories the local registry serves; emptied to simulate a clean audit. */
let servedAdvisories: Record<string, unknown[]> = {};
const ADVISORIES = {
  alpha: [{ id: 1001, url: 'https://advisories.test/1001', title: 'Prototype pollution in alpha', severity: 'high', vulnerable_versions: '<1.0.1', cwe: ['CWE-1321'], cvss: { score: 7.5, vectorString: null } }],
  gamma: [{ id: 1002, url: 'https://advisories.test/1002', title: 'ReDoS in gamma', severity: 'moderate', vulnerable_versions: '<2.0.3', cwe: [], cvss: { score: 5.3, vectorString: null } }],
};

function packument(name: string) {
  const published = PUBLISHED[name]!;
  const versions = Object.fromEntries(
    published.versions.map((version) => [version, { name, version, dist: { tarball: `${registryUrl}${name}/-/${name}-${version}.tgz` } }]),
  );
  return { name, 'dist-tags': { latest: published.latest }, versions };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

/** Serves the two registry endpoints npm audit and npm outdated use: the advisory bulk endpoint and packuments. */
async function answer(request: IncomingMessage, response: import('node:http').ServerResponse): Promise<void> {
  const body = await readBody(request);
  requests.push(`${request.method} ${request.url}`);
  response.setHeader('content-type', 'application/json');
  if (request.method === 'POST' && request.url === '/-/npm/v1/security/advisories/bulk') {
    const requested = JSON.parse(body.toString()) as Record<string, string[]>;
    response.end(JSON.stringify(Object.fromEntries(Object.entries(servedAdvisories).filter(([name]) => name in requested))));
    return;
  }
  const name = decodeURIComponent((request.url ?? '/').slice(1));
  if (request.method === 'GET' && name in PUBLISHED) {
    response.end(JSON.stringify(packument(name)));
    return;
  }
  response.statusCode = 404;
  response.end('{"error":"not found"}');
}

/** Writes a package with four installed dependencies and a lockfile, as npm install would leave it. */
async function writeFixture(): Promise<void> {
  const dependencies = { alpha: '^1.0.0', beta: '^0.2.0', gamma: '~2.0.0', delta: '0.0.3' };
  await writeFile(path.join(fixture, 'package.json'), JSON.stringify({ name: 'fixture', version: '1.0.0', private: true, dependencies }));
  const packages: Record<string, unknown> = { '': { name: 'fixture', version: '1.0.0', dependencies } };
  for (const [name, version] of Object.entries(INSTALLED)) {
    await mkdir(path.join(fixture, 'node_modules', name), { recursive: true });
    await writeFile(path.join(fixture, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
    packages[`node_modules/${name}`] = { version, resolved: `${registryUrl}${name}/-/${name}-${version}.tgz` };
  }
  await writeFile(path.join(fixture, 'package-lock.json'), JSON.stringify({ name: 'fixture', version: '1.0.0', lockfileVersion: 3, requires: true, packages }));
}

interface Stack {
  app: FastifyInstance;
  workers: TestWorkers;
  events: QueueEvents;
}

/** Starts an API and a worker with `settings`, such as the NPM_REGISTRY npm is pointed at. */
async function startStack(label: string, settings: Record<string, string>): Promise<Stack> {
  const prefix = uniqueName(label);
  prefixes.push(prefix);
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, DEPENDENCY_AUDIT_DIR: fixture, ...settings });
  const app = await buildTestApp({ config, logger: false });
  const workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance'], definitions: jobDefinitions });
  const events = new QueueEvents('maintenance', { connection: { url: TEST_REDIS_URL }, prefix });
  await events.waitUntilReady();
  return { app, workers, events };
}

async function stopStack(stack: Stack | undefined): Promise<void> {
  await stack?.events.close();
  await stack?.workers.close();
  await stack?.app.close();
}

/** Returns the newest alert row with `key`, or undefined. */
const alertByKey = (key: string) =>
  database.db.selectFrom('alerts').selectAll().where('dedup_key', '=', key).orderBy('id', 'desc').executeTakeFirst();

const audit = (stack: Stack) => runJobThroughApi(stack.app, { maintenance: stack.events }, 'dependency-audit') as Promise<Summary>;

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'shipshape-dependencies-'));
  fixture = path.join(folder, 'fixture');
  await mkdir(fixture);
  await writeFile(path.join(folder, 'npmrc'), '');

  servedAdvisories = ADVISORIES;
  registry = createServer((request, response) => void answer(request, response));
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
  registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`;
  await writeFixture();

  // Inherited by every npm child: a private cache, no user .npmrc, no retries
  // against the closed port, and the local registry even without the job's setting.
  Object.assign(npmEnvironment, {
    npm_config_cache: path.join(folder, 'cache'),
    npm_config_userconfig: path.join(folder, 'npmrc'),
    npm_config_fetch_retries: '0',
    npm_config_registry: registryUrl,
    npm_config_update_notifier: 'false',
  });
  for (const name of Object.keys(npmEnvironment)) previousEnvironment[name] = process.env[name];
  Object.assign(process.env, npmEnvironment);

  database = await createTestDatabase('dependencies');
});

afterAll(async () => {
  for (const prefix of prefixes) await removeQueuePrefix(prefix);
  await database?.drop();
  if (registry) await new Promise((resolve) => registry.close(resolve));
  for (const [name, value] of Object.entries(previousEnvironment)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  if (folder) await rm(folder, { recursive: true, force: true });
});

describe('dependency-audit calendar entry', () => {
  it('fires on the last Tuesday of each of the next twelve months', () => {
    const entry = calendar.find((candidate) => candidate.job === 'dependency-audit')!;
    const fires = CronExpressionParser.parse(entry.pattern!, { currentDate: new Date('2026-12-04T12:00:00Z'), tz: 'UTC' }).take(12);
    const months = fires.map((fire) => fire.toISOString()!.slice(0, 7));
    expect(months).toEqual([
      '2026-12', '2027-01', '2027-02', '2027-03', '2027-04', '2027-05',
      '2027-06', '2027-07', '2027-08', '2027-09', '2027-10', '2027-11',
    ]);
    for (const fire of fires) {
      const date = new Date(fire.getTime());
      expect(date.getUTCDay(), date.toISOString()).toBe(2);
      expect(date.getUTCHours(), date.toISOString()).toBe(6);
      expect(date.getUTCMinutes(), date.toISOString()).toBe(0);
      // A week later is next month, so this is the month's last Tuesday.
      expect(new Date(date.getTime() + 7 * 86_400_000).getUTCMonth(), date.toISOString()).not.toBe(date.getUTCMonth());
    }
    expect(fires[0]!.toISOString()!).toBe('2026-12-29T06:00:00.000Z');
  });
});

describe('non-breaking update rule', () => {
  const cases: Array<[string, string, boolean]> = [
    ['1.0.0', '1.2.0', true],
    ['1.0.0', '2.0.0', false],
    ['0.2.0', '0.2.5', true],
    ['0.2.0', '0.3.0', false],
    ['0.0.3', '0.0.4', false],
    ['1.2.0', '1.2.0', false],
    ['1.2.0', '1.3.0-beta.1', false],
  ];
  for (const [from, to, expected] of cases) {
    it(`${from} to ${to} is ${expected ? 'non-breaking' : 'not offered'}`, () => {
      expect(isNonBreakingUpdate(from, to)).toBe(expected);
    });
  }

  it('runs in the installation folder by default', () => {
    expect(existsSync(path.join(INSTALLATION_DIR, 'package.json'))).toBe(true);
    expect(JSON.parse(readFileSync(path.join(INSTALLATION_DIR, 'package.json'), 'utf8')).name).toBe('shipshape');
  });
});

describe('dependency-audit against a local registry', () => {
  let stack: Stack;
  let summary: Summary;

  beforeAll(async () => {
    stack = await startStack('dependencies', { NPM_REGISTRY: registryUrl });
    summary = await audit(stack);
  }, 120_000);
  afterAll(() => stopStack(stack));

  it('asks the local registry for advisories and packuments', () => {
    expect(summary.registry).toBe(registryUrl);
    expect(requests).toContain('POST /-/npm/v1/security/advisories/bulk');
    for (const name of Object.keys(INSTALLED)) expect(requests).toContain(`GET /${name}`);
  });

  it('counts vulnerabilities by severity', () => {
    expect(summary.audit).toMatchObject({ ok: true, error: null, total: 2, critical: 0, high: 1, moderate: 1, low: 0, info: 0 });
    expect(summary.audit.packages).toEqual([
      { name: 'alpha', severity: 'high', direct: true, range: '1.0.0', fixAvailable: true, advisories: ['Prototype pollution in alpha'] },
      { name: 'gamma', severity: 'moderate', direct: true, range: '2.0.0', fixAvailable: true, advisories: ['ReDoS in gamma'] },
    ]);
  });

  it('lists non-breaking updates apart from breaking ones', () => {
    expect(summary.outdated.ok).toBe(true);
    expect(summary.outdated.outdated).toBe(4);
    expect(summary.outdated.nonBreaking).toEqual([
      { name: 'alpha', current: '1.0.0', update: '1.2.0', latest: '2.0.0' },
      { name: 'beta', current: '0.2.0', update: '0.2.5', latest: '0.3.0' },
      { name: 'gamma', current: '2.0.0', update: '2.1.0', latest: '2.1.0' },
    ]);
    expect(summary.outdated.breaking.map((entry: Summary) => entry.name)).toEqual(['alpha', 'beta', 'delta']);
  });

  it('raises a high alert for high vulnerabilities', async () => {
    expect(summary.alertsRaised).toEqual([VULNERABILITIES_ALERT_KEY]);
    expect(summary.problems).toHaveLength(1);
    expect(summary.problems[0]).toContain('0 critical and 1 high vulnerabilities');
    const alert = await alertByKey(VULNERABILITIES_ALERT_KEY);
    expect(alert?.severity).toBe('high');
    expect(alert?.status).toBe('open');
    expect(alert?.source).toBe('dependency-audit');
    expect(alert?.message).toContain('alpha (high)');
    expect(alert?.message).not.toContain('gamma');
    expect(await alertByKey(INCOMPLETE_ALERT_KEY)).toBeUndefined();
  });
});

describe('dependency-audit without a registry', () => {
  let closed: Stack;
  let silent: Stack;
  let silentServer: import('node:net').Server;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    closed = await startStack('dependencies_closed', { NPM_REGISTRY: `http://127.0.0.1:${await freePort()}/` });
    // Accepts connections and never replies, so only the command timeout ends npm.
    silentServer = createNetServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silentServer.listen(0, '127.0.0.1', resolve));
    silent = await startStack('dependencies_silent', {
      NPM_REGISTRY: `http://127.0.0.1:${(silentServer.address() as AddressInfo).port}/`,
      DEPENDENCY_AUDIT_TIMEOUT_MS: '3000',
    });
  });
  afterAll(async () => {
    await stopStack(closed);
    await stopStack(silent);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silentServer?.close(resolve));
  });

  it('reports a closed registry port in the summary', async () => {
    const summary = await audit(closed);
    expect(summary.audit.ok).toBe(false);
    expect(summary.audit.error).toContain('ECONNREFUSED');
    expect(summary.outdated.ok).toBe(false);
    expect(summary.outdated.error).toContain('ECONNREFUSED');

    expect(summary.alertsRaised).toEqual([INCOMPLETE_ALERT_KEY]);
    expect(summary.alertsResolved).toEqual([]);
    expect(summary.problems).toHaveLength(1);
    expect(summary.problems[0]).toContain('could not reach the registry');
    expect(summary.problems[0]).toContain('ECONNREFUSED');
    const alert = await alertByKey(INCOMPLETE_ALERT_KEY);
    expect(alert?.severity).toBe('medium');
    expect(alert?.status).toBe('open');
    expect(alert?.message).toContain('npm audit failed');
    // A failed audit cannot show the vulnerabilities gone, so their alert stays open.
    expect((await alertByKey(VULNERABILITIES_ALERT_KEY))?.status).toBe('open');
  }, 120_000);

  it('reports a registry that never answers as a timeout', async () => {
    const summary = await audit(silent);
    expect(summary.audit).toEqual({ ok: false, error: 'npm audit timed out after 3000 ms' });
    expect(summary.outdated).toEqual({ ok: false, error: 'npm outdated timed out after 3000 ms' });
  }, 120_000);
});

describe('dependency-audit after the problems are fixed', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack('dependencies_clean', { NPM_REGISTRY: registryUrl });
  });
  afterAll(() => stopStack(stack));

  it('resolves both alerts on a clean run', async () => {
    expect((await alertByKey(INCOMPLETE_ALERT_KEY))?.status).toBe('open');
    expect((await alertByKey(VULNERABILITIES_ALERT_KEY))?.status).toBe('open');
    servedAdvisories = {};

    const summary = await audit(stack);

    expect(summary.audit).toMatchObject({ ok: true, total: 0, high: 0, critical: 0 });
    expect(summary.problems).toEqual([]);
    expect(summary.alertsRaised).toEqual([]);
    expect(summary.alertsResolved).toEqual([INCOMPLETE_ALERT_KEY, VULNERABILITIES_ALERT_KEY]);
    expect((await alertByKey(INCOMPLETE_ALERT_KEY))?.status).toBe('resolved');
    expect((await alertByKey(VULNERABILITIES_ALERT_KEY))?.status).toBe('resolved');
    const log = await database.db
      .selectFrom('maintenance_logs')
      .select(['result'])
      .where('job_name', '=', 'dependency-audit')
      .orderBy('id', 'desc')
      .executeTakeFirstOrThrow();
    expect(log.result).toBe('success');
  }, 120_000);
});
