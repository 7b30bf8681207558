import { Type } from '@fastify/type-provider-typebox';

/** Maximum fire times in one preview: a year of daily runs fits, and a reply stays small. */
export const MAX_PREVIEW = 400;

export const ScheduleParams = Type.Object({
  id: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$', description: 'Schedule id, equal to the job name' }),
});

const Timing = {
  pattern: Type.Union([Type.String(), Type.Null()]),
  every: Type.Union([Type.Integer({ description: 'Interval in milliseconds' }), Type.Null()]),
};

export const Schedule = Type.Object({
  id: Type.String({ description: 'Scheduler id, equal to the job name' }),
  queue: Type.String(),
  // Those of the BullMQ job scheduler, or of the effective schedule while there is none (paused).
  ...Timing,
  tz: Type.String({ description: 'IANA time zone of the pattern' }),
  paused: Type.Boolean(),
  nextRun: Type.Union([Type.String(), Type.Null()], { description: 'Null while paused' }),
  calendar: Type.String({ description: 'The calendar entry in words' }),
  default: Type.Object({ ...Timing, tz: Type.String() }, { description: 'The calendar entry as the code defines it' }),
  override: Type.Union([
    Type.Object(
      {
        ...Timing,
        tz: Type.Union([Type.String(), Type.Null()]),
        paused: Type.Boolean(),
        updatedBy: Type.String(),
        updatedAt: Type.String(),
      },
      { description: 'The stored change; null fields keep the default' },
    ),
    Type.Null(),
  ]),
  skippedOverlaps: Type.Integer({ description: 'Slots skipped because the previous run of the job was still running' }),
});

export const ScheduleChange = Type.Object(
  {
    pattern: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Cron pattern (cron-parser syntax, optional seconds field)' }),
    ),
    every: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'Interval in milliseconds' })),
    tz: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone of the pattern, for example Europe/Oslo' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const PreviewQuery = Type.Object(
  {
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PREVIEW, description: 'How many fire times; default 10' })),
    from: Type.Optional(Type.String({ format: 'date-time', maxLength: 64, description: 'List the fire times after this instant; default now' })),
  },
  { additionalProperties: false },
);

export const Preview = Type.Object({
  id: Type.String(),
  ...Timing,
  tz: Type.String(),
  paused: Type.Boolean(),
  from: Type.String(),
  fireTimes: Type.Array(
    Type.Object({
      at: Type.String({ description: 'UTC instant' }),
      local: Type.String({ description: 'The same instant as wall-clock time in the time zone, with its UTC offset' }),
    }),
  ),
});

export const HistoryEntry = Type.Object({
  id: Type.Integer(),
  action: Type.String({ description: 'update, pause or resume' }),
  changedBy: Type.String(),
  changedAt: Type.String(),
  before: Type.Unknown({ description: 'The override before the change; null when there was none' }),
  after: Type.Unknown(),
});

/** Formats an instant as wall-clock time in `tz` with its offset, for example `2026-03-08 03:30:00 GMT-4`. */
export function describeLocalTime(millis: number, tz: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'shortOffset',
  }).formatToParts(new Date(millis));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((candidate) => candidate.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')} ${part('timeZoneName')}`;
}
