import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import type { Db } from '../../db/database.js';
import type { Logger } from '../../logger.js';
import type { JobSummary } from '../contract.js';
import type { Mailer } from '../email/mailer.js';
import { applyAlert, emailAlertDirectly, recordEmailedAlert, type HealthAlertDependencies } from './alerting.js';
import { checkApi, checkDatabase, checkEmail, checkStorage } from './checks.js';
import { insertHistory, pruneHistory, readStoredStates, upsertStates } from './persist.js';
import { checkResources } from './resources.js';
import { acquireLock, dropPending, healthKeys, loadStates, pushPending, readPending, releaseLock, saveStates, type PendingWrite } from './store.js';
import { evaluate, type Evaluation } from './transitions.js';
import { errorMessage, type ComponentResult, type ComponentState } from './types.js';

export interface HealthRunDependencies {
  db: Db;
  redis: Redis;
  mailer: Mailer;
  config: Config;
  logger: Logger;
  emailQueue: Queue;
}

// Pending writes moved to Postgres per round trip while catching up after an outage.
const FLUSH_CHUNK = 500;

/** Runs the checks in parallel; each has its own time limit, so one hung target delays no other. */
export async function runChecks(deps: HealthRunDependencies): Promise<ComponentResult[]> {
  const [api, database, storage, email, resources] = await Promise.all([
    checkApi(deps),
    checkDatabase(deps),
    checkStorage(deps),
    checkEmail(deps),
    checkResources(deps.config),
  ]);
  return [api, database, storage, email, ...resources];
}

function writesOf(evaluation: Evaluation, now: string): PendingWrite[] {
  const { state, change } = evaluation;
  const writes: PendingWrite[] = [];
  const row = { component: state.component, output: state.output, measurements: state.measurements, checked_at: now };
  if (change) writes.push({ type: 'history', row: { ...row, kind: 'change', status: change.to, previous_status: change.from } });
  if (evaluation.sample) writes.push({ type: 'history', row: { ...row, kind: 'sample', status: state.observed, previous_status: null } });
  for (const action of evaluation.alerts) writes.push({ type: 'alert', action });
  return writes;
}

/** Applies writes to Postgres in order; returns how many went through before the first failure, and that failure. */
async function applyWrites(deps: HealthAlertDependencies, writes: PendingWrite[]): Promise<{ done: number; error?: unknown }> {
  let done = 0;
  try {
    while (done < writes.length) {
      const write = writes[done]!;
      if (write.type === 'history') {
        // Consecutive history rows go in one insert.
        let end = done;
        while (end < writes.length && writes[end]!.type === 'history') end += 1;
        await insertHistory(deps.db, writes.slice(done, end).map((item) => (item as Extract<PendingWrite, { type: 'history' }>).row));
        done = end;
        continue;
      }
      if (write.action.type === 'raise' && write.emailedAt) await recordEmailedAlert(deps, write.action, write.emailedAt);
      else await applyAlert(deps, write.action);
      done += 1;
    }
    return { done };
  } catch (error) {
    return { done, error };
  }
}

/** Moves writes kept in Redis during an outage into Postgres, oldest first; false when Postgres failed again. */
async function flushPending(deps: HealthRunDependencies, alertDeps: HealthAlertDependencies, prefix: string): Promise<{ ok: boolean; flushed: number }> {
  let flushed = 0;
  for (;;) {
    const pending = await readPending(deps.redis, prefix, FLUSH_CHUNK);
    if (pending.length === 0) return { ok: true, flushed };
    const { done, error } = await applyWrites(alertDeps, pending);
    await dropPending(deps.redis, prefix, done);
    flushed += done;
    if (error) {
      deps.logger.warn({ err: error, flushed }, 'writing back health results kept in Redis failed; retrying next run');
      return { ok: false, flushed };
    }
  }
}

/** Keeps writes in Redis for later and emails new critical alerts directly, since Postgres cannot send them now. */
async function keepForLater(deps: HealthRunDependencies, alertDeps: HealthAlertDependencies, prefix: string, writes: PendingWrite[]): Promise<number> {
  let emailed = 0;
  for (const write of writes) {
    if (write.type !== 'alert' || write.action.type !== 'raise' || write.action.severity !== 'critical' || write.emailedAt) continue;
    try {
      write.emailedAt = await emailAlertDirectly(alertDeps, write.action);
      emailed += 1;
      deps.logger.warn({ key: write.action.key }, 'critical alert emailed directly: Postgres is unreachable');
    } catch (error) {
      // Without a sent time the alert goes through the alerts table, and its email, once Postgres is back.
      deps.logger.error({ err: error, key: write.action.key }, 'emailing a critical alert directly failed');
    }
  }
  await pushPending(deps.redis, prefix, writes);
  return emailed;
}

async function initialStates(deps: HealthRunDependencies, databaseUp: boolean): Promise<Map<string, ComponentState>> {
  const prefix = deps.config.QUEUE_PREFIX;
  const states = await loadStates(deps.redis, prefix);
  if (states.size > 0 || !databaseUp) return states;
  try {
    for (const state of await readStoredStates(deps.db, deps.config.HEALTH_CONFIRM_RUNS)) states.set(state.component, state);
  } catch (error) {
    deps.logger.warn({ err: error }, 'reading stored health state failed; starting from pass');
  }
  return states;
}

/**
 * Runs one health check: the checks, the state changes they confirm, the
 * history and the alerts. Redis keeps the current state, so the run works
 * while Postgres is down. Postgres writes that fail wait in Redis and go in,
 * in order, on the first run that reaches Postgres again.
 */
export async function runHealthCheck(deps: HealthRunDependencies): Promise<JobSummary> {
  const { config } = deps;
  const prefix = config.QUEUE_PREFIX;
  const started = performance.now();
  const token = randomUUID();
  // Runs never overlap: two could confirm the same change twice.
  if (!(await acquireLock(deps.redis, prefix, token, config.HEALTH_CHECK_TIMEOUT_MS * 2 + 10_000))) {
    return { skipped: 'another health-check run is in progress' };
  }

  try {
    const results = await runChecks(deps);
    const now = new Date();
    const databaseUp = results.find((result) => result.component === 'database')?.status !== 'fail';
    const states = await initialStates(deps, databaseUp);
    const rules = { confirmRuns: config.HEALTH_CONFIRM_RUNS, sampleMinutes: config.HEALTH_SAMPLE_MINUTES, flapWindowMinutes: config.HEALTH_FLAP_WINDOW_MINUTES };
    const evaluations = results.map((result) => evaluate(states.get(result.component), result, rules, now));
    await saveStates(deps.redis, prefix, evaluations.map((evaluation) => evaluation.state));

    const writes = evaluations.flatMap((evaluation) => writesOf(evaluation, now.toISOString()));
    const alertDeps: HealthAlertDependencies = { db: deps.db, emailQueue: deps.emailQueue, config, mailer: deps.mailer, logger: deps.logger };
    let written = false;
    let flushed = 0;
    let pruned = 0;
    let emailedDirectly = 0;
    if (databaseUp) {
      const flush = await flushPending(deps, alertDeps, prefix);
      flushed = flush.flushed;
      if (flush.ok) {
        const { done, error } = await applyWrites(alertDeps, writes);
        if (!error) {
          try {
            await upsertStates(deps.db, evaluations.map((evaluation) => evaluation.state));
            pruned = await pruneHistory(deps.db, config.HEALTH_HISTORY_MAX_ROWS);
            written = true;
          } catch (stateError) {
            deps.logger.warn({ err: stateError }, 'writing health state to Postgres failed; Redis keeps it');
          }
        } else {
          deps.logger.warn({ err: error }, 'writing health results to Postgres failed; keeping them in Redis');
          emailedDirectly = await keepForLater(deps, alertDeps, prefix, writes.slice(done));
        }
      } else {
        emailedDirectly = await keepForLater(deps, alertDeps, prefix, writes);
      }
    } else {
      emailedDirectly = await keepForLater(deps, alertDeps, prefix, writes);
    }

    const changes = evaluations.filter((evaluation) => evaluation.change?.from).map((evaluation) => `${evaluation.change!.component}: ${evaluation.change!.from} -> ${evaluation.change!.to}`);
    if (changes.length > 0) deps.logger.warn({ changes }, 'health status changed');
    return {
      status: Object.fromEntries(evaluations.map((evaluation) => [evaluation.state.component, evaluation.state.status])),
      observed: Object.fromEntries(results.map((result) => [result.component, result.status])),
      problems: Object.fromEntries(results.filter((result) => result.output).map((result) => [result.component, result.output])),
      changes,
      alerts: writes.filter((write) => write.type === 'alert').length,
      emailedDirectly,
      writtenToPostgres: written,
      pendingWritesFlushed: flushed,
      pendingWrites: await deps.redis.llen(healthKeys(prefix).pending),
      historyPruned: pruned,
      durationMs: Math.round(performance.now() - started),
    };
  } catch (error) {
    deps.logger.error({ err: error }, `health-check run failed: ${errorMessage(error)}`);
    throw error;
  } finally {
    await releaseLock(deps.redis, prefix, token).catch(() => {});
  }
}
