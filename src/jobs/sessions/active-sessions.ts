import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { defineJob } from '../contract.js';

/** Live sessions: not revoked, and not expired (a NULL expiry lasts until revoked). */
const LIVE = sql`s.revoked_at is null and (s.expires_at is null or s.expires_at > now())`;

/** Reports live sessions by role and by crew, and how many were active recently. Changes nothing. */
export const activeSessions = defineJob({
  name: 'active-sessions',
  queue: 'maintenance',
  description: 'Count live sessions by role and crew, and recent activity',
  payload: Type.Object(
    { topCrews: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Crews listed by session count; default 10' })) },
    { additionalProperties: false },
  ),
  role: 'viewer',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const { db } = context;

    const { rows: totals } = await sql<{ live: number; users: number; last15m: number; last1h: number; last24h: number }>`
      select
        count(*)::int as live,
        count(distinct s.user_id)::int as users,
        count(*) filter (where s.last_seen_at > now() - interval '15 minutes')::int as last15m,
        count(*) filter (where s.last_seen_at > now() - interval '1 hour')::int as last1h,
        count(*) filter (where s.last_seen_at > now() - interval '24 hours')::int as last24h
      from user_sessions s
      where ${LIVE}
    `.execute(db);

    const { rows: byRole } = await sql<{ role: string; sessions: number }>`
      select u.role, count(*)::int as sessions
      from user_sessions s join users u on u.id = s.user_id
      where ${LIVE}
      group by u.role
      order by u.role
    `.execute(db);

    const { rows: byCrew } = await sql<{ crew: string; sessions: number }>`
      select coalesce(c.name, '(no crew)') as crew, count(*)::int as sessions
      from user_sessions s join users u on u.id = s.user_id left join crews c on c.id = u.crew_id
      where ${LIVE}
      group by c.name
      order by sessions desc, crew
      limit ${payload.topCrews ?? 10}
    `.execute(db);

    const total = totals[0] ?? { live: 0, users: 0, last15m: 0, last1h: 0, last24h: 0 };
    return {
      liveSessions: total.live,
      users: total.users,
      activeWithin: { '15m': total.last15m, '1h': total.last1h, '24h': total.last24h },
      byRole: Object.fromEntries(byRole.map((row) => [row.role, row.sessions])),
      byCrew: Object.fromEntries(byCrew.map((row) => [row.crew, row.sessions])),
    };
  },
});
