import type { HealthWeek } from './health-week.js';
import { sectionLines } from './summary-lines.js';

export { summaryLines } from './summary-lines.js';

export interface ReportSection {
  job: string;
  title: string;
  /** Summary paths printed first, in this order: what an operator acts on. */
  findings: readonly string[];
  /** Lines derived from the summary, printed before the findings. */
  headline?: (summary: unknown) => string[];
}

const STORAGE_CATEGORIES = ['tempFiles', 'orphanedUploads', 'compressedLogs'] as const;

/** Totals the bytes storage-cleanup freed per category. A dry run frees nothing and stores null. */
function storageHeadline(summary: unknown): string[] {
  const parts = STORAGE_CATEGORIES.map((category) => {
    const report = (summary as Record<string, { files?: number; bytesFreed?: number | null } | undefined> | null)?.[category];
    return { category, files: report?.files ?? 0, bytesFreed: typeof report?.bytesFreed === 'number' ? report.bytesFreed : null };
  });
  if (parts.every((part) => part.bytesFreed === null)) return ['bytes freed: none (dry run or nothing to free)'];
  const total = parts.reduce((sum, part) => sum + (part.bytesFreed ?? 0), 0);
  return [`bytes freed: ${total} (${parts.map((part) => `${part.category} ${part.bytesFreed ?? 0} in ${part.files} files`).join(', ')})`];
}

/** Jobs with a section of their own in the weekly report, in report order. health-check has its own section from the health tables. */
export const WEEKLY_SECTIONS: readonly ReportSection[] = [
  {
    job: 'security-review',
    title: 'Security review',
    findings: [
      'ipBursts',
      'accountBursts',
      'manyIpAccounts',
      'blocked',
      'wouldBlock',
      'skippedAllowlisted',
      'offHoursAdmins',
      'securityAlerts.open',
      'failedLogins.topIps',
      'failedLogins.topAccounts',
    ],
  },
  {
    job: 'performance-analysis',
    title: 'Performance analysis',
    findings: ['recommendations', 'apiResponseTimes.slower', 'apiResponseTimes.endpoints', 'resourcesOverThreshold', 'slowQueries', 'indexes.invalid', 'vacuumCandidates'],
  },
  {
    job: 'storage-cleanup',
    title: 'Storage cleanup',
    findings: ['tempFiles', 'orphanedUploads', 'compressedLogs', 'archivedCertificates', 'missingFiles'],
    headline: storageHeadline,
  },
  { job: 'token-cleanup', title: 'Token cleanup', findings: ['steps'] },
  { job: 'backup-database', title: 'Database backups', findings: ['backupId', 'file', 'sizeBytes'] },
  { job: 'verify-backup', title: 'Backup verification', findings: ['backupId', 'verified', 'file'] },
];

/** Monthly jobs: a section when they ran in the period, and nothing otherwise. */
export const MONTHLY_SECTIONS: readonly ReportSection[] = [
  { job: 'security-audit', title: 'Security audit', findings: ['checklist', 'dormant', 'admins'] },
  { job: 'certificate-check', title: 'Certificate check', findings: ['expired', 'critical', 'expiring', 'error', 'certificates'] },
  { job: 'dependency-audit', title: 'Dependency audit', findings: ['problems', 'audit.packages', 'outdated.nonBreaking'] },
  { job: 'full-backup', title: 'Full backup', findings: ['countsMatch', 'database'] },
];

/**
 * Jobs that write no maintenance_logs row by design (logRuns: false), so the
 * report never lists them as not run. health-check has its own section.
 */
export const UNLOGGED_JOBS: readonly string[] = ['dispatch-alerts', 'metrics-update', 'send-email'];

/** Lines of one summary shown per section; the rest is in maintenance_logs. */
const MAX_SUMMARY_LINES = 60;

export interface ReportedRun {
  id: number;
  at: Date;
  result: string;
  type: string;
  performedBy: string;
  duration: string;
  notes: string | null;
  dryRun: boolean;
  summary: unknown;
}

export interface JobWeek {
  job: string;
  runs: number;
  failures: number;
  /** Runs the scheduler started (maintenance_logs type `routine`). */
  scheduledRuns: number;
  /** The run the section shows: the latest scheduled run that was not a dry run, else the latest run that was not, else the latest. */
  latest: ReportedRun | null;
}

const utc = (date: Date) => `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;

/** Says which run the section shows and why, since it need not be the latest. */
function runLabel(run: ReportedRun, week: JobWeek): string {
  if (run.type === 'routine' && !run.dryRun) return 'Latest scheduled run';
  const requester = `requested by ${run.performedBy}`;
  const reason = week.scheduledRuns === 0 ? 'no scheduled run this week' : 'no scheduled run this week except dry runs';
  return run.dryRun ? `Latest run (dry run, ${requester}; ${reason})` : `Latest run (${requester}, not by the scheduler; ${reason})`;
}

function sectionText(section: ReportSection, week: JobWeek | undefined): string[] {
  const lines = [`== ${section.title} ==`];
  if (!week?.latest) return [...lines, 'No run this week.', ''];

  const { latest } = week;
  lines.push(`Runs this week: ${week.runs} (${week.failures} failed, ${week.scheduledRuns} by the scheduler)`);
  lines.push(`${runLabel(latest, week)}: ${utc(latest.at)}, ${latest.result}, ${latest.type}, took ${latest.duration}`);
  if (latest.notes) lines.push(`Notes: ${latest.notes}`);
  const values = [...(section.headline?.(latest.summary) ?? []), ...sectionLines(latest.summary, section.findings)];
  lines.push(...values.slice(0, MAX_SUMMARY_LINES).map((line) => `  ${line}`));
  if (values.length > MAX_SUMMARY_LINES) lines.push(`  ... ${values.length - MAX_SUMMARY_LINES} more lines in maintenance_logs row ${latest.id}`);
  return [...lines, ''];
}

const changesText = (changes: number, failures: number) => `${changes} change${changes === 1 ? '' : 's'} (${failures} to fail)`;

function healthText(health: HealthWeek, period: { start: Date; end: Date }): string[] {
  const lines = ['== Health checks =='];
  if (health.latestCheck === null) return [...lines, 'No health check has run yet.', ''];

  const ran = health.latestCheck >= period.start;
  lines.push(ran ? `Checks ran this week; latest result ${utc(health.latestCheck)}.` : `No check ran this week; latest result ${utc(health.latestCheck)}.`);
  const changes = health.components.reduce((sum, component) => sum + component.changes, 0);
  const failures = health.components.reduce((sum, component) => sum + component.failures, 0);
  lines.push(`Status changes this week: ${changesText(changes, failures)}`);
  for (const component of health.components) {
    const output = component.status !== 'pass' && component.output ? `: ${component.output}` : '';
    lines.push(
      `  ${component.component}: ${component.status} since ${utc(component.since)}, ${changesText(component.changes, component.failures)}, checked ${utc(component.checkedAt)}${output}`,
    );
  }
  return [...lines, ''];
}

function otherJobsText(others: JobWeek[]): string[] {
  const lines = ['== Other jobs this week =='];
  if (others.length === 0) lines.push('No other job ran this week.');
  const width = Math.max(3, ...others.map((week) => week.job.length));
  if (others.length > 0) lines.push(`${'job'.padEnd(width)}  runs  failed  latest`);
  for (const week of others) {
    const latest = week.latest ? `${utc(week.latest.at)} ${week.latest.result}` : '-';
    lines.push(`${week.job.padEnd(width)}  ${String(week.runs).padStart(4)}  ${String(week.failures).padStart(6)}  ${latest}`);
  }
  lines.push(`Not listed: ${UNLOGGED_JOBS.join(', ')} write no maintenance_logs row.`);
  return lines;
}

/**
 * Builds the plain-text weekly report: a section per WEEKLY_SECTIONS job, the
 * health checks, a section per MONTHLY_SECTIONS job that ran, then a table of
 * every other job that ran.
 */
export function weeklyReportText(period: { start: Date; end: Date }, weeks: Map<string, JobWeek>, health: HealthWeek): string {
  const lines = ['Shipshape weekly maintenance report', `Period: ${utc(period.start)} to ${utc(period.end)}`, ''];
  for (const section of WEEKLY_SECTIONS) lines.push(...sectionText(section, weeks.get(section.job)));
  lines.push(...healthText(health, period));
  for (const section of MONTHLY_SECTIONS) {
    if (weeks.get(section.job)?.latest) lines.push(...sectionText(section, weeks.get(section.job)));
  }

  const sectionJobs = new Set([...WEEKLY_SECTIONS, ...MONTHLY_SECTIONS].map((section) => section.job));
  const others = [...weeks.values()].filter((week) => !sectionJobs.has(week.job)).sort((a, b) => a.job.localeCompare(b.job));
  lines.push(...otherJobsText(others));
  return `${lines.join('\n')}\n`;
}
