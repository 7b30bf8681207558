import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiClient, type ApiClient } from '../../src/cli/api-client.js';
import { CliError, ExitCode } from '../../src/cli/errors.js';
import { maintenanceScripts, runScript } from '../../src/cli/maintenance-scripts.js';
import { resolveSettings } from '../../src/cli/settings.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { TEST_ADMIN_TOKEN, buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cliEntry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CLI_DEADLINE_MS = 120_000;
const STEP_TIMEOUT_MS = 60_000;

const prefix = uniqueName('scripts');
let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let client: ApiClient;
let apiUrl: string;
let scratch: string;

/** Returns a port on 127.0.0.1 with no listener. NOTE: another process could bind it before the test uses it. */
async function findClosedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function runCli(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
    cwd: repoRoot,
    env: { ...process.env, SHIPSHAPE_URL: apiUrl, SHIPSHAPE_TOKEN: TEST_ADMIN_TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: CLI_DEADLINE_MS,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code: code ?? signal ?? 'unknown', stdout, stderr };
}

/** Job names of the maintenance_logs rows written after row `afterId`, in order. */
async function jobsRunAfter(afterId: number): Promise<string[]> {
  const rows = await database.db.selectFrom('maintenance_logs').select('job_name').where('id', '>', afterId).orderBy('id').execute();
  return rows.map((row) => row.job_name).filter((name) => name !== 'send-email');
}

async function lastLogId(): Promise<number> {
  const row = await database.db.selectFrom('maintenance_logs').select('id').orderBy('id', 'desc').executeTakeFirst();
  return row?.id ?? 0;
}

beforeAll(async () => {
  database = await createTestDatabase('scripts');
  scratch = await mkdtemp(join(tmpdir(), 'shipshape-scripts-'));
  const closedPort = await findClosedPort();
  const folders = { STORAGE_DIR: join(scratch, 'storage'), BACKUP_DIR: join(scratch, 'backups'), LOG_DIR: join(scratch, 'log'), OUTBOX_DIR: join(scratch, 'outbox') };
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, ...folders });

  app = await buildTestApp({ config, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  client = createApiClient(resolveSettings(apiUrl, { SHIPSHAPE_TOKEN: TEST_ADMIN_TOKEN }));

  // test-email fails at once against a closed port, which gives a real failing step.
  const workerConfig = testConfig({
    DATABASE_URL: database.url,
    QUEUE_PREFIX: prefix,
    SMTP_URL: `smtp://127.0.0.1:${closedPort}`,
    HEALTH_CHECK_URLS: `${apiUrl}/health`,
    ...folders,
  });
  workers = await startTestWorkers({ db: database.db, config: workerConfig, servedQueues: ['maintenance', 'email', 'health', 'backups'], definitions: jobDefinitions });
});

afterAll(async () => {
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('runScript', () => {
  it('runs the steps in order and waits for each', async () => {
    const before = await lastLogId();
    const lines: string[] = [];

    const outcomes = await runScript(
      client,
      [{ job: 'token-cleanup' }, { job: 'security-review', data: { dryRun: true } }, { job: 'weekly-report', data: { email: false } }],
      { stepTimeoutMs: STEP_TIMEOUT_MS, report: (line) => lines.push(line) },
    );

    expect(outcomes.map((outcome) => [outcome.job, outcome.state])).toEqual([
      ['token-cleanup', 'completed'],
      ['security-review', 'completed'],
      ['weekly-report', 'completed'],
    ]);
    expect(await jobsRunAfter(before)).toEqual(['token-cleanup', 'security-review', 'weekly-report']);
    expect(lines[0]).toBe('step 1/3 (token-cleanup): starting');
    expect(lines[5]).toMatch(/^step 3\/3 \(weekly-report\): completed \d+/);
  });

  it('stops at a job that does not exist', async () => {
    const before = await lastLogId();

    const failure = await runScript(client, [{ job: 'token-cleanup' }, { job: 'no-such-job' }, { job: 'weekly-report', data: { email: false } }], {
      stepTimeoutMs: STEP_TIMEOUT_MS,
      report: () => {},
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).exitCode).toBe(ExitCode.jobFailed);
    expect((failure as CliError).message).toBe('step 2/3 (no-such-job) failed: job no-such-job does not exist on this Shipshape API; no later step ran');
    expect(await jobsRunAfter(before)).toEqual(['token-cleanup']);
  });

  it('stops at a failed job with its reason', async () => {
    const before = await lastLogId();

    const failure = await runScript(client, [{ job: 'test-email', data: { to: 'ops@localhost' } }, { job: 'token-cleanup' }], {
      stepTimeoutMs: STEP_TIMEOUT_MS,
      report: () => {},
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).exitCode).toBe(ExitCode.jobFailed);
    expect((failure as CliError).message).toMatch(/^step 1\/2 \(test-email\) failed: test-email \S+ failed after \d+ of \d+ attempts: .+; no later step ran$/);
    expect(await jobsRunAfter(before)).not.toContain('token-cleanup');
  });
});

describe('shipshape script', () => {
  it('runs the weekly script or names its first missing job', async () => {
    const known = new Set(jobDefinitions.map((definition) => definition.name));
    const steps = maintenanceScripts.weekly!.steps;
    const missing = steps.findIndex((step) => !known.has(step.job));

    const result = await runCli(['script', 'weekly', '--step-timeout', '60']);

    expect(result.stderr).toContain(`step 1/${steps.length} (${steps[0]!.job}): starting`);
    if (missing === -1) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('weekly maintenance completed');
    } else {
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toContain(`step ${missing + 1}/${steps.length} (${steps[missing]!.job}) failed: job ${steps[missing]!.job} does not exist`);
    }
  });

  it('rejects an unknown script', async () => {
    const result = await runCli(['script', 'hourly']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown script "hourly": expected daily or weekly');
  });

  it('is wired as npm scripts', async () => {
    const { readFile } = await import('node:fs/promises');
    const { scripts } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(scripts['maintenance:daily']).toBe('node src/cli/bin.js script daily');
    expect(scripts['maintenance:weekly']).toBe('node src/cli/bin.js script weekly');
  });
});
