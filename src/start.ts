import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/*
 * `npm start`: migrates the database, then runs the API and one worker as two
 * OS processes. Ctrl-C or SIGTERM stops both gracefully, and if either exits on
 * its own, the other is stopped too and the exit code is non-zero.
 */

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

const children = { api: run('api', './server/main.ts'), worker: run('worker', './jobs/worker-main.ts') };
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

const first = await Promise.race(
  Object.entries(children).map(async ([name, child]) => ({ name, code: await exitCodeOf(child) })),
);
const unexpected = !stopping;
if (unexpected) console.error(`${first.name} exited with code ${first.code}; stopping the other process`);
stopAll('SIGTERM');

const codes = await Promise.all(Object.values(children).map(exitCodeOf));
process.exit(unexpected ? first.code || 1 : Math.max(...codes));
