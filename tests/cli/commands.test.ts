import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiUnreachableError, type ApiClient } from '../../src/cli/api-client.js';
import type { JobRun } from '../../src/cli/api-types.js';
import { namePayloadFlags, parseRunOperands } from '../../src/cli/payload-flags.js';
import { checkNpmOwnedOptions } from '../../src/cli/program.js';
import { waitForRun } from '../../src/cli/wait-for-run.js';
import { describeProgress } from '../../src/cli/progress.js';
import { flatten, renderResult, renderTable } from '../../src/cli/table.js';
import { jobDefinitions } from '../../src/jobs/registry.js';
import { syncSchedules } from '../../src/queues/schedule-sync.js';
import { TEST_ADMIN_TOKEN, buildTestApp } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, testConfig, uniqueName, type TestDatabase } from '../helpers/services.js';
import { startTestWorkers, type TestWorkers } from '../helpers/workers.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cliEntry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const CLI_DEADLINE_MS = 45_000;

const prefix = uniqueName('cli');
let database: TestDatabase;
let app: FastifyInstance;
let workers: TestWorkers;
let apiUrl: string;
let closedPort: number;

interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Returns a port on 127.0.0.1 with no listener, by binding port 0 and closing the server again.
 * NOTE: another process could bind the port in between, which would break the tests that use it.
 */
async function findClosedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs the CLI as a child process, the way an operator does, and kills it after CLI_DEADLINE_MS. */
async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
    cwd: repoRoot,
    env: { ...process.env, SHIPSHAPE_URL: apiUrl, SHIPSHAPE_TOKEN: TEST_ADMIN_TOKEN, ...env },
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

const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

beforeAll(async () => {
  database = await createTestDatabase('cli');
  closedPort = await findClosedPort();
  // test-email then fails at once with a refused connection instead of writing to an outbox.
  const config = testConfig({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, SMTP_URL: `smtp://127.0.0.1:${closedPort}` });

  app = await buildTestApp({ config, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  // One scheduler that fires on January 1 only, so it enqueues nothing while the tests run.
  await syncSchedules({
    queues: app.queues,
    calendar: [{ job: 'token-cleanup', pattern: '0 3 1 1 *', description: 'yearly on January 1 at 03:00 UTC' }],
    queueOf: (job) => app.registry.queueOf(job),
    logger: pino({ level: 'silent' }),
  });

  workers = await startTestWorkers({ db: database.db, config, servedQueues: ['maintenance', 'email'], definitions: jobDefinitions });

  const hour = 3_600_000;
  await database.db
    .insertInto('token_blacklist')
    .values([
      { jti: 'expired-1', reason: 'logout', expires_at: new Date(Date.now() - 2 * hour) },
      { jti: 'expired-2', reason: 'logout', expires_at: new Date(Date.now() - 3 * hour) },
      { jti: 'expired-3', reason: 'logout', expires_at: new Date(Date.now() - 4 * hour) },
      { jti: 'valid-1', reason: 'logout', expires_at: new Date(Date.now() + hour) },
    ])
    .execute();
});

afterAll(async () => {
  await workers?.close();
  await app?.close();
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('payload field flags', () => {
  it('names payload fields as flags', () => {
    expect(namePayloadFlags('expected one of data.on or data.off; data.batchSize: too small; data.steps.first bad')).toBe(
      'expected one of --on or --off; --batch-size: too small; data.steps.first bad',
    );
  });

  it('accepts npm options given after --', () => {
    const env = { npm_lifecycle_event: 'maintenance:clean-sessions', npm_config_dry_run: 'true' };
    expect(() => checkNpmOwnedOptions(['node', 'bin.js', 'run', 'clean-sessions', '--dry-run'], env)).not.toThrow();
    expect(() => checkNpmOwnedOptions(['node', 'bin.js', 'run', 'clean-sessions'], env)).toThrow(/npm took --dry-run/);
    expect(() => checkNpmOwnedOptions(['node', 'bin.js', 'jobs'], { npm_lifecycle_event: 'shipshape', npm_config_json: 'true' })).toThrow(/npm took --json/);
    expect(() => checkNpmOwnedOptions(['node', 'bin.js', 'jobs'], { npm_config_dry_run: 'true' })).not.toThrow();
  });

  it('keeps waiting while the API is away', async () => {
    let polls = 0;
    const problems: string[] = [];
    const finished = { state: 'completed', finishedAt: new Date().toISOString() } as JobRun;
    const client = {
      baseUrl: 'http://127.0.0.1:9',
      async get() {
        polls += 1;
        if (polls <= 2) throw new ApiUnreachableError('cannot reach the Shipshape API at http://127.0.0.1:9 (ECONNREFUSED)');
        return finished;
      },
      async post() {
        throw new Error('not used');
      },
    } as ApiClient;

    const run = await waitForRun(client, 'cache-stats', '7', { timeoutMs: 10_000, onPollFailure: (message) => problems.push(message) });

    expect(run).toBe(finished);
    expect(polls).toBe(3);
    expect(problems).toEqual(['cannot reach the Shipshape API at http://127.0.0.1:9 (ECONNREFUSED); still waiting for cache-stats 7, which goes on']);
  });

  it('maps flags to camelCase fields', () => {
    const parsed = parseRunOperands(['token-cleanup', '--batch-size', '500', '--dry-run-label=x', '--to', 'a@b.c', '--force']);

    expect(parsed.job).toBe('token-cleanup');
    expect(parsed.fields).toEqual({ batchSize: 500, dryRunLabel: 'x', to: 'a@b.c', force: true });
  });

  it('accepts flags before the job name', () => {
    const parsed = parseRunOperands(['--batch-size', '-5', 'token-cleanup']);

    expect(parsed.job).toBe('token-cleanup');
    expect(parsed.fields).toEqual({ batchSize: -5 });
  });

  it('rejects a field given twice', () => {
    expect(() => parseRunOperands(['token-cleanup', '--batch-size', '1', '--batchSize', '2'])).toThrow('data.batchSize is given twice');
  });

  it('rejects a second operand', () => {
    expect(() => parseRunOperands(['token-cleanup', 'extra'])).toThrow('unexpected argument "extra"');
  });
});

describe('table output', () => {
  it('renders lists of flat objects as tables', () => {
    const text = renderResult({ admins: 2, accounts: [{ id: 1, email: 'a@x', dormant: false }, { id: 2, email: 'b@x', dormant: true }] }, 'result');

    expect(text).toBe(['field   value', 'admins  2', '', 'accounts', 'id  email  dormant', '1   a@x    false', '2   b@x    true'].join('\n'));
  });

  it('flattens nested objects to dotted keys', () => {
    const entries = flatten({ steps: { audit_logs: { rows: 3 } }, accepted: ['a', 'b'], list: [{ n: 1 }] }, '');

    expect(entries).toEqual([
      ['steps.audit_logs.rows', 3],
      ['accepted', ['a', 'b']],
      ['list.0.n', 1],
    ]);
  });

  it('aligns columns', () => {
    expect(renderTable(['id', 'name'], [[1, 'token-cleanup'], [10, null]])).toBe('id  name\n1   token-cleanup\n10  -');
  });

  it('describes number and object progress', () => {
    expect(describeProgress(50)).toBe('[##########----------] 50%');
    expect(describeProgress({ step: 'audit_logs', rows: 200 })).toBe('step=audit_logs rows=200');
  });
});

describe('shipshape run', () => {
  it('waits for a dry run and prints its summary', async () => {
    const result = await runCli(['run', 'token-cleanup', '--dry-run', '--wait']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^token-cleanup \S+ completed in /m);
    expect(result.stdout).toMatch(/^steps\.token_blacklist\.rows\s+3$/m);
    expect(result.stdout).toMatch(/^dryRun\s+true$/m);
    const remaining = await database.db.selectFrom('token_blacklist').select('jti').execute();
    expect(remaining).toHaveLength(4);
  });

  it('prints the finished run as JSON', async () => {
    const result = await runCli(['run', 'token-cleanup', '--wait', '--json', '--data', '{"dryRun": true}']);

    expect(result.code, result.stderr).toBe(0);
    const run = JSON.parse(result.stdout);
    expect(run.state).toBe('completed');
    expect(run.payload).toEqual({ dryRun: true });
    expect(run.result.steps.token_blacklist.rows).toBe(3);
  });

  it('exits without waiting given --no-wait', async () => {
    const result = await runCli(['run', 'token-cleanup', '--dry-run', '--no-wait', '--json']);

    expect(result.code, result.stderr).toBe(0);
    const enqueued = JSON.parse(result.stdout);
    expect(enqueued).toMatchObject({ name: 'token-cleanup', queue: 'maintenance' });
    expect(enqueued.statusUrl).toBe(`/api/jobs/token-cleanup/${enqueued.id}`);
  });

  it('rejects an invalid payload field', async () => {
    const result = await runCli(['run', 'token-cleanup', '--batch-size', '0']);

    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: .*--batch-size/);
    expect(result.stdout).toBe('');
  });

  it('refuses a --dry-run that npm kept', async () => {
    const before = await database.db.selectFrom('maintenance_logs').select('id').where('job_name', '=', 'clean-sessions').execute();
    const result = await runCli(['run', 'clean-sessions', '--wait'], { npm_lifecycle_event: 'maintenance:clean-sessions', npm_config_dry_run: 'true' });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('npm took --dry-run as its own option');
    expect(result.stderr).toContain('npm run maintenance:clean-sessions -- --dry-run');
    const after = await database.db.selectFrom('maintenance_logs').select('id').where('job_name', '=', 'clean-sessions').execute();
    expect(after).toHaveLength(before.length);
  });

  it('rejects a token given as a flag without echoing it', async () => {
    const result = await runCli(['run', 'cache-stats', '--token', 'ssk_not_a_real_token_value']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SHIPSHAPE_TOKEN');
    expect(result.stderr).not.toContain('ssk_not_a_real_token_value');
  });

  it('rejects an unknown job', async () => {
    const result = await runCli(['run', 'galley-scrub', '--wait']);

    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain('error: Job "galley-scrub" does not exist; known jobs: ');
    expect(result.stderr).toContain('token-cleanup');
  });

  it('prints the API error body with --json', async () => {
    const result = await runCli(['run', 'galley-scrub', '--json']);

    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ statusCode: 404, code: 'JOB_NOT_FOUND' });
  });

  it('rejects invalid JSON in --data', async () => {
    const result = await runCli(['run', 'token-cleanup', '--data', '{dryRun: true']);

    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: --data is not valid JSON/);
  });

  it('rejects a field in both --data and a flag', async () => {
    const result = await runCli(['run', 'token-cleanup', '--data', '{"batchSize": 10}', '--batch-size', '20']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('data.batchSize is given both in --data and as --batch-size');
  });

  it('exits 1 with the reason when the job fails', async () => {
    const result = await runCli(['run', 'test-email', '--to', 'nobody@127.0.0.1', '--wait']);

    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^test-email \S+ failed/m);
    const last = lines(result.stderr).at(-1) ?? '';
    expect(last).toMatch(/^error: test-email \S+ failed after 1 of \d+ attempts: Test message to nobody@127\.0\.0\.1 failed/);
    expect(last).toContain('ECONNREFUSED');
  });

  it('exits 3 when the wait times out', async () => {
    const result = await runCli(['run', 'token-cleanup', '--dry-run', '--delay', '600000', '--wait', '--timeout', '0.5']);

    expect(result.code, result.stderr).toBe(3);
    const last = lines(result.stderr).at(-1) ?? '';
    expect(last).toMatch(/^error: timed out after 0\.5 s waiting for token-cleanup \S+ \(last state: delayed\)/);
  });
});

describe('shipshape status', () => {
  it('shows state, result and log lines of a run', async () => {
    const enqueued = JSON.parse((await runCli(['run', 'token-cleanup', '--dry-run', '--wait', '--json'])).stdout);

    const result = await runCli(['status', 'token-cleanup', enqueued.id]);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^state:\s+completed$/m);
    expect(result.stdout).toMatch(/^attempts:\s+1 of 3$/m);
    expect(result.stdout).toMatch(/^steps\.token_blacklist\.rows\s+3$/m);
    expect(result.stdout).toContain('  token_blacklist: would delete 3 rows');
  });

  it('reports a missing run', async () => {
    const result = await runCli(['status', 'token-cleanup', '999999']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: No run 999999 of token-cleanup exists');
  });
});

describe('listing commands', () => {
  it('lists token-cleanup in the job catalog', async () => {
    const result = await runCli(['jobs']);

    expect(result.code, result.stderr).toBe(0);
    expect(lines(result.stdout)[0]).toMatch(/^name\s+queue\s+role\s+schedule\s+description$/);
    expect(result.stdout).toMatch(/^token-cleanup\s+maintenance\s+admin\s+daily at 03:00 UTC\s+Remove expired/m);
  });

  it('prints the job catalog as JSON', async () => {
    const result = await runCli(['--json', 'jobs']);

    expect(result.code, result.stderr).toBe(0);
    const jobs = JSON.parse(result.stdout) as Array<{ name: string }>;
    expect(jobs.map((job) => job.name)).toContain('token-cleanup');
  });

  it('lists the job schedulers', async () => {
    const result = await runCli(['schedules']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^token-cleanup\s+maintenance\s+0 3 1 1 \* \(UTC\)\s+\d{4}-01-01T03:00:00\.000Z/m);
  });

  it('lists emails by status', async () => {
    await database.db
      .insertInto('email_queue')
      .values({ recipient: 'crew@127.0.0.1', subject: 'Shift roster', body_text: 'roster', status: 'failed', last_error: '550 mailbox unavailable' })
      .execute();

    const result = await runCli(['emails', '--status', 'failed', '--limit', '5']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\d+\s+failed\s+0\s+\S+\s+crew@127\.0\.0\.1\s+Shift roster\s+550 mailbox unavailable$/m);
  });

  it('rejects an unknown email status', async () => {
    const result = await runCli(['emails', '--status', 'lost']);

    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toContain("error: option '--status <status>' argument 'lost' is invalid. Allowed choices are pending, sending, sent, failed.");
  });

  it('lists alerts by severity as JSON', async () => {
    const raised = await app.inject({
      method: 'POST',
      url: '/api/alerts',
      payload: { severity: 'low', source: 'cli-test', key: 'disk-usage', message: 'Disk usage at 81%' },
    });
    expect(raised.statusCode).toBe(201);

    const table = await runCli(['alerts', '--severity', 'low']);
    const json = await runCli(['alerts', '--severity', 'low', '--json']);

    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^\d+\s+low\s+open\s+1\s+\S+\s+cli-test\s+disk-usage\s+Disk usage at 81%$/m);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout).items[0]).toMatchObject({ severity: 'low', key: 'disk-usage' });
  });

  it('lists the maintenance log of a job', async () => {
    const run = await runCli(['run', 'token-cleanup', '--dry-run', '--wait']);
    expect(run.code, run.stderr).toBe(0);

    const table = await runCli(['logs', '--job', 'token-cleanup', '--limit', '1']);
    const json = await runCli(['logs', '--job', 'token-cleanup', '--result', 'success', '--json']);

    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^\d+\s+\S+\s+scheduled\s+token-cleanup\s+\d+\s+success\s+bootstrap-admin\s+/m);
    expect(JSON.parse(json.stdout).items[0]).toMatchObject({ jobName: 'token-cleanup', result: 'success', notes: 'dry run: nothing was changed' });
  });

  it('rejects an unknown log type', async () => {
    const result = await runCli(['logs', '--type', 'weekly']);

    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toHaveLength(1);
  });
});

describe('connection errors', () => {
  it('names the URL when the API is unreachable', async () => {
    const url = `http://127.0.0.1:${closedPort}`;

    const result = await runCli(['jobs'], { SHIPSHAPE_URL: url });

    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      `error: cannot reach the Shipshape API at ${url} (connect ECONNREFUSED 127.0.0.1:${closedPort}); start it with npm start or set SHIPSHAPE_URL`,
    ]);
  });

  it('lets --url override SHIPSHAPE_URL', async () => {
    const result = await runCli(['jobs', '--url', apiUrl], { SHIPSHAPE_URL: `http://127.0.0.1:${closedPort}` });

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('token-cleanup');
  });
});
