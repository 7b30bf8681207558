import type { Redis } from 'ioredis';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { loadStates } from '../jobs/health/store.js';
import type { ComponentState } from '../jobs/health/types.js';
import { queueNames, type Queues } from '../queues/queues.js';
import { readDatabaseMetrics } from './database-metrics.js';
import { readWorkerMetrics } from './worker-push.js';

/*
 * The API's /metrics: HTTP metrics recorded here, gauges read at scrape time
 * (queue depth, health state, resource figures, database figures), then the
 * job metrics every worker pushed to Redis, added together across workers. docs/REFERENCE.md
 * lists every name; the Grafana dashboard test checks it uses no other.
 */

export interface ApiMetricsSources {
  queues: Queues;
  redis: Redis;
  config: Config;
  logger?: Pick<Logger, 'warn'>;
}

export interface ApiMetrics {
  observeRequest(labels: { method: string; route: string; status_code: string }, seconds: number): void;
  /** Returns the Prometheus text exposition of the API and every live worker. */
  scrape(): Promise<string>;
  contentType: string;
}

const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
const STATUS_VALUE = { pass: 0, warn: 1, fail: 2 } as const;

function measurement(state: ComponentState, name: string) {
  return state.measurements.filter((item) => item.measurement === name && typeof item.observedValue === 'number');
}

/** Creates the health gauges and returns the function that fills them from the state hash. */
function registerHealthGauges(registry: Registry, sources: ApiMetricsSources): () => Promise<void> {
  const { config, redis } = sources;
  const thresholds: Record<string, number> = {
    cpu: config.HEALTH_CPU_MAX_PERCENT,
    memory: config.HEALTH_MEMORY_MAX_PERCENT,
    db_connections: config.HEALTH_DB_CONNECTIONS_MAX_PERCENT,
    storage: config.HEALTH_STORAGE_MAX_PERCENT,
  };
  const status = new Gauge({ name: 'shipshape_health_status', help: 'Confirmed health of each component: 0 pass, 1 warn, 2 fail', labelNames: ['component'], registers: [registry] });
  const lastCheck = new Gauge({ name: 'shipshape_health_last_check_timestamp_seconds', help: 'Unix time of the latest health-check result per component', labelNames: ['component'], registers: [registry] });
  const latency = new Gauge({ name: 'shipshape_health_check_latency_seconds', help: 'Response time measured by the latest health check, per component (the slowest target for api)', labelNames: ['component'], registers: [registry] });
  const utilization = new Gauge({ name: 'shipshape_resource_utilization_percent', help: 'Latest measured use of cpu, memory, db_connections (of max_connections) and storage (of its file system)', labelNames: ['resource'], registers: [registry] });
  const dbConnections = new Gauge({ name: 'shipshape_database_connections', help: 'Connections to the database server (used) and its max_connections (max), from the latest health check', labelNames: ['kind'], registers: [registry] });
  new Gauge({
    name: 'shipshape_resource_threshold_percent',
    help: 'Warning threshold of each resource, from the HEALTH_*_MAX_PERCENT settings',
    labelNames: ['resource'],
    registers: [registry],
    collect() {
      for (const [resource, value] of Object.entries(thresholds)) this.set({ resource }, value);
    },
  });

  return async function fillHealthGauges(): Promise<void> {
    const states = await loadStates(redis, config.QUEUE_PREFIX);
    for (const gauge of [status, lastCheck, latency, utilization, dbConnections]) gauge.reset();
    for (const state of states.values()) {
      const component = state.component;
      status.set({ component }, STATUS_VALUE[state.status]);
      lastCheck.set({ component }, Date.parse(state.checkedAt) / 1000);
      const times = measurement(state, 'responseTime').map((item) => item.observedValue!);
      if (times.length > 0) latency.set({ component }, Math.max(...times) / 1000);
      const resourceName = component === 'database' ? 'db_connections' : component;
      const usage = measurement(state, component === 'database' ? 'connectionUtilization' : 'utilization')[0];
      if (usage && resourceName in thresholds) utilization.set({ resource: resourceName }, usage.observedValue!);
      for (const [kind, name] of [['used', 'connections'], ['max', 'maxConnections']] as const) {
        const value = component === 'database' ? measurement(state, name)[0] : undefined;
        if (value) dbConnections.set({ kind }, value.observedValue!);
      }
    }
  };
}

/** Creates the gauges of the database figures and returns the function that fills them from Redis. */
function registerDatabaseGauges(registry: Registry, sources: ApiMetricsSources): () => Promise<void> {
  const activeSessions = new Gauge({ name: 'shipshape_active_sessions', help: 'Live sessions (not revoked, not expired), as of the latest metrics-update run', registers: [registry] });
  const activeUsers = new Gauge({ name: 'shipshape_active_users', help: 'Distinct users with a live session, as of the latest metrics-update run', registers: [registry] });
  const openAlerts = new Gauge({ name: 'shipshape_open_alerts', help: 'Unresolved alerts by severity, as of the latest metrics-update run', labelNames: ['severity'], registers: [registry] });
  const emails = new Gauge({ name: 'shipshape_email_queue_messages', help: 'Rows of email_queue by status, as of the latest metrics-update run', labelNames: ['status'], registers: [registry] });
  const failedRuns = new Gauge({ name: 'shipshape_failed_runs_24h', help: 'maintenance_logs rows with result failure in the last 24 hours, as of the latest metrics-update run', registers: [registry] });
  const updatedAt = new Gauge({ name: 'shipshape_database_metrics_timestamp_seconds', help: 'Unix time when metrics-update last read the database figures', registers: [registry] });

  return async function fillDatabaseGauges(): Promise<void> {
    const figures = await readDatabaseMetrics(sources.redis, sources.config.QUEUE_PREFIX);
    for (const gauge of [activeSessions, activeUsers, openAlerts, emails, failedRuns, updatedAt]) gauge.reset();
    if (!figures) return;
    activeSessions.set(figures.activeSessions);
    activeUsers.set(figures.activeUsers);
    for (const severity of ['critical', 'high', 'medium', 'low']) openAlerts.set({ severity }, figures.openAlerts[severity] ?? 0);
    for (const [status, count] of Object.entries(figures.emails)) emails.set({ status }, count);
    failedRuns.set(figures.failedRuns24h);
    updatedAt.set(figures.at / 1000);
  };
}

/** Creates the API's registry, with its own default process metrics, HTTP metrics and scrape-time gauges. */
export function createApiMetrics(sources: ApiMetricsSources): ApiMetrics {
  const { logger } = sources;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'shipshape_api_' });

  const requests = new Counter({ name: 'shipshape_http_requests_total', help: 'API requests by method, route pattern and status code', labelNames: ['method', 'route', 'status_code'], registers: [registry] });
  const duration = new Histogram({
    name: 'shipshape_http_request_duration_seconds',
    help: 'API response time by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const queueJobs = new Gauge({ name: 'shipshape_queue_jobs', help: 'Jobs in each BullMQ queue by state, read at scrape time', labelNames: ['queue', 'state'], registers: [registry] });
  const fillQueueGauges = async () => {
    const counts = await Promise.all(queueNames.map((queue) => sources.queues[queue].getJobCounts(...JOB_STATES)));
    queueJobs.reset();
    queueNames.forEach((queue, index) => {
      for (const state of JOB_STATES) queueJobs.set({ queue, state }, counts[index]![state] ?? 0);
    });
  };
  // prom-client collects metrics in parallel, so one gauge's collect callback
  // cannot fill the others; scrape() runs these fillers first instead.
  const fillers = {
    queues: fillQueueGauges,
    health: registerHealthGauges(registry, sources),
    database: registerDatabaseGauges(registry, sources),
  };
  const scrapeErrors = new Counter({
    name: 'shipshape_metrics_scrape_errors_total',
    help: 'Scrapes in which a source of /metrics could not be read (queues, health, database, workers); its series keep their previous values',
    labelNames: ['source'],
    registers: [registry],
  });
  // Redis being down must not take the API's own metrics with it: each source fails alone.
  const attempt = async <T>(source: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      // Every source is in Redis, and BullMQ would wait for a connection without limit.
      if (sources.redis.status !== 'ready') throw new Error(`Redis is not connected (connection ${sources.redis.status})`);
      return await read();
    } catch (error) {
      scrapeErrors.inc({ source });
      logger?.warn({ err: error, source }, 'reading a metrics source failed');
      return undefined;
    }
  };

  // A worker that stopped pushing for this long has stopped; its figures leave the sum.
  const maxWorkerAgeMs = Math.max(30_000, sources.config.METRICS_PUSH_INTERVAL_MS * 6);

  return {
    contentType: registry.contentType,
    observeRequest(labels, seconds) {
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
    async scrape() {
      await Promise.all(Object.entries(fillers).map(([source, fill]) => attempt(source, fill)));
      const workers = (await attempt('workers', () => readWorkerMetrics(sources.redis, sources.config.QUEUE_PREFIX, maxWorkerAgeMs))) ?? [];
      const own = await registry.metrics();
      if (workers.length === 0) return own;
      // Only the workers' registries are added together: they hold the same
      // families, while the API's own (process metrics among them) stay as they are.
      const pushed = await AggregatorRegistry.aggregate(workers).metrics();
      return `${own}\n${pushed}`;
    },
  };
}
