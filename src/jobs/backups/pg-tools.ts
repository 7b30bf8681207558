import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import type { Config } from '../../config.js';
import { WRITABLE_SESSION_OPTIONS } from '../../db/database.js';

/*
 * Running the PostgreSQL client programs (pg_dump, pg_restore, psql) as child
 * processes. Credentials reach them only through the child's environment
 * (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), never through argv,
 * which any local user can read in the process list, and never through logs.
 */

export type PgProgram = 'pg_dump' | 'pg_restore' | 'psql';

/** Path of a client program: inside PG_BIN_DIR when set, else found on PATH. */
export function programPath(config: Pick<Config, 'PG_BIN_DIR'>, program: PgProgram): string {
  return config.PG_BIN_DIR ? join(config.PG_BIN_DIR, program) : program;
}

/** Returns the database name in a postgres:// URL. */
export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}

/**
 * libpq environment variables for `url`, with `database` in place of the URL's
 * database when given. The session is writable even while readonly-mode has
 * made the database default read-only, as Shipshape's own pool is.
 */
export function pgEnvironment(url: string, database?: string): NodeJS.ProcessEnv {
  const parsed = new URL(url);
  const env: NodeJS.ProcessEnv = {
    PGHOST: decodeURIComponent(parsed.hostname.replace(/^\[|\]$/g, '')) || 'localhost',
    PGPORT: parsed.port || '5432',
    PGUSER: decodeURIComponent(parsed.username) || process.env.PGUSER || process.env.USER || userInfo().username,
    PGDATABASE: database ?? databaseName(url),
    PGOPTIONS: WRITABLE_SESSION_OPTIONS,
    PGAPPNAME: 'shipshape-backup',
  };
  if (parsed.password) env.PGPASSWORD = decodeURIComponent(parsed.password);
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

// Variables of the worker's own environment that must not leak into the child
// and override the ones derived from DATABASE_URL.
const INHERITED_PG_VARIABLES = /^PG(HOST|HOSTADDR|PORT|USER|PASSWORD|PASSFILE|DATABASE|SERVICE|SERVICEFILE|OPTIONS|APPNAME|SSLMODE)$/;

function childEnvironment(pgEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !INHERITED_PG_VARIABLES.test(name)));
  return { ...base, ...pgEnv, LC_ALL: 'C' };
}

/** Thrown when a client program exits with a failure; the message ends with its stderr. */
export class PgProgramError extends Error {
  override name = 'PgProgramError';

  constructor(
    readonly program: PgProgram,
    readonly exit: number | string,
    readonly stderr: string,
  ) {
    const detail = stderr.trim().split('\n').slice(-5).join(' | ');
    super(`${program} failed (exit ${exit})${detail ? `: ${detail}` : ''}`);
  }
}

export interface SpawnedProgram {
  child: ChildProcess;
  /** Resolves when the program exits with status 0; rejects with a PgProgramError otherwise. */
  finished: Promise<void>;
}

/** Starts a client program with the connection in its environment; stdout is a pipe the caller reads. */
export function spawnProgram(
  config: Pick<Config, 'PG_BIN_DIR'>,
  program: PgProgram,
  args: string[],
  pgEnv: NodeJS.ProcessEnv,
  options: { signal?: AbortSignal; stdin?: 'pipe' | 'ignore' } = {},
): SpawnedProgram {
  const child = spawn(programPath(config, program), args, {
    env: childEnvironment(pgEnv),
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    signal: options.signal,
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    // Keep the tail only: a failing restore can print one line per object.
    stderr = (stderr + chunk).slice(-8192);
  });

  const finished = (async () => {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    if (code !== 0) throw new PgProgramError(program, code ?? signal ?? 'unknown', stderr);
  })();
  // An 'error' event (program not found, aborted) also ends in 'close'; record it for the message.
  child.on('error', (error) => {
    stderr += `\n${error.message}`;
  });
  finished.catch(() => undefined);
  return { child, finished };
}

/** Runs a client program to completion and returns its stdout as text (for short outputs only). */
export async function runProgram(
  config: Pick<Config, 'PG_BIN_DIR'>,
  program: PgProgram,
  args: string[],
  pgEnv: NodeJS.ProcessEnv = {},
  signal?: AbortSignal,
): Promise<string> {
  const { child, finished } = spawnProgram(config, program, args, pgEnv, { signal });
  let stdout = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (stdout += chunk));
  await finished;
  return stdout;
}

/** The major version in `pg_dump --version` output such as `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`. */
export function parseProgramVersion(output: string): { version: string; major: number } {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) throw new Error(`Cannot read a PostgreSQL version from ${JSON.stringify(output.trim().slice(0, 120))}`);
  return { version: match[2] === undefined ? match[1]! : `${match[1]}.${match[2]}`, major: Number(match[1]) };
}

/** The major version of a server_version_num value such as 150020. */
export function serverMajor(versionNum: number): number {
  return Math.floor(versionNum / 10_000);
}

/**
 * Returns why pg_dump cannot dump this server, or undefined when it can.
 * pg_dump refuses servers of a newer major version, and an older pg_dump
 * could not read every catalog of a newer server anyway.
 */
export function versionMismatch(dumpMajor: number, serverMajorVersion: number): string | undefined {
  if (dumpMajor >= serverMajorVersion) return undefined;
  return (
    `pg_dump is version ${dumpMajor} but the server is version ${serverMajorVersion}: ` +
    `install the PostgreSQL ${serverMajorVersion} client programs (or newer) and point PG_BIN_DIR at them`
  );
}
