import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_TOKEN } from '../helpers/app.js';
import { createTestDatabase, removeQueuePrefix, uniqueName, type TestDatabase } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { startApiProcess, type WorkerProcess } from '../helpers/worker-process.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cliEntry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const prefix = uniqueName('auth_process');
let database: TestDatabase;
let api: WorkerProcess;
let apiUrl: string;

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function runCli(args: string[], token: string): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cliEntry, ...args], {
    cwd: repoRoot,
    env: { ...process.env, SHIPSHAPE_URL: apiUrl, SHIPSHAPE_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 45_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code: code ?? signal ?? 'unknown', stdout, stderr };
}

async function request(path: string, authorization: string | undefined, init: RequestInit = {}): Promise<Response> {
  return fetch(`${apiUrl}${path}`, { ...init, headers: { ...(authorization ? { authorization } : {}), ...(init.headers ?? {}) } });
}

beforeAll(async () => {
  database = await createTestDatabase('auth_process');
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  // Trace is the most a deployment logs; a token must not show up even there.
  api = startApiProcess({ DATABASE_URL: database.url, QUEUE_PREFIX: prefix, PORT: String(port), LOG_LEVEL: 'trace' });
  await api.waitForLog('Server listening');
});

afterAll(async () => {
  await api?.stop('SIGTERM');
  await removeQueuePrefix(prefix);
  await database?.drop();
});

describe('tokens through the CLI and a running API', () => {
  const created: Record<string, string> = {};

  it('creates tokens and prints each once', async () => {
    for (const [name, role] of [['ci-viewer', 'viewer'], ['ci-operator', 'operator']]) {
      const result = await runCli(['tokens', 'create', '--name', name!, '--role', role!], TEST_ADMIN_TOKEN);
      expect(result.code, result.stderr).toBe(0);
      const token = result.stdout.trim();
      expect(token).toMatch(/^ssk_[A-Za-z0-9_-]{43}$/);
      expect(result.stderr).toContain(`created ${role} token "${name}"`);
      created[name!] = token;
    }
  });

  it('lists tokens without their secrets', async () => {
    const result = await runCli(['tokens', 'list'], TEST_ADMIN_TOKEN);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ci-viewer\s+viewer\s+bootstrap-admin\s/m);
    expect(result.stdout).toMatch(/^ci-operator\s+operator\s+bootstrap-admin\s/m);
    for (const token of Object.values(created)) expect(result.stdout).not.toContain(token);
  });

  it('refuses token management to an operator', async () => {
    const result = await runCli(['tokens', 'list'], created['ci-operator']!);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Token "ci-operator" has the operator role, but GET /api/tokens requires admin or higher');
  });

  it('reports a missing token in the CLI', async () => {
    const result = await runCli(['jobs'], '');

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('requires an API token with the viewer role');
  });

  it('runs a job as the token named', async () => {
    const result = await runCli(['run', 'rebuild-cache', '--json'], created['ci-operator']!);
    expect(result.code, result.stderr).toBe(0);
    const { id } = JSON.parse(result.stdout) as { id: string };

    const status = await request(`/api/jobs/rebuild-cache/${id}`, `Bearer ${created['ci-viewer']}`);
    expect(status.status).toBe(200);
    expect(((await status.json()) as { requestedBy: string }).requestedBy).toBe('ci-operator');
  });

  it('revokes a token at once', async () => {
    expect((await request('/api/jobs', `Bearer ${created['ci-viewer']}`)).status).toBe(200);

    const result = await runCli(['tokens', 'revoke', 'ci-viewer'], TEST_ADMIN_TOKEN);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('revoked token "ci-viewer"');

    expect((await request('/api/jobs', `Bearer ${created['ci-viewer']}`)).status).toBe(401);
  });

  it('never writes a token to the log', async () => {
    const operatorBasic = Buffer.from(`ops:${created['ci-operator']}`).toString('base64');
    const wrong = `ssk_${'Q'.repeat(43)}`;
    const exchanges: Array<[string, string | undefined, RequestInit?]> = [
      ['/api/jobs', `Bearer ${TEST_ADMIN_TOKEN}`],
      ['/api/jobs', `Bearer ${wrong}`],
      ['/api/jobs', `Bearer ${TEST_ADMIN_TOKEN.slice(0, -2)}`],
      ['/api/jobs/no-such-job', `Bearer ${created['ci-operator']}`, { method: 'POST' }],
      ['/api/jobs/force-logout-all', `Bearer ${created['ci-operator']}`, { method: 'POST' }],
      ['/api/jobs/rebuild-cache', `Bearer ${created['ci-operator']}`, { method: 'POST', body: '{bad json', headers: { 'content-type': 'application/json' } }],
      ['/admin/queues', `Basic ${operatorBasic}`],
      ['/admin/queues/api/queues', `Basic ${operatorBasic}`],
      ['/health/ready', `Bearer ${created['ci-viewer']}`],
      ['/metrics', `Bearer ${created['ci-operator']}`],
    ];
    for (const [path, authorization, init] of exchanges) await request(path, authorization, init);
    await waitFor('the API to log the last request', () => (api.output().includes('/metrics') ? true : undefined));

    const log = api.output();
    expect(log).toContain('incoming request');
    const secrets = { ...created, admin: TEST_ADMIN_TOKEN, wrong, truncated: TEST_ADMIN_TOKEN.slice(0, -2), basic: operatorBasic };
    for (const [label, secret] of Object.entries(secrets)) expect(log.includes(secret), `${label} token in the log`).toBe(false);
  });
});
