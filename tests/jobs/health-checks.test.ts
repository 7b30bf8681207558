import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { createDatabase } from '../../src/db/database.js';
import { createMailer } from '../../src/jobs/email/mailer.js';
import { checkApi, checkDatabase, checkEmail, checkStorage, healthCheckUrls, type CheckDependencies } from '../../src/jobs/health/checks.js';
import { checkResources } from '../../src/jobs/health/resources.js';
import { runChecks } from '../../src/jobs/health/run-health-check.js';
import { createTestDatabase, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startSmtpServer, type TestSmtpServer } from '../helpers/smtp.js';

const TIMEOUT_MS = 600;
// A check that times out must report within its limit plus scheduling slack, never the target's own timeouts.
const LATE_MS = TIMEOUT_MS + 900;

let database: TestDatabase;
let folder: string;
let okServer: HttpServer;
let errorServer: HttpServer;
let silentHttp: TcpServer;
let silentTcp: TcpServer;
let smtp: TestSmtpServer;
const openSockets: Socket[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

const port = (server: { address(): unknown }) => (server.address() as AddressInfo).port;

async function listen<T extends HttpServer | TcpServer>(server: T): Promise<T> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** Creates a TCP server that accepts connections and never writes a byte: an HTTP, Postgres or SMTP peer that hangs. */
function silentServer(): TcpServer {
  return createTcpServer((socket) => {
    openSockets.push(socket);
    socket.on('error', () => {});
  });
}

/** Returns a port on 127.0.0.1 where nothing listens, so connections are refused. */
async function closedPort(): Promise<number> {
  const server = await listen(createTcpServer());
  const free = port(server);
  await new Promise((resolve) => server.close(resolve));
  return free;
}

function config(overrides: Record<string, string>): Config {
  return testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: uniqueName('health_checks'), HEALTH_CHECK_TIMEOUT_MS: String(TIMEOUT_MS), STORAGE_DIR: join(folder, 'storage'), OUTBOX_DIR: join(folder, 'outbox'), ...overrides });
}

function deps(overrides: Record<string, string>, db = database.db): CheckDependencies {
  const settings = config(overrides);
  const mailer = createMailer(settings);
  cleanups.push(() => mailer.close());
  return { config: settings, db, mailer };
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work();
  return { result, ms: performance.now() - started };
}

beforeAll(async () => {
  database = await createTestDatabase('health_checks');
  folder = await mkdtemp(join(tmpdir(), 'shipshape-health-'));
  okServer = await listen(createHttpServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"pass"}')));
  errorServer = await listen(createHttpServer((_request, response) => response.writeHead(503).end('down')));
  silentHttp = await listen(silentServer());
  silentTcp = await listen(silentServer());
  smtp = await startSmtpServer();
});

afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  for (const socket of openSockets) socket.destroy();
  await Promise.all([okServer, errorServer, silentHttp, silentTcp].map((server) => new Promise((resolve) => server.close(resolve))));
  await smtp.stop().catch(() => {});
  await rm(folder, { recursive: true, force: true });
  await database.drop();
});

describe('api check', () => {
  it('defaults to the API own /health', () => {
    expect(healthCheckUrls(testConfig({ HOST: '0.0.0.0', PORT: '4123' }))).toEqual(['http://127.0.0.1:4123/health']);
    expect(healthCheckUrls(testConfig({ HOST: '::1', PORT: '4123' }))).toEqual(['http://[::1]:4123/health']);
  });

  it('passes with latency for a 200', async () => {
    const url = `http://127.0.0.1:${port(okServer)}/health`;
    const result = await checkApi(deps({ HEALTH_CHECK_URLS: url }));

    expect(result.status).toBe('pass');
    expect(result.measurements[0]).toMatchObject({ measurement: 'responseTime', componentId: url, observedUnit: 'ms', status: 'pass' });
    expect(result.measurements[0]!.observedValue).toBeGreaterThan(0);
  });

  it('fails on a 503 and names the status', async () => {
    const result = await checkApi(deps({ HEALTH_CHECK_URLS: `http://127.0.0.1:${port(errorServer)}/health` }));

    expect(result.status).toBe('fail');
    expect(result.output).toContain('HTTP 503');
  });

  it('fails at once on a closed port', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/health`;
    const { result, ms } = await timed(() => checkApi(deps({ HEALTH_CHECK_URLS: url })));

    expect(result.status).toBe('fail');
    expect(result.output).toBe(`GET ${url} failed: fetch failed (ECONNREFUSED)`);
    expect(ms).toBeLessThan(LATE_MS);
  });

  it('fails within its timeout on a server that never answers', async () => {
    const ok = `http://127.0.0.1:${port(okServer)}/health`;
    const hung = `http://127.0.0.1:${port(silentHttp)}/health`;
    const { result, ms } = await timed(() => checkApi(deps({ HEALTH_CHECK_URLS: `${ok},${hung}` })));

    expect(result.status).toBe('fail');
    expect(result.output).toContain(`timed out after ${TIMEOUT_MS} ms`);
    expect(result.measurements.find((item) => item.componentId === ok)?.status).toBe('pass');
    expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(ms).toBeLessThan(LATE_MS);
  });
});

describe('database check', () => {
  it('passes with latency and connection figures', async () => {
    const result = await checkDatabase(deps({}));

    expect(result.status).toBe('pass');
    const byName = Object.fromEntries(result.measurements.map((item) => [item.measurement, item]));
    expect(byName.responseTime!.observedUnit).toBe('ms');
    expect(byName.connections!.observedValue).toBeGreaterThan(0);
    expect(byName.maxConnections!.observedValue).toBeGreaterThanOrEqual(byName.connections!.observedValue!);
    expect(byName.connectionUtilization!.observedUnit).toBe('percent');
  });

  it('warns above the connection threshold', async () => {
    const result = await checkDatabase(deps({ HEALTH_DB_CONNECTIONS_MAX_PERCENT: '0.01' }));

    expect(result.status).toBe('warn');
    expect(result.output).toContain('connections in use, above 0.01%');
  });

  it('fails at once when nothing listens', async () => {
    const db = createDatabase(`postgres://127.0.0.1:${await closedPort()}/shipshape`, { max: 1 });
    cleanups.push(() => db.destroy());
    const { result, ms } = await timed(() => checkDatabase(deps({}, db)));

    expect(result.status).toBe('fail');
    expect(result.output).toMatch(/ECONNREFUSED/);
    expect(ms).toBeLessThan(LATE_MS);
  });

  it('fails within its timeout when the server never answers', async () => {
    const db = createDatabase(`postgres://127.0.0.1:${port(silentTcp)}/shipshape`, { max: 1, connectionTimeoutMillis: 3000 });
    cleanups.push(() => db.destroy().catch(() => {}));
    const { result, ms } = await timed(() => checkDatabase(deps({}, db)));

    expect(result.status).toBe('fail');
    expect(result.output).toContain(`database check timed out after ${TIMEOUT_MS} ms`);
    expect(ms).toBeLessThan(LATE_MS);
  });
});

describe('storage check', () => {
  it('passes and leaves no probe file', async () => {
    const checks = deps({});
    const result = await checkStorage(checks);

    expect(result.status).toBe('pass');
    const utilization = result.measurements.find((item) => item.measurement === 'utilization');
    expect(utilization?.observedUnit).toBe('percent');
    expect(utilization?.observedValue).toBeGreaterThan(0);
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(checks.config.STORAGE_DIR)).toEqual([]);
  });

  it('warns above the storage threshold', async () => {
    const result = await checkStorage(deps({ HEALTH_STORAGE_MAX_PERCENT: '0.01' }));

    expect(result.status).toBe('warn');
    expect(result.output).toContain('full, above 0.01%');
  });

  it('fails when the folder cannot be created', async () => {
    // Root writes through any file mode, but no one can create a folder below a regular file.
    const blocker = join(folder, 'a-file');
    await writeFile(blocker, 'not a folder');
    const result = await checkStorage(deps({ STORAGE_DIR: join(blocker, 'storage') }));

    expect(result.status).toBe('fail');
    expect(result.output).toMatch(/ENOTDIR|EEXIST/);
  });
});

describe('email check', () => {
  it('passes against a running SMTP server', async () => {
    const result = await checkEmail(deps({ SMTP_URL: smtp.url }));

    expect(result.status).toBe('pass');
    expect(result.measurements[0]).toMatchObject({ measurement: 'responseTime', observedUnit: 'ms' });
  });

  it('fails when the SMTP server is stopped', async () => {
    const stopped = await startSmtpServer();
    await stopped.stop();
    const { result, ms } = await timed(() => checkEmail(deps({ SMTP_URL: stopped.url })));

    expect(result.status).toBe('fail');
    expect(result.output).toMatch(/ECONNREFUSED/);
    expect(ms).toBeLessThan(LATE_MS);
  });

  it('fails within its timeout when the SMTP server never greets', async () => {
    const { result, ms } = await timed(() => checkEmail(deps({ SMTP_URL: `smtp://127.0.0.1:${port(silentTcp)}` })));

    expect(result.status).toBe('fail');
    expect(result.output).toContain(`email check (smtp) timed out after ${TIMEOUT_MS} ms`);
    expect(ms).toBeLessThan(LATE_MS);
  });

  it('checks the outbox without SMTP_URL', async () => {
    expect((await checkEmail(deps({}))).status).toBe('pass');

    const blocker = join(folder, 'outbox-file');
    await writeFile(blocker, 'not a folder');
    const result = await checkEmail(deps({ OUTBOX_DIR: join(blocker, 'outbox') }));
    expect(result.status).toBe('fail');
  });
});

describe('resources and the whole run', () => {
  it('measures CPU and memory against thresholds', async () => {
    const [cpu, memory] = await checkResources(config({ HEALTH_MEMORY_MAX_PERCENT: '0.01', HEALTH_CPU_MAX_PERCENT: '100' }));

    expect(cpu!.component).toBe('cpu');
    expect(cpu!.status).toBe('pass');
    expect(cpu!.measurements[0]!.observedValue).toBeGreaterThanOrEqual(0);
    expect(memory!.component).toBe('memory');
    expect(memory!.status).toBe('warn');
    expect(memory!.output).toContain('memory use is');
  });

  it('runs hung checks in parallel within one timeout', async () => {
    const db = createDatabase(`postgres://127.0.0.1:${port(silentTcp)}/shipshape`, { max: 1, connectionTimeoutMillis: 3000 });
    cleanups.push(() => db.destroy().catch(() => {}));
    const checks = deps({ HEALTH_CHECK_URLS: `http://127.0.0.1:${port(silentHttp)}/`, SMTP_URL: `smtp://127.0.0.1:${port(silentTcp)}` }, db);
    const run = { ...checks, redis: undefined as never, logger: pino({ level: 'silent' }), emailQueue: undefined as never };

    const { result, ms } = await timed(() => runChecks(run));

    const status = Object.fromEntries(result.map((item) => [item.component, item.status]));
    expect(status).toMatchObject({ api: 'fail', database: 'fail', email: 'fail', storage: 'pass' });
    // Three hung targets in a row would take three timeouts.
    expect(ms).toBeLessThan(LATE_MS);
  });
});
