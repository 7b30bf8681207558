import { getNextMillis } from 'bullmq';
import { CronExpressionParser, type CronExpression } from 'cron-parser';

/**
 * When a schedule fires: a cron pattern in a time zone, or a fixed interval.
 * Fire times of a pattern come from BullMQ's own `getNextMillis`, which calls
 * cron-parser as the worker does when it plans the next run, so a preview
 * matches what BullMQ will do, daylight saving changes included.
 */
export interface ScheduleTiming {
  pattern?: string;
  /** Interval in milliseconds. */
  every?: number;
  /** IANA time zone of the pattern. */
  tz?: string;
}

/** Fire times the gap check of a pattern looks at, at most. */
const GAP_SAMPLE_SIZE = 500;
const GAP_SAMPLE_SPAN_MS = 366 * 24 * 3_600_000;

/** Upper bound of the fire times counted between two instants, so a long outage cannot loop for long. */
const COUNT_LIMIT = 100_000;

/** Returns the first fire time strictly after `after`, or undefined when the pattern never fires again. */
export function nextFireTime(timing: ScheduleTiming, after: number): number | undefined {
  if (timing.every !== undefined) return after + timing.every;
  // BullMQ's strategy swallows the parser's "out of range" error and returns undefined.
  return getNextMillis(after, { pattern: timing.pattern, tz: timing.tz });
}

/**
 * Returns the next `count` fire times after `from`. For an interval, `from`
 * itself is the first one when `includeFrom` is set (a scheduler's pending run).
 */
export function fireTimes(timing: ScheduleTiming, from: number, count: number, includeFrom = false): number[] {
  const times: number[] = includeFrom ? [from] : [];
  let cursor = from;
  while (times.length < count) {
    const next = nextFireTime(timing, cursor);
    if (next === undefined) break;
    times.push(next);
    cursor = next;
  }
  return times;
}

/** Counts the fire times from `slot` (itself a fire time, counted) up to and including `until`. */
export function countFireTimes(timing: ScheduleTiming, slot: number, until: number): number {
  if (until < slot) return 0;
  if (timing.every !== undefined) return Math.min(COUNT_LIMIT, Math.floor((until - slot) / timing.every) + 1);

  let count = 1;
  let cursor = slot;
  while (count < COUNT_LIMIT) {
    const next = nextFireTime(timing, cursor);
    if (next === undefined || next > until) break;
    count += 1;
    cursor = next;
  }
  return count;
}

/** Returns the expression's next fire time, or undefined when cron-parser finds none in its search range. */
function nextOrUndefined(expression: CronExpression): Date | undefined {
  try {
    return expression.next().toDate();
  } catch {
    return undefined;
  }
}

/** Returns an error message when `tz` is not an IANA time zone name that this runtime's Intl supports. */
export function checkTimeZone(tz: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return undefined;
  } catch {
    return `tz "${tz}" is not an IANA time zone name; use one such as UTC or America/New_York`;
  }
}

/** Returns an error message when `every` is shorter than `minIntervalMs`. */
export function checkEvery(every: number, minIntervalMs: number): string | undefined {
  if (every >= minIntervalMs) return undefined;
  return `every ${every} ms is shorter than the minimum of ${minIntervalMs} ms (SCHEDULE_MIN_INTERVAL_MS); use a longer interval`;
}

/**
 * Returns an error message when cron-parser rejects `pattern`, when it never
 * fires, or when two of its next fire times are closer than `minIntervalMs`.
 */
export function checkPattern(pattern: string, tz: string, minIntervalMs: number, now = Date.now()): string | undefined {
  let times: Date[];
  try {
    const expression = CronExpressionParser.parse(pattern, { currentDate: new Date(now), tz });
    times = [];
    // Every cron field repeats within a year (leap days aside), so a year and a day of fire times shows the shortest gap.
    const horizon = now + GAP_SAMPLE_SPAN_MS;
    while (times.length < GAP_SAMPLE_SIZE) {
      const next = nextOrUndefined(expression);
      if (next === undefined) break;
      times.push(next);
      if (next.getTime() > horizon) break;
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return `pattern "${pattern}" is invalid: ${reason}`;
  }
  if (times.length === 0) return `pattern "${pattern}" never fires; check its day and month fields`;

  for (let index = 1; index < times.length; index += 1) {
    const gap = times[index]!.getTime() - times[index - 1]!.getTime();
    if (gap < minIntervalMs) {
      return `pattern "${pattern}" fires ${gap} ms apart (at ${times[index - 1]!.toISOString()} and ${times[index]!.toISOString()}), more often than the minimum of ${minIntervalMs} ms (SCHEDULE_MIN_INTERVAL_MS)`;
    }
  }
  return undefined;
}
