import { raiseAlert, resolveAlertByKey, type AlertDependencies } from '../alerts/alerts.js';
import type { JobContext, JsonValue } from '../contract.js';

/*
 * The alerts of dependency-audit. Each condition has one deduplication key,
 * so a monthly run that finds the same problem counts a repeat on the open
 * alert, and the first run without the problem resolves it.
 */

const SOURCE = 'dependency-audit';
/** Medium: npm audit or npm outdated failed (registry unreachable, timeout, missing lockfile). */
export const INCOMPLETE_ALERT_KEY = `${SOURCE}:incomplete`;
/** High: npm audit found critical or high vulnerabilities. */
export const VULNERABILITIES_ALERT_KEY = `${SOURCE}:vulnerabilities`;
// Packages named in the alert message; the details and the summary list more.
const MESSAGE_PACKAGES = 5;

type Part = { [key: string]: JsonValue };

interface AuditedPackage {
  name: string;
  severity: string;
}

export interface DependencyAlertOutcome {
  /** One sentence per problem found, for the summary and the weekly report. */
  problems: string[];
  raised: string[];
  resolved: string[];
}

const count = (part: Part, severity: string) => (typeof part[severity] === 'number' ? (part[severity] as number) : 0);

/** Describes the failed npm commands, or returns null when both produced a report. */
function incompleteMessage(folder: string, audit: Part, outdated: Part): string | null {
  const failures = [
    ...(audit.ok ? [] : [`npm audit failed: ${String(audit.error)}`]),
    ...(outdated.ok ? [] : [`npm outdated failed: ${String(outdated.error)}`]),
  ];
  if (failures.length === 0) return null;
  return `Dependency audit of ${folder} could not reach the registry or read the project: ${failures.join('; ')}`;
}

/** Names the critical and high vulnerabilities and their first packages, or returns null when there are none. */
function vulnerabilityMessage(folder: string, audit: Part): string | null {
  const critical = count(audit, 'critical');
  const high = count(audit, 'high');
  if (critical + high === 0) return null;

  const packages = ((audit.packages ?? []) as unknown as AuditedPackage[]).filter((entry) => entry.severity === 'critical' || entry.severity === 'high');
  const named = packages.slice(0, MESSAGE_PACKAGES).map((entry) => `${entry.name} (${entry.severity})`);
  const more = packages.length > MESSAGE_PACKAGES ? ` and ${packages.length - MESSAGE_PACKAGES} more` : '';
  return `${critical} critical and ${high} high vulnerabilities in the dependencies of ${folder}: ${named.join(', ')}${more}`;
}

/**
 * Raises or resolves the two dependency-audit alerts after a run. The
 * vulnerability alert stays as it is when npm audit failed, because the run
 * cannot tell whether the vulnerabilities were fixed.
 */
export async function updateDependencyAlerts(context: JobContext, folder: string, audit: Part, outdated: Part): Promise<DependencyAlertOutcome> {
  const deps: AlertDependencies = { db: context.db, emailQueue: context.queues.email, config: context.config, logger: context.logger };
  const outcome: DependencyAlertOutcome = { problems: [], raised: [], resolved: [] };

  const incomplete = incompleteMessage(folder, audit, outdated);
  if (incomplete) {
    await raiseAlert(deps, { severity: 'medium', source: SOURCE, key: INCOMPLETE_ALERT_KEY, message: incomplete, details: { folder, audit: audit.error ?? null, outdated: outdated.error ?? null } });
    outcome.problems.push(incomplete);
    outcome.raised.push(INCOMPLETE_ALERT_KEY);
  } else if ((await resolveAlertByKey(deps, INCOMPLETE_ALERT_KEY, SOURCE)).outcome === 'done') {
    outcome.resolved.push(INCOMPLETE_ALERT_KEY);
  }

  if (!audit.ok) return outcome;
  const vulnerable = vulnerabilityMessage(folder, audit);
  if (vulnerable) {
    const details = { folder, critical: count(audit, 'critical'), high: count(audit, 'high'), packages: audit.packages ?? [] };
    await raiseAlert(deps, { severity: 'high', source: SOURCE, key: VULNERABILITIES_ALERT_KEY, message: vulnerable, details });
    outcome.problems.push(vulnerable);
    outcome.raised.push(VULNERABILITIES_ALERT_KEY);
  } else if ((await resolveAlertByKey(deps, VULNERABILITIES_ALERT_KEY, SOURCE)).outcome === 'done') {
    outcome.resolved.push(VULNERABILITIES_ALERT_KEY);
  }
  return outcome;
}
