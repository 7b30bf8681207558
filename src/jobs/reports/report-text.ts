import type { JsonValue } from '../contract.js';

/** Jobs with a section of their own in the weekly report, in report order. */
export const WEEKLY_SECTIONS: readonly { job: string; title: string }[] = [
  { job: 'security-review', title: 'Security review' },
  { job: 'performance-analysis', title: 'Performance analysis' },
  { job: 'storage-cleanup', title: 'Storage cleanup' },
  { job: 'token-cleanup', title: 'Token cleanup' },
  { job: 'health-check', title: 'Health checks' },
  { job: 'backup-database', title: 'Database backups' },
  { job: 'verify-backup', title: 'Backup verification' },
];

/** Lines of one summary shown per section; the rest is in maintenance_logs. */
const MAX_SUMMARY_LINES = 40;
const MAX_VALUE_LENGTH = 80;

export interface JobWeek {
  job: string;
  runs: number;
  failures: number;
  latest: {
    id: number;
    at: Date;
    result: string;
    type: string;
    duration: string;
    notes: string | null;
    summary: unknown;
  } | null;
}

const MAX_INLINE_ITEMS = 8;

const isScalar = (value: unknown) => value === null || ['string', 'number', 'boolean'].includes(typeof value);

function scalarText(value: unknown): string {
  const text = value === null || value === undefined ? '-' : String(value);
  return text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH - 3)}...` : text;
}

/**
 * Flattens a run summary to `path: value` lines, two levels of objects deep.
 * Short lists of scalars and small objects of scalars below that fit on one
 * line; longer lists show their length, deeper objects `{...}`.
 */
export function summaryLines(value: unknown, path = '', depth = 0): string[] {
  if (value === null || value === undefined) return path ? [`${path}: -`] : [];
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${path}: none`];
    if (value.length <= MAX_INLINE_ITEMS && value.every(isScalar)) return [`${path}: ${value.map(scalarText).join(', ')}`];
    return [`${path}: ${value.length} item${value.length === 1 ? '' : 's'}`];
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, JsonValue>);
    if (depth < 2) return entries.flatMap(([key, inner]) => summaryLines(inner, path ? `${path}.${key}` : key, depth + 1));
    if (entries.length === 0) return [`${path}: none`];
    if (entries.length <= MAX_INLINE_ITEMS && entries.every(([, inner]) => isScalar(inner))) {
      return [`${path}: ${entries.map(([key, inner]) => `${key}=${scalarText(inner)}`).join(', ')}`];
    }
    return [`${path}: {...}`];
  }
  return [`${path}: ${scalarText(value)}`];
}

const utc = (date: Date) => `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;

function sectionText(title: string, week: JobWeek | undefined): string[] {
  const lines = [`== ${title} ==`];
  if (!week?.latest) return [...lines, 'No run this week.', ''];

  const { latest } = week;
  lines.push(`Runs this week: ${week.runs} (${week.failures} failed)`);
  lines.push(`Latest run: ${utc(latest.at)}, ${latest.result}, ${latest.type}, took ${latest.duration}`);
  if (latest.notes) lines.push(`Notes: ${latest.notes}`);
  const numbers = summaryLines(latest.summary);
  lines.push(...numbers.slice(0, MAX_SUMMARY_LINES).map((line) => `  ${line}`));
  if (numbers.length > MAX_SUMMARY_LINES) lines.push(`  ... ${numbers.length - MAX_SUMMARY_LINES} more values in maintenance_logs row ${latest.id}`);
  return [...lines, ''];
}

/** Builds the plain-text weekly report: a section per WEEKLY_SECTIONS job, then a table of every other job that ran. */
export function weeklyReportText(period: { start: Date; end: Date }, weeks: Map<string, JobWeek>): string {
  const lines = ['Shipshape weekly maintenance report', `Period: ${utc(period.start)} to ${utc(period.end)}`, ''];
  for (const section of WEEKLY_SECTIONS) lines.push(...sectionText(section.title, weeks.get(section.job)));

  const sectionJobs = new Set(WEEKLY_SECTIONS.map((section) => section.job));
  const others = [...weeks.values()].filter((week) => !sectionJobs.has(week.job)).sort((a, b) => a.job.localeCompare(b.job));
  lines.push('== Other jobs this week ==');
  if (others.length === 0) lines.push('No other job ran this week.');
  const width = Math.max(3, ...others.map((week) => week.job.length));
  if (others.length > 0) lines.push(`${'job'.padEnd(width)}  runs  failed  latest`);
  for (const week of others) {
    const latest = week.latest ? `${utc(week.latest.at)} ${week.latest.result}` : '-';
    lines.push(`${week.job.padEnd(width)}  ${String(week.runs).padStart(4)}  ${String(week.failures).padStart(6)}  ${latest}`);
  }
  return `${lines.join('\n')}\n`;
}
