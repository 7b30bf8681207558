import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { LIST_LIMIT, type ReviewWindow } from './login-patterns.js';

/** Usual working hours in UTC: from `start` (included) to `end` (excluded); `start > end` wraps past midnight. */
export interface WorkingHours {
  start: number;
  end: number;
}

/** Parses SECURITY_ADMIN_HOURS, such as `07-19` or `22-06`. Equal start and end mean every hour is usual. */
export function parseWorkingHours(value: string): WorkingHours {
  const match = /^(\d{1,2})-(\d{1,2})$/.exec(value.trim());
  const start = Number(match?.[1]);
  const end = Number(match?.[2]);
  if (!match || start > 23 || end > 24) {
    throw new Error(`SECURITY_ADMIN_HOURS "${value}" is invalid: expected start-end hours in UTC, such as 07-19`);
  }
  return { start, end: end % 24 };
}

export type OffHoursAction = {
  id: number;
  userId: number;
  account: string;
  action: string;
  at: string;
  /** Hour of the day in UTC. */
  hour: number;
};

export type OffHoursAdmin = {
  userId: number;
  account: string;
  actions: number;
};

/** Lists audit_logs rows of the period written by admins outside `hours`, the UTC hour of each row deciding. */
export async function findOffHoursAdminActions(db: Db, window: ReviewWindow, hours: WorkingHours) {
  const hour = sql<number>`extract(hour from a.created_at at time zone 'UTC')::int`;
  const usual =
    hours.start === hours.end
      ? sql<boolean>`true`
      : hours.start < hours.end
        ? sql<boolean>`${hour} >= ${hours.start} and ${hour} < ${hours.end}`
        : sql<boolean>`${hour} >= ${hours.start} or ${hour} < ${hours.end}`;

  const { rows } = await sql<Omit<OffHoursAction, 'at'> & { at: Date }>`
    select a.id, a.user_id as "userId", u.email as account, a.action, a.created_at as at, ${hour} as hour
    from audit_logs a
    join users u on u.id = a.user_id
    where u.role = 'admin'
      and a.created_at >= now() - make_interval(days => ${window.days})
      and not (${usual})
    order by a.created_at, a.id
  `.execute(db);

  const byAdmin = new Map<number, OffHoursAdmin>();
  for (const row of rows) {
    const entry = byAdmin.get(row.userId) ?? { userId: row.userId, account: row.account, actions: 0 };
    entry.actions += 1;
    byAdmin.set(row.userId, entry);
  }
  return {
    total: rows.length,
    admins: [...byAdmin.values()],
    actions: rows.slice(0, LIST_LIMIT).map((row) => ({ ...row, at: row.at.toISOString() })),
  };
}
