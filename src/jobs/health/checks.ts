import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { Mailer } from '../email/mailer.js';
import { CheckTimeoutError, withTimeout } from './timeout.js';
import { errorMessage, roundMs, worstStatus, type CheckObject, type ComponentResult, type HealthStatus } from './types.js';

/*
 * The four service checks of the runbook: API endpoints, database, storage
 * and email. Each runs under its own HEALTH_CHECK_TIMEOUT_MS and never throws:
 * a failure or a timeout becomes a `fail` result with the reason as output.
 */

export interface CheckDependencies {
  config: Config;
  db: Db;
  mailer: Mailer;
}

/** Returns the URLs the api check requests: HEALTH_CHECK_URLS, or the API's own /health under BASE_PATH. */
export function healthCheckUrls(config: Config): string[] {
  const configured = config.HEALTH_CHECK_URLS.split(',').map((url) => url.trim()).filter(Boolean);
  if (configured.length > 0) return configured;
  // An API listening on every interface is reached on the loopback address.
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return [`http://${hostPart}:${config.PORT}${config.BASE_PATH}/health`];
}

function failed(component: string, measurement: string, time: string, error: unknown): ComponentResult {
  const output = errorMessage(error);
  return { component, status: 'fail', output, measurements: [{ measurement, status: 'fail', time, output }] };
}

/** Reduces measurements to one component result; the output lists what did not pass. */
function combine(component: string, measurements: CheckObject[]): ComponentResult {
  const status = worstStatus(measurements.map((measurement) => measurement.status));
  const problems = measurements.filter((measurement) => measurement.status !== 'pass' && measurement.output);
  return { component, status, output: problems.length > 0 ? problems.map((problem) => problem.output).join('; ') : null, measurements };
}

async function checkUrl(url: string, timeoutMs: number): Promise<CheckObject> {
  const time = new Date().toISOString();
  const started = performance.now();
  try {
    const statusCode = await withTimeout(`GET ${url}`, timeoutMs, async (signal) => {
      const response = await fetch(url, { signal, redirect: 'manual', headers: { accept: 'application/health+json, application/json' } });
      // The body is read so the connection is released; its content does not matter.
      await response.arrayBuffer();
      return response.status;
    });
    const observedValue = roundMs(performance.now() - started);
    const base = { measurement: 'responseTime', componentId: url, observedValue, observedUnit: 'ms', time };
    if (statusCode >= 200 && statusCode < 300) return { ...base, status: 'pass' };
    return { ...base, status: 'fail', output: `GET ${url} returned HTTP ${statusCode}` };
  } catch (error) {
    return { measurement: 'responseTime', componentId: url, status: 'fail', time, output: urlFailure(url, error) };
  }
}

/** Describes a failed request with its URL and the network reason, such as ECONNREFUSED, that fetch keeps in `cause`. */
function urlFailure(url: string, error: unknown): string {
  if (error instanceof CheckTimeoutError) return errorMessage(error);
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  let reason: string | null = null;
  if (typeof cause?.code === 'string') reason = cause.code;
  else if (typeof cause?.message === 'string') reason = cause.message;
  return `GET ${url} failed: ${errorMessage(error)}${reason ? ` (${reason})` : ''}`;
}

/** Requests each URL in parallel; any that fails or times out fails the component. */
export async function checkApi(deps: CheckDependencies): Promise<ComponentResult> {
  const urls = healthCheckUrls(deps.config);
  const measurements = await Promise.all(urls.map((url) => checkUrl(url, deps.config.HEALTH_CHECK_TIMEOUT_MS)));
  return combine('api', measurements);
}

/**
 * Runs `select 1` under a statement timeout and reads the connection count
 * against max_connections; above HEALTH_DB_CONNECTIONS_MAX_PERCENT it warns.
 */
export async function checkDatabase(deps: CheckDependencies): Promise<ComponentResult> {
  const { config } = deps;
  const time = new Date().toISOString();
  const started = performance.now();
  try {
    const figures = await withTimeout('database check', config.HEALTH_CHECK_TIMEOUT_MS, () =>
      deps.db.transaction().execute(async (trx) => {
        await sql`set local statement_timeout = ${sql.raw(String(config.HEALTH_CHECK_TIMEOUT_MS))}`.execute(trx);
        const roundTripStart = performance.now();
        await sql`select 1`.execute(trx);
        const roundTripMs = performance.now() - roundTripStart;
        const { rows } = await sql<{ used: number; max: number }>`
          select (select count(*) from pg_stat_activity)::int as used,
                 current_setting('max_connections')::int as max`.execute(trx);
        return { roundTripMs, used: rows[0]!.used, max: rows[0]!.max };
      }),
    );
    const usagePercent = Math.round((figures.used / figures.max) * 1000) / 10;
    const overLimit = usagePercent > config.HEALTH_DB_CONNECTIONS_MAX_PERCENT;
    const connectionStatus: HealthStatus = overLimit ? 'warn' : 'pass';
    return combine('database', [
      { measurement: 'responseTime', observedValue: roundMs(performance.now() - started), observedUnit: 'ms', status: 'pass', time },
      { measurement: 'roundTrip', observedValue: roundMs(figures.roundTripMs), observedUnit: 'ms', status: 'pass', time },
      { measurement: 'connections', observedValue: figures.used, observedUnit: 'connections', status: connectionStatus, time },
      { measurement: 'maxConnections', observedValue: figures.max, observedUnit: 'connections', status: 'pass', time },
      {
        measurement: 'connectionUtilization',
        observedValue: usagePercent,
        observedUnit: 'percent',
        status: connectionStatus,
        time,
        ...(overLimit ? { output: `${figures.used} of ${figures.max} connections in use, above ${config.HEALTH_DB_CONNECTIONS_MAX_PERCENT}%` } : {}),
      },
    ]);
  } catch (error) {
    return failed('database', 'responseTime', time, error);
  }
}

/**
 * Writes, reads back and deletes a probe file in STORAGE_DIR, then reads the
 * file system's use; above HEALTH_STORAGE_MAX_PERCENT it warns.
 */
export async function checkStorage(deps: CheckDependencies): Promise<ComponentResult> {
  const { config } = deps;
  const time = new Date().toISOString();
  const started = performance.now();
  const folder = resolve(config.STORAGE_DIR);
  try {
    const usage = await withTimeout('storage check', config.HEALTH_CHECK_TIMEOUT_MS, async () => {
      await mkdir(folder, { recursive: true });
      const probe = join(folder, `.health-probe-${randomUUID()}`);
      const content = `health probe ${time}`;
      try {
        await writeFile(probe, content);
        const readBack = await readFile(probe, 'utf8');
        if (readBack !== content) throw new Error(`storage probe ${probe} read back different content`);
      } finally {
        await rm(probe, { force: true });
      }
      const stats = await statfs(folder);
      return stats.blocks > 0 ? ((stats.blocks - stats.bavail) / stats.blocks) * 100 : 0;
    });
    const usagePercent = Math.round(usage * 10) / 10;
    const overLimit = usagePercent > config.HEALTH_STORAGE_MAX_PERCENT;
    return combine('storage', [
      { measurement: 'responseTime', observedValue: roundMs(performance.now() - started), observedUnit: 'ms', status: 'pass', time },
      {
        measurement: 'utilization',
        observedValue: usagePercent,
        observedUnit: 'percent',
        status: overLimit ? 'warn' : 'pass',
        time,
        ...(overLimit ? { output: `file system of ${folder} is ${usagePercent}% full, above ${config.HEALTH_STORAGE_MAX_PERCENT}%` } : {}),
      },
    ]);
  } catch (error) {
    return failed('storage', 'responseTime', time, error);
  }
}

/** With SMTP_URL set, opens an SMTP connection (and logs in); otherwise writes a probe into the outbox. */
export async function checkEmail(deps: CheckDependencies): Promise<ComponentResult> {
  const time = new Date().toISOString();
  const started = performance.now();
  try {
    await withTimeout(`email check (${deps.mailer.kind})`, deps.config.HEALTH_CHECK_TIMEOUT_MS, () => deps.mailer.verify());
    return combine('email', [
      { measurement: 'responseTime', observedValue: roundMs(performance.now() - started), observedUnit: 'ms', status: 'pass', time },
    ]);
  } catch (error) {
    return failed('email', 'responseTime', time, error);
  }
}
