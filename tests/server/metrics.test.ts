import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.js';
import { runJobThroughApi } from '../helpers/jobs.js';
import { createTestDatabase, removeQueuePrefix, testConfig, TEST_REDIS_URL, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

const prefix = uniqueName('metrics');
const COMPONENTS = ['api', 'cpu', 'database', 'email', 'memory', 'storage'];

let database: TestDatabase;
let app: FastifyInstance;
let worker: WorkerProcess;
let events: QueueEvents;
let target: Server;
let folder: string;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** Parses a sample value; Go's ParseFloat, which Prometheus uses, takes Inf and NaN in any case (prom-client writes "Nan"). */
function parseSampleValue(text: string): number | undefined {
  const special = /^([+-]?)(inf|nan)$/i.exec(text);
  if (special?.[2]!.toLowerCase() === 'nan') return Number.NaN;
  if (special) return special[1] === '-' ? -Infinity : Infinity;
  const value = Number(text);
  return Number.isNaN(value) || text.trim() === '' ? undefined : value;
}

/**
 * Parses the Prometheus text format 0.0.4 strictly: every line is a comment,
 * a HELP or TYPE line, or a sample of a declared family with a numeric value.
 */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      expect(types.has(type[1]!), `${type[1]} declared once`).toBe(false);
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) {
      expect(line, 'a comment line is HELP or TYPE').toMatch(/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* /);
      continue;
    }
    const match = SAMPLE_LINE.exec(line);
    expect(match, `sample line: ${line}`).not.toBeNull();
    const [, name, labelText = '', rawValue] = match!;
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    let consumed = 0;
    for (let label = LABEL.exec(labelText); label; label = LABEL.exec(labelText)) {
      labels[label[1]!] = label[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      consumed = LABEL.lastIndex;
    }
    expect(consumed, `labels of ${line}`).toBe(labelText.length);
    const value = parseSampleValue(rawValue!);
    expect(value, `value of ${line}`).toBeDefined();
    const family = types.has(name!) ? name! : HISTOGRAM_SUFFIXES.map((suffix) => name!.slice(0, -suffix.length)).find((base, index) => name!.endsWith(HISTOGRAM_SUFFIXES[index]!) && types.get(base) === 'histogram');
    expect(family, `family of ${name}`).toBeDefined();
    samples.push({ name: name!, labels, value: value! });
  }
  return { types, samples };
}

function find(exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value));
}

async function scrape(): Promise<Exposition> {
  const response = await app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  expect(response.headers['content-type']).toContain('text/plain; version=0.0.4');
  return parseExposition(response.body);
}

beforeAll(async () => {
  database = await createTestDatabase('metrics');
  folder = await mkdtemp(join(tmpdir(), 'shipshape-metrics-'));
  target = createServer((_request, response) => response.writeHead(200).end());
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const settings = {
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    HEALTH_CHECK_URLS: `http://127.0.0.1:${(target.address() as AddressInfo).port}/health`,
    STORAGE_DIR: join(folder, 'storage'),
    OUTBOX_DIR: join(folder, 'outbox'),
    METRICS_PUSH_INTERVAL_MS: '200',
    HEALTH_CPU_MAX_PERCENT: '100',
    HEALTH_MEMORY_MAX_PERCENT: '100',
    HEALTH_STORAGE_MAX_PERCENT: '100',
    HEALTH_DB_CONNECTIONS_MAX_PERCENT: '100',
  };
  app = await buildTestApp({ config: testConfig(settings), logger: false });
  events = new QueueEvents('health', { connection: new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null }), prefix });
  await events.waitUntilReady();
  // The worker runs in its own OS process, so its job metrics reach /metrics only through Redis.
  worker = startWorkerProcess({ ...settings, LOG_LEVEL: 'info' }, ['--queues', 'health']);
  await worker.waitForLog('workers started');

  const user = await database.db.insertInto('users').values({ email: 'bosun@fleet.example', full_name: 'Bosun', role: 'crew' }).returning('id').executeTakeFirstOrThrow();
  const inAnHour = new Date(Date.now() + 3_600_000);
  await database.db
    .insertInto('user_sessions')
    .values([
      { user_id: user.id, expires_at: inAnHour },
      { user_id: user.id, expires_at: inAnHour },
      { user_id: user.id, expires_at: inAnHour, revoked_at: new Date() },
      { user_id: user.id, expires_at: new Date(Date.now() - 1000) },
    ])
    .execute();
}, 120_000);

afterAll(async () => {
  await worker?.stop('SIGTERM');
  await events?.close();
  await app?.close();
  if (target) await new Promise((resolve) => target.close(resolve));
  await removeQueuePrefix(prefix);
  if (folder) await rm(folder, { recursive: true, force: true });
  await database?.drop();
});

describe('health-check results over the API', () => {
  it('runs health-check and metrics-update in the worker', async () => {
    const health = await runJobThroughApi(app, { health: events }, 'health-check');
    expect(health.status).toEqual(Object.fromEntries(COMPONENTS.map((component) => [component, 'pass'])));

    const metrics = await runJobThroughApi(app, { health: events }, 'metrics-update');
    expect(metrics).toMatchObject({ activeSessions: 2, activeUsers: 1 });
    expect(metrics.workerMetricFamiliesPushed).toBeGreaterThanOrEqual(2);
  });

  it('lists components and changes at /api/health-checks', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/health-checks?limit=100' });

    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.status).toBe('pass');
    expect(body.components.map((component: { component: string }) => component.component)).toEqual(COMPONENTS);
    expect(body.components[0]).toMatchObject({ component: 'api', status: 'pass', observed: 'pass', output: null });
    expect(body.changes).toHaveLength(COMPONENTS.length);
    expect(body.changes[0]).toMatchObject({ status: 'pass', previousStatus: null });
  });

  it('rejects a bad query naming the field', async () => {
    const limit = await app.inject({ method: 'GET', url: '/api/health-checks?limit=0' });
    expect(limit.statusCode).toBe(400);
    expect(limit.json().message).toContain('querystring.limit');

    const status = await app.inject({ method: 'GET', url: '/api/health-checks?status=sideways' });
    expect(status.statusCode).toBe(400);
    expect(status.json().message).toContain('querystring.status must be one of pass, warn, fail');
  });

  it('reports the results in /health/ready as health+json', async () => {
    const response = await app.inject({ method: 'GET', url: '/health/ready' });

    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/health+json');
    const body = response.json();
    expect(body.status).toBe('pass');
    for (const [key, entries] of Object.entries(body.checks as Record<string, unknown[]>)) {
      expect(key).toMatch(/^[a-z-]+:[A-Za-z]+$/);
      expect(Array.isArray(entries)).toBe(true);
      expect(entries.length).toBeGreaterThan(0);
      for (const entry of entries as Array<Record<string, unknown>>) {
        expect(['pass', 'warn', 'fail']).toContain(entry.status);
        expect(Number.isNaN(Date.parse(String(entry.time)))).toBe(false);
        if ('observedValue' in entry) expect(typeof entry.observedValue).toBe('number');
        if ('observedUnit' in entry) expect(typeof entry.observedUnit).toBe('string');
        expect(Object.keys(entry).every((field) => ['componentId', 'status', 'observedValue', 'observedUnit', 'time', 'output'].includes(field))).toBe(true);
      }
    }
    for (const key of ['api:responseTime', 'database:responseTime', 'database:connections', 'storage:utilization', 'email:responseTime', 'cpu:utilization', 'memory:utilization', 'health-check:age']) {
      expect(body.checks[key], key).toBeDefined();
    }
    expect(body.checks['database:connections'][0].observedUnit).toBe('connections');
  });
});

describe('GET /metrics', () => {
  it('serves every named series in Prometheus text', async () => {
    await app.inject({ method: 'GET', url: '/api/jobs/health-check/424242' });
    await app.inject({ method: 'GET', url: '/api/no-such-route' });
    const exposition = await scrape();

    expect(find(exposition, 'shipshape_http_requests_total', { method: 'GET', route: '/api/health-checks', status_code: '200' })[0]?.value).toBeGreaterThanOrEqual(1);
    // The route pattern, never the raw URL with its id.
    expect(find(exposition, 'shipshape_http_requests_total', { route: '/api/jobs/:name/:id', status_code: '404' })).toHaveLength(1);
    expect(find(exposition, 'shipshape_http_requests_total', { route: 'unmatched', status_code: '404' })).toHaveLength(1);
    expect(exposition.samples.some((sample) => sample.labels.route?.includes('424242'))).toBe(false);
    expect(find(exposition, 'shipshape_http_request_duration_seconds_bucket', { route: '/api/health-checks', le: '+Inf' })[0]?.value).toBeGreaterThanOrEqual(1);

    expect(find(exposition, 'shipshape_queue_jobs', { queue: 'health', state: 'completed' })[0]?.value).toBe(2);
    expect(find(exposition, 'shipshape_queue_jobs', { queue: 'backups', state: 'waiting' })[0]?.value).toBe(0);
    for (const component of COMPONENTS) expect(find(exposition, 'shipshape_health_status', { component })[0]?.value, component).toBe(0);
    for (const resource of ['cpu', 'memory', 'db_connections', 'storage']) {
      expect(find(exposition, 'shipshape_resource_utilization_percent', { resource })[0]?.value, resource).toBeGreaterThanOrEqual(0);
      expect(find(exposition, 'shipshape_resource_threshold_percent', { resource })).toHaveLength(1);
    }
    expect(find(exposition, 'shipshape_database_connections', { kind: 'max' })[0]?.value).toBeGreaterThan(0);
    expect(find(exposition, 'shipshape_health_check_latency_seconds', { component: 'database' })[0]?.value).toBeGreaterThan(0);
    expect(find(exposition, 'shipshape_active_sessions')[0]?.value).toBe(2);
    expect(find(exposition, 'shipshape_active_users')[0]?.value).toBe(1);
    expect(find(exposition, 'shipshape_api_process_start_time_seconds')[0]?.value).toBeGreaterThan(0);
  });

  it('includes the job metrics a worker process pushed', async () => {
    const exposition = await waitFor('the worker metrics in a scrape', async () => {
      const current = await scrape();
      return find(current, 'shipshape_jobs_total', { queue: 'health', job: 'metrics-update', outcome: 'completed' }).length > 0 ? current : undefined;
    });

    expect(find(exposition, 'shipshape_jobs_total', { queue: 'health', job: 'health-check', outcome: 'completed' })[0]?.value).toBe(1);
    expect(exposition.types.get('shipshape_job_duration_seconds')).toBe('histogram');
    expect(find(exposition, 'shipshape_job_duration_seconds_count', { job: 'health-check', outcome: 'completed' })[0]?.value).toBe(1);
  });

  it('still answers while Redis is unreachable', async () => {
    const broken = await buildTestApp({ config: testConfig({ DATABASE_URL: database.url, REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: prefix }), logger: false });
    try {
      await broken.inject({ method: 'GET', url: '/health' });
      const response = await broken.inject({ method: 'GET', url: '/metrics' });

      expect(response.statusCode).toBe(200);
      const exposition = parseExposition(response.body);
      expect(find(exposition, 'shipshape_http_requests_total', { route: '/health', status_code: '200' })[0]?.value).toBe(1);
      expect(find(exposition, 'shipshape_metrics_scrape_errors_total', { source: 'queues' })[0]?.value).toBe(1);
      expect(find(exposition, 'shipshape_metrics_scrape_errors_total', { source: 'workers' })[0]?.value).toBe(1);
      expect(find(exposition, 'shipshape_queue_jobs')).toHaveLength(0);
    } finally {
      await broken.close();
    }
  });

  it('has every metric the Grafana dashboard queries', async () => {
    const dashboard = JSON.parse(await readFile(new URL('../../deploy/grafana/dashboards/shipshape.json', import.meta.url), 'utf8'));
    const exprs: string[] = [];
    const visit = (panels: Array<{ targets?: Array<{ expr?: string }>; panels?: unknown[] }>) => {
      for (const panel of panels) {
        for (const target of panel.targets ?? []) if (target.expr) exprs.push(target.expr);
        if (panel.panels) visit(panel.panels as typeof panels);
      }
    };
    visit(dashboard.panels);
    const used = new Set(exprs.flatMap((expr) => expr.match(/\bshipshape_[a-z0-9_]+/g) ?? []));
    const exposition = await scrape();
    const served = new Set(exposition.samples.map((sample) => sample.name));

    expect(exprs.length).toBeGreaterThanOrEqual(15);
    expect([...used].filter((name) => !served.has(name))).toEqual([]);
    for (const name of ['shipshape_http_request_duration_seconds_bucket', 'shipshape_http_requests_total', 'shipshape_active_users', 'shipshape_database_connections', 'shipshape_queue_jobs', 'shipshape_jobs_total', 'shipshape_health_status']) {
      expect(used.has(name), name).toBe(true);
    }
  });

  it('keeps the job label of job metrics through Prometheus', async () => {
    // Prometheus overwrites a scraped `job` label with its own unless honor_labels is set.
    const exposition = await scrape();
    const withJobLabel = exposition.samples.filter((sample) => 'job' in sample.labels);
    const prometheus = await readFile(new URL('../../deploy/prometheus/prometheus.yml', import.meta.url), 'utf8');

    expect(withJobLabel.length).toBeGreaterThan(0);
    expect(prometheus).toMatch(/^\s+honor_labels: true$/m);
  });
});
