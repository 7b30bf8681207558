import { execFile } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where Debian installs the PostgreSQL 15 server programs. */
export const PG_BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** The superuser initdb creates in every private cluster. */
const SUPERUSER = 'postgres';
/** The account that runs the server when the tests run as root, which initdb and postgres refuse. */
const SERVER_ACCOUNT = 'postgres';

export interface PgClusterOptions {
  /** Lines appended to postgresql.conf, such as `shared_preload_libraries = 'pg_stat_statements'`. */
  conf?: string[];
}

export interface PgCluster {
  port: number;
  dataDir: string;
  /** Server URL without a database name, for example `postgres://postgres@127.0.0.1:54329`. */
  url: string;
  /** Stops the server (fast shutdown) and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

/** Asks the kernel for a free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port assigned'))));
    });
  });
}

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a server program, as the postgres account when this process is root. */
async function pgProgram(program: string, args: string[]): Promise<void> {
  const path = join(PG_BIN, program);
  if (asRoot) await run('runuser', ['-u', SERVER_ACCOUNT, '--', path, ...args]);
  else await run(path, args);
}

/**
 * Starts a private PostgreSQL 15 cluster for one test file: initdb in a
 * temporary folder, trust authentication, TCP on 127.0.0.1 only (no Unix
 * socket), a free port. Use it for a server the shared one cannot be: other
 * preload libraries, other settings, or one a test stops.
 */
export async function startPgCluster(options: PgClusterOptions = {}): Promise<PgCluster> {
  const root = await mkdtemp(join(tmpdir(), 'shipshape-pg-'));
  const dataDir = join(root, 'data');
  const logFile = join(root, 'server.log');
  if (asRoot) {
    const { stdout } = await run('id', ['-u', SERVER_ACCOUNT]);
    const { stdout: group } = await run('id', ['-g', SERVER_ACCOUNT]);
    await chown(root, Number(stdout.trim()), Number(group.trim()));
  }

  let started = false;
  const cleanup = async () => {
    if (started) {
      started = false;
      await pgProgram('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w']).catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
  };

  try {
    await pgProgram('initdb', ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--no-sync', '--no-instructions']);
    const port = await freePort();
    const conf = [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = ''`,
      'fsync = off',
      'max_connections = 40',
      ...(options.conf ?? []),
    ];
    const confPath = join(dataDir, 'postgresql.conf');
    await writeFile(confPath, `${await readFile(confPath, 'utf8')}\n${conf.join('\n')}\n`);

    try {
      await pgProgram('pg_ctl', ['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60']);
    } catch (error) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`the private cluster did not start: ${(error as Error).message}\n${log}`, { cause: error });
    }
    started = true;

    return { port, dataDir, url: `postgres://${SUPERUSER}@127.0.0.1:${port}`, stop: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
