import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config.js';

/*
 * `npm start`: migrates the database, then runs the API and one worker as two
 * OS processes. Ctrl-C or SIGTERM stops both gracefully, and if either exits on
 * its own, the other is stopped too and the exit code is non-zero. The worker
 * starts once the API responds on /health, so its first health check, which calls
 * that URL, does not report the API as down while it is still starting.
 */

const API_START_TIMEOUT_MS = 60_000;

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

function run(name: string, script: string): ChildProcess {
  // A process group of its own, so a Ctrl-C reaches the children only through
  // this supervisor and they stop in order.
  // Node itself with tsx as a loader, so signals reach the process that handles them.
  const child = spawn(process.execPath, ['--import', 'tsx', here(script)], { stdio: 'inherit', detached: true });
  child.on('error', (error) => console.error(`${name}: failed to start: ${error.message}`));
  return child;
}

async function exitCodeOf(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return child.exitCode;
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return code ?? (signal ? 1 : 0);
}

const migrateCode = await exitCodeOf(run('migrate', './db/migrate-command.ts'));
if (migrateCode !== 0) {
  console.error('migration failed; Shipshape was not started');
  process.exit(migrateCode);
}

const config = loadConfig();
const children: Record<string, ChildProcess> = { api: run('api', './server/main.ts') };
let stopping = false;

function stopAll(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  for (const child of Object.values(children)) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

process.on('SIGINT', () => stopAll('SIGINT'));
process.on('SIGTERM', () => stopAll('SIGTERM'));

/** Waits until the API responds on /health, exits, or API_START_TIMEOUT_MS passes; returns whether it responded. */
async function apiAnswers(api: ChildProcess): Promise<boolean> {
  const host = ['0.0.0.0', '::'].includes(config.HOST) ? '127.0.0.1' : config.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}${config.BASE_PATH}/health`;
  const deadline = Date.now() + API_START_TIMEOUT_MS;
  while (Date.now() < deadline && api.exitCode === null && api.signalCode === null && !stopping) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return true;
    await sleep(200);
  }
  return false;
}

if (await apiAnswers(children.api!)) {
  children.worker = run('worker', './jobs/worker-main.ts');
} else if (!stopping && children.api!.exitCode === null) {
  console.error(`the API did not respond on /health within ${API_START_TIMEOUT_MS / 1000} s; starting the worker anyway`);
  children.worker = run('worker', './jobs/worker-main.ts');
}

const first = await Promise.race(
  Object.entries(children).map(async ([name, child]) => ({ name, code: await exitCodeOf(child) })),
);
const unexpected = !stopping;
if (unexpected) console.error(`${first.name} exited with code ${first.code}; stopping the other process`);
stopAll('SIGTERM');

const codes = await Promise.all(Object.values(children).map(exitCodeOf));
process.exit(unexpected ? first.code || 1 : Math.max(...codes));
