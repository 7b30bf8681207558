import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';
import { connectionSettings, createDatabase } from '../src/db/database.js';
import { ensureDatabase, migrateToLatest } from '../src/db/migrate.js';
import { createToken } from '../src/server/auth/token-store.js';
import { removeRedisKeys } from '../tests/helpers/services.js';

/*
 * API overhead benchmark: POST /api/jobs/token-cleanup on the API as deployed
 * against a bare Fastify server whose one route only calls queue.add, under
 * the same autocannon load.
 *
 *   npm run bench:api -- [--connections 50] [--duration 10] [--log-level info] [--database-url URL] [--redis-url URL]
 *
 * The deployed path carries a stored admin token (checked through the token
 * cache), the rate limit in Redis (its limit set far above the load),
 * helmet, route and payload validation, and pino logging on stdout at
 * --log-level (info, as deployed; warn leaves out the per-request lines).
 *
 * Each server runs in a child process of its own, one after the other, and
 * autocannon runs here: a server that shared its event loop with the load
 * generator would be measured with autocannon's own work on top. Each server
 * first gets a 2-second warm-up run, so the JIT has compiled the hot path, and
 * its queue keys are deleted after its run.
 */

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    'log-level': { type: 'string', default: 'info' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgres://127.0.0.1:5432/shipshape_bench_api' },
    'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
  },
});

function positiveInteger(flag: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${flag} must be a positive integer (got "${value}")`);
  return parsed;
}

const connections = positiveInteger('connections', values.connections);
const duration = positiveInteger('duration', values.duration);
const databaseUrl = values['database-url'];
const redisUrl = values['redis-url'];
const serverEntry = fileURLToPath(new URL('./api-server.ts', import.meta.url));
const WARM_UP_SECONDS = 2;

interface Measurement {
  requestsPerSecond: number;
  p99: number;
  requests: number;
  errors: number;
}

async function startServer(mode: 'full' | 'bare', env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(serverEntry, [mode], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env, REDIS_URL: redisUrl },
    // The deployed server's log lines go to /dev/null: written and paid for, not kept.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [message] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`the ${mode} server exited with code ${code} before it listened`);
    }),
  ])) as [{ port: number }];
  return { child, port: message.port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

async function load(port: number, token: string | undefined, seconds: number): Promise<Measurement> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/api/jobs/token-cleanup`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ data: { dryRun: true } }),
  });
  return {
    requestsPerSecond: result.requests.average,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function measure(mode: 'full' | 'bare', env: Record<string, string>, token: string | undefined, prefix: string): Promise<Measurement> {
  const { child, port } = await startServer(mode, env);
  try {
    await load(port, token, WARM_UP_SECONDS);
    const measured = await load(port, token, duration);
    if (measured.errors > 0) throw new Error(`the ${mode} server returned an error or no response for ${measured.errors} requests`);
    return measured;
  } finally {
    await stopServer(child);
    const redis = new Redis(redisUrl);
    try {
      await removeRedisKeys(redis, prefix);
    } finally {
      redis.disconnect();
    }
  }
}

async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client(connectionSettings(new URL('/postgres', url).toString()));
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
  } finally {
    await admin.end();
  }
}

const suffix = randomBytes(4).toString('hex');
const benchDatabaseUrl = `${databaseUrl}_${suffix}`;
await ensureDatabase(benchDatabaseUrl);
try {
  const db = createDatabase(benchDatabaseUrl, { max: 1 });
  await migrateToLatest(db);
  const { token } = await createToken(db, { name: 'bench', role: 'admin', createdBy: 'bench' });
  await db.destroy();

  const barePrefix = `shipshape_bench_api_bare_${suffix}`;
  const fullPrefix = `shipshape_bench_api_full_${suffix}`;
  console.log(`autocannon: ${connections} connections, ${duration} s per server after a ${WARM_UP_SECONDS} s warm-up`);

  const bare = await measure('bare', { QUEUE_PREFIX: barePrefix }, undefined, barePrefix);
  const full = await measure(
    'full',
    { DATABASE_URL: benchDatabaseUrl, QUEUE_PREFIX: fullPrefix, LOG_LEVEL: values['log-level'], RATE_LIMIT_MAX: '10000000' },
    token,
    fullPrefix,
  );

  const row = (label: string, m: Measurement) =>
    `${label.padEnd(34)} ${m.requestsPerSecond.toFixed(0).padStart(8)} req/s   p99 ${String(m.p99).padStart(4)} ms   (${m.requests} requests)`;
  console.log(row('bare Fastify + queue.add', bare));
  console.log(row('Shipshape API as deployed', full));
  console.log(`ratio of requests/s: ${(full.requestsPerSecond / bare.requestsPerSecond).toFixed(2)}x of the bare server`);
  console.log(`ratio of p99 latency: ${(full.p99 / Math.max(bare.p99, 1)).toFixed(2)}x of the bare server`);
} finally {
  await dropDatabase(benchDatabaseUrl);
}
