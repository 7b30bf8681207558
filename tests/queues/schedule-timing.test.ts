import { getNextMillis } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { checkEvery, checkPattern, checkTimeZone, countFireTimes, fireTimes } from '../../src/queues/schedule-timing.js';
import { describeLocalTime } from '../../src/server/routes/schedule-schemas.js';

const NEW_YORK = 'America/New_York';
const iso = (millis: number) => new Date(millis).toISOString();

/** Lists the runs a BullMQ worker plans: each next run computed from the previous fire time by BullMQ's own strategy. */
function bullmqFireTimes(pattern: string, tz: string, from: string, count: number): string[] {
  const times: string[] = [];
  let cursor = new Date(from).getTime();
  for (let index = 0; index < count; index += 1) {
    cursor = getNextMillis(cursor, { pattern, tz })!;
    times.push(iso(cursor));
  }
  return times;
}

describe('daylight saving in America/New_York', () => {
  // 2026-03-08: at 02:00 EST the clocks jump to 03:00 EDT, so 02:30 does not exist that day.
  it('runs 02:30 at 03:30 EDT on spring-forward day', () => {
    const times = fireTimes({ pattern: '30 2 * * *', tz: NEW_YORK }, Date.parse('2026-03-06T12:00:00Z'), 4).map(iso);

    expect(times).toEqual([
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-08T07:30:00.000Z', // 03:30 EDT: one hour after the missing 02:30
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
      '2026-03-10T06:30:00.000Z',
    ]);
    expect(times).toEqual(bullmqFireTimes('30 2 * * *', NEW_YORK, '2026-03-06T12:00:00Z', 4));
    expect(describeLocalTime(Date.parse(times[1]!), NEW_YORK)).toBe('2026-03-08 03:30:00 GMT-4');
  });

  it('runs 01:30 once on spring-forward day', () => {
    const times = fireTimes({ pattern: '30 1 * * *', tz: NEW_YORK }, Date.parse('2026-03-06T12:00:00Z'), 4).map(iso);

    expect(times).toEqual(['2026-03-07T06:30:00.000Z', '2026-03-08T06:30:00.000Z', '2026-03-09T05:30:00.000Z', '2026-03-10T05:30:00.000Z']);
    expect(times).toEqual(bullmqFireTimes('30 1 * * *', NEW_YORK, '2026-03-06T12:00:00Z', 4));
  });

  // 2026-11-01: at 02:00 EDT the clocks go back to 01:00 EST, so 01:30 happens at 05:30Z and again at 06:30Z.
  it('runs 01:30 once, at the EDT occurrence, on fall-back day', () => {
    const times = fireTimes({ pattern: '30 1 * * *', tz: NEW_YORK }, Date.parse('2026-10-30T12:00:00Z'), 4).map(iso);

    expect(times).toEqual([
      '2026-10-31T05:30:00.000Z', // 01:30 EDT
      '2026-11-01T05:30:00.000Z', // first 01:30, EDT; the second one (06:30Z, EST) gets no run
      '2026-11-02T06:30:00.000Z', // 01:30 EST
      '2026-11-03T06:30:00.000Z',
    ]);
    expect(times).not.toContain('2026-11-01T06:30:00.000Z');
    expect(times).toEqual(bullmqFireTimes('30 1 * * *', NEW_YORK, '2026-10-30T12:00:00Z', 4));
    expect(describeLocalTime(Date.parse(times[1]!), NEW_YORK)).toBe('2026-11-01 01:30:00 GMT-4');
  });

  it('continues from the first 01:30 without a second run', () => {
    // A worker plans the next run from the fire time it just took, as BullMQ does.
    const afterFirst = fireTimes({ pattern: '30 1 * * *', tz: NEW_YORK }, Date.parse('2026-11-01T05:30:00Z'), 1).map(iso);

    expect(afterFirst).toEqual(['2026-11-02T06:30:00.000Z']);
  });

  it('runs 02:30 once on fall-back day', () => {
    const times = fireTimes({ pattern: '30 2 * * *', tz: NEW_YORK }, Date.parse('2026-10-30T12:00:00Z'), 4).map(iso);

    expect(times).toEqual(['2026-10-31T06:30:00.000Z', '2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z', '2026-11-03T07:30:00.000Z']);
    expect(times).toEqual(bullmqFireTimes('30 2 * * *', NEW_YORK, '2026-10-30T12:00:00Z', 4));
  });
});

describe('schedule checks', () => {
  const minimum = 10_000;

  it('accepts a daily pattern', () => {
    expect(checkPattern('0 3 * * *', 'UTC', minimum)).toBeUndefined();
  });

  it('reports the parser reason for a bad field', () => {
    expect(checkPattern('61 * * * *', 'UTC', minimum)).toMatch(/^pattern "61 \* \* \* \*" is invalid: .*61/);
  });

  it('reports an unknown word', () => {
    expect(checkPattern('every day', 'UTC', minimum)).toMatch(/^pattern "every day" is invalid: /);
  });

  it('rejects a pattern that fires every 5 seconds', () => {
    expect(checkPattern('*/5 * * * * *', 'UTC', minimum)).toMatch(/fires 5000 ms apart.*minimum of 10000 ms/);
  });

  it('rejects a pattern with a short burst once a day', () => {
    // Two runs two seconds apart at 03:00, then nothing for a day: the gap check must find the burst.
    expect(checkPattern('0,2 0 3 * * *', 'UTC', minimum)).toMatch(/fires 2000 ms apart/);
  });

  it('rejects a pattern that never fires', () => {
    expect(checkPattern('0 0 30 2 *', 'UTC', minimum)).toMatch(/pattern "0 0 30 2 \*"/);
  });

  it('rejects an interval under the minimum', () => {
    expect(checkEvery(9_999, minimum)).toMatch(/every 9999 ms is shorter than the minimum of 10000 ms/);
    expect(checkEvery(10_000, minimum)).toBeUndefined();
  });

  it('accepts IANA zones only', () => {
    expect(checkTimeZone('America/New_York')).toBeUndefined();
    expect(checkTimeZone('Mars/Olympus_Mons')).toMatch(/not an IANA time zone/);
  });
});

describe('slot counting', () => {
  it('counts interval slots up to an instant', () => {
    expect(countFireTimes({ every: 1000 }, 10_000, 13_500)).toBe(4);
    expect(countFireTimes({ every: 1000 }, 10_000, 10_000)).toBe(1);
  });

  it('counts pattern slots up to an instant', () => {
    const slot = Date.parse('2026-03-01T03:00:00Z');
    expect(countFireTimes({ pattern: '0 3 * * *', tz: 'UTC' }, slot, Date.parse('2026-03-04T02:59:00Z'))).toBe(3);
    expect(countFireTimes({ pattern: '0 3 * * *', tz: 'UTC' }, slot, Date.parse('2026-03-04T03:00:00Z'))).toBe(4);
  });
});
