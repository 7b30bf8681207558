import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import type { Config } from '../../config.js';
import { defineJob, type JsonValue } from '../contract.js';
import { updateDependencyAlerts } from './dependency-alerts.js';

/*
 * dependency-audit: `npm audit --json` and `npm outdated --json` in the
 * installed package's folder, summarised as vulnerabilities per severity and
 * the updates that are not breaking. It changes nothing: updating, testing in
 * staging and deploying stay with a person.
 *
 * npm talks to NPM_REGISTRY when it is set (passed as npm_config_registry),
 * otherwise to the registry npm's own configuration names. A registry that
 * cannot be reached, a missing lockfile or a timeout is reported in the
 * summary's `problems` and raises a medium alert. The job still succeeds,
 * because running it again at once would not help. Critical and high
 * vulnerabilities raise a high alert; see dependency-alerts.ts.
 */

/** The folder with Shipshape's package.json: three levels above src/jobs/security. */
export const INSTALLATION_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

// npm audit prints a few KiB per vulnerable package; this leaves room for large trees.
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const LISTED_PACKAGES_LIMIT = 100;
const SEVERITIES = ['info', 'low', 'moderate', 'high', 'critical'] as const;

interface NpmResult {
  /** Parsed stdout, or null when npm printed no JSON. */
  json: Record<string, unknown> | null;
  /** Failure reason, or null when the output can be used. */
  error: string | null;
}

/** Builds the environment of every npm child: the registry setting, and no update or funding checks. */
export function npmEnvironment(config: Config): NodeJS.ProcessEnv {
  return {
    ...process.env,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    ...(config.NPM_REGISTRY ? { npm_config_registry: config.NPM_REGISTRY } : {}),
  };
}

/**
 * Runs `npm <args>` in `cwd`. Both commands exit with 1 when they find
 * something, so the exit code cannot tell success from failure. The output is
 * used when it is JSON without the `error` or `message` field npm prints on failure.
 */
function runNpm(args: string[], cwd: string, config: Config, signal: AbortSignal): Promise<NpmResult> {
  return new Promise((resolve) => {
    const options = { cwd, env: npmEnvironment(config), timeout: config.DEPENDENCY_AUDIT_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, signal };
    execFile('npm', args, options, (error, stdout, stderr) => {
      const failure = error as (NodeJS.ErrnoException & { killed?: boolean }) | null;
      // A stop through `signal` ends here too; the caller checks the signal and fails the run instead.
      if (failure?.killed || failure?.code === 'ABORT_ERR') {
        resolve({ json: null, error: `npm ${args[0]} timed out after ${config.DEPENDENCY_AUDIT_TIMEOUT_MS} ms` });
        return;
      }
      if (failure?.code === 'ENOENT') {
        resolve({ json: null, error: 'npm was not found on PATH' });
        return;
      }

      const json = parseJson(stdout);
      const npmError = json ? describeNpmError(json) : undefined;
      if (json && !npmError) resolve({ json, error: null });
      else resolve({ json, error: npmError ?? lastLines(stderr) ?? `npm ${args[0]} failed without output` });
    });
  });
}

/** Returns npm's own error text from its JSON output, or undefined when the output is a report. */
function describeNpmError(json: Record<string, unknown>): string | undefined {
  const error = json.error as { code?: string; summary?: string; detail?: string } | undefined;
  if (error && typeof error === 'object') {
    const text = [error.code, error.summary || (typeof json.message === 'string' ? json.message : undefined)].filter(Boolean).join(': ');
    return text || 'npm reported an error without details';
  }
  if (typeof json.message === 'string' && !('vulnerabilities' in json)) return json.message;
  return undefined;
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function lastLines(text: string): string | undefined {
  const lines = text.trim().split('\n').filter((line) => line.trim() !== '');
  return lines.length > 0 ? lines.slice(-3).join(' | ') : undefined;
}

/** Summarises an npm audit report (version 2, npm 7 and later). */
function summariseAudit(result: NpmResult): { [key: string]: JsonValue } {
  if (result.error || !result.json) return { ok: false, error: result.error };
  const metadata = (result.json.metadata ?? {}) as { vulnerabilities?: Record<string, number> };
  const counts = Object.fromEntries(SEVERITIES.map((severity) => [severity, metadata.vulnerabilities?.[severity] ?? 0]));
  const vulnerabilities = Object.values((result.json.vulnerabilities ?? {}) as Record<string, AuditEntry>);
  const order = (entry: AuditEntry) => -SEVERITIES.indexOf(entry.severity as (typeof SEVERITIES)[number]);
  const packages = vulnerabilities
    .sort((a, b) => order(a) - order(b) || a.name.localeCompare(b.name))
    .slice(0, LISTED_PACKAGES_LIMIT)
    .map((entry) => ({
      name: entry.name,
      severity: entry.severity,
      direct: entry.isDirect ?? false,
      range: entry.range ?? null,
      fixAvailable: entry.fixAvailable === true || typeof entry.fixAvailable === 'object',
      advisories: (entry.via ?? []).filter((via): via is { title: string; url?: string } => typeof via === 'object').map((via) => via.title),
    }));
  return { ok: true, error: null, total: metadata.vulnerabilities?.total ?? vulnerabilities.length, ...counts, packages };
}

interface AuditEntry {
  name: string;
  severity: string;
  isDirect?: boolean;
  range?: string;
  fixAvailable?: boolean | object;
  via?: Array<string | { title: string; url?: string }>;
}

interface OutdatedEntry {
  current?: string;
  wanted?: string;
  latest?: string;
}

/** Parses `major.minor.patch`; a prerelease or an unparsable version is null. */
function parseVersion(version: string | undefined): [number, number, number] | null {
  const match = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(version ?? '');
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : null;
}

/**
 * Whether moving from `from` to `to` is a newer, non-breaking version under
 * semver: the same major from 1.0.0 on, the same minor for 0.y.z (where the
 * minor is the breaking part), and never for 0.0.z.
 */
export function isNonBreakingUpdate(from: string | undefined, to: string | undefined): boolean {
  const a = parseVersion(from);
  const b = parseVersion(to);
  if (!a || !b) return false;
  const newer = b[0] > a[0] || (b[0] === a[0] && (b[1] > a[1] || (b[1] === a[1] && b[2] > a[2])));
  if (!newer) return false;
  if (a[0] > 0) return b[0] === a[0];
  if (a[1] > 0) return b[0] === 0 && b[1] === a[1];
  return false;
}

/** Splits `npm outdated` into non-breaking updates and breaking ones. */
function summariseOutdated(result: NpmResult): { [key: string]: JsonValue } {
  if (result.error || !result.json) return { ok: false, error: result.error };
  const nonBreaking: JsonValue[] = [];
  const breaking: JsonValue[] = [];
  const entries = Object.entries(result.json as Record<string, OutdatedEntry | OutdatedEntry[]>).flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value]).map((entry) => ({ name, ...entry })),
  );

  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const { name, current = null, wanted = null, latest = null } = entry;
    const update = isNonBreakingUpdate(entry.current, entry.latest)
      ? entry.latest
      : isNonBreakingUpdate(entry.current, entry.wanted)
        ? entry.wanted
        : undefined;
    if (update) nonBreaking.push({ name, current, update, latest });
    if (!isNonBreakingUpdate(entry.current, entry.latest) && entry.latest !== entry.current) breaking.push({ name, current, wanted, latest });
  }
  return { ok: true, error: null, outdated: entries.length, nonBreaking, breaking };
}

export const dependencyAudit = defineJob({
  name: 'dependency-audit',
  queue: 'maintenance',
  description: 'Run npm audit and npm outdated; summarise vulnerabilities by severity and non-breaking updates',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context) {
    const { config } = context;
    const folder = path.resolve(config.DEPENDENCY_AUDIT_DIR ?? INSTALLATION_DIR);

    const audit = summariseAudit(await runNpm(['audit', '--json'], folder, config, context.signal));
    // A stopped worker aborts npm; the run must then fail and go back to the queue, not report a timeout.
    context.signal.throwIfAborted();
    await context.progress(50);
    const outdated = summariseOutdated(await runNpm(['outdated', '--json'], folder, config, context.signal));
    context.signal.throwIfAborted();

    for (const [command, part] of [['npm audit', audit], ['npm outdated', outdated]] as const) {
      if (!part.ok) context.logger.warn({ folder, command, error: part.error }, 'npm command failed; reported in the summary');
    }
    const alerts = await updateDependencyAlerts(context, folder, audit, outdated);
    context.logger.info(
      { folder, auditOk: audit.ok, vulnerabilities: audit.total ?? null, outdatedOk: outdated.ok, nonBreaking: Array.isArray(outdated.nonBreaking) ? outdated.nonBreaking.length : null },
      'dependency audit finished',
    );
    return {
      folder,
      registry: config.NPM_REGISTRY ?? null,
      problems: alerts.problems,
      alertsRaised: alerts.raised,
      alertsResolved: alerts.resolved,
      audit,
      outdated,
    };
  },
});
