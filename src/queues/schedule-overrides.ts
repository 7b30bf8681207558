import type { Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { ScheduleChangeAction, ScheduleOverridesTable } from '../db/schema.js';
import { CALENDAR_TIME_ZONE, type CalendarEntry } from './calendar.js';
import type { ScheduleTiming } from './schedule-timing.js';

/*
 * Glossary:
 * - default: a calendar entry as the code defines it, in UTC;
 * - override: an operator's change stored in schedule_overrides (pattern or
 *   interval, time zone, paused), which survives restarts;
 * - effective schedule: the default with the override applied, which the
 *   BullMQ job scheduler follows.
 */

export type ScheduleOverride = Selectable<ScheduleOverridesTable>;

export interface EffectiveSchedule extends ScheduleTiming {
  id: string;
  tz: string;
  paused: boolean;
}

/** Applies `override` to a calendar entry. A pattern or interval in the override replaces both of the entry's. */
export function effectiveSchedule(entry: CalendarEntry, override?: ScheduleOverride): EffectiveSchedule {
  const tz = override?.tz ?? CALENDAR_TIME_ZONE;
  const paused = override?.paused ?? false;
  if (override?.pattern) return { id: entry.job, pattern: override.pattern, tz, paused };
  if (override?.every) return { id: entry.job, every: override.every, tz, paused };
  return entry.pattern !== undefined
    ? { id: entry.job, pattern: entry.pattern, tz, paused }
    : { id: entry.job, every: entry.every, tz, paused };
}

export async function loadOverrides(db: Db): Promise<Map<string, ScheduleOverride>> {
  const rows = await db.selectFrom('schedule_overrides').selectAll().execute();
  return new Map(rows.map((row) => [row.id, row]));
}

export async function findOverride(db: Db, id: string): Promise<ScheduleOverride | undefined> {
  return db.selectFrom('schedule_overrides').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Removes the override of schedule `id`, so the calendar's default applies
 * again, and records the reset in schedule_history. Returns the removed row,
 * or null when there was none and nothing changed.
 */
export async function removeOverride(db: Db, id: string, changedBy: string): Promise<ScheduleOverride | null> {
  return db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('schedule_overrides').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!current) return null;
    await trx.deleteFrom('schedule_overrides').where('id', '=', id).execute();
    await trx
      .insertInto('schedule_history')
      .values({ schedule_id: id, action: 'reset', changed_by: changedBy, before: JSON.stringify(snapshot(current)), after: null })
      .execute();
    return current;
  });
}

/** A change request: a pattern clears the interval and the reverse; unset fields keep their value. */
export interface OverrideChange {
  pattern?: string;
  every?: number;
  tz?: string;
  paused?: boolean;
}

export interface OverrideChangeResult {
  before: ScheduleOverride | null;
  after: ScheduleOverride;
  /** False when the change left the row as it was; no history row is written then. */
  changed: boolean;
}

const snapshot = (row: ScheduleOverride | null) =>
  row === null
    ? null
    : { pattern: row.pattern, every: row.every, tz: row.tz, paused: row.paused, updated_by: row.updated_by, updated_at: row.updated_at };

const sameSettings = (a: ScheduleOverride, b: ScheduleOverride) =>
  a.pattern === b.pattern && a.every === b.every && a.tz === b.tz && a.paused === b.paused;

/**
 * Changes the override of schedule `id` and appends a schedule_history row
 * with who changed it and the row before and after, in one transaction. The
 * row is locked first, so two concurrent changes are applied one after the other.
 */
export async function changeOverride(
  db: Db,
  id: string,
  action: ScheduleChangeAction,
  change: OverrideChange,
  changedBy: string,
): Promise<OverrideChangeResult> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('schedule_overrides')
      .values({ id, updated_by: changedBy })
      .onConflict((conflict) => conflict.column('id').doNothing())
      .executeTakeFirst();
    const current = await trx.selectFrom('schedule_overrides').selectAll().where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
    const before = Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 ? null : current;

    const next = {
      pattern: change.every !== undefined ? null : (change.pattern ?? current.pattern),
      every: change.pattern !== undefined ? null : (change.every ?? current.every),
      tz: change.tz ?? current.tz,
      paused: change.paused ?? current.paused,
    };
    // Compared with the row as locked: a new row holds no change yet, so only a real change is recorded.
    if (sameSettings(current, { ...current, ...next })) return { before, after: current, changed: false };

    const after = await trx
      .updateTable('schedule_overrides')
      .set({ ...next, updated_by: changedBy, updated_at: new Date() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('schedule_history')
      .values({
        schedule_id: id,
        action,
        changed_by: changedBy,
        before: before === null ? null : JSON.stringify(snapshot(before)),
        after: JSON.stringify(snapshot(after)),
      })
      .execute();
    return { before, after, changed: true };
  });
}
