import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { StringEnum } from '../../schemas.js';
import { defineJob } from '../contract.js';

/** Counts and lists active accounts without a login for N days (never-logged-in accounts count from creation). */
export const inactiveUsers = defineJob({
  name: 'inactive-users',
  queue: 'maintenance',
  description: 'Count and list users with no login for a number of days',
  payload: Type.Object(
    {
      days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'Days without login; default 90' })),
      role: Type.Optional(StringEnum(['admin', 'manager', 'crew'])),
      limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, description: 'Users listed, oldest login first; default 100' })),
    },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const days = payload.days ?? 90;
    let inactive = context.db
      .selectFrom('users')
      .where('is_active', '=', true)
      .where(sql<boolean>`coalesce(last_login_at, created_at) < now() - make_interval(days => ${days})`);
    if (payload.role) inactive = inactive.where('role', '=', payload.role);

    const byRole = await inactive.select(['role', (eb) => eb.fn.countAll<number>().as('users')]).groupBy('role').orderBy('role').execute();
    const listed = await inactive
      .select(['id', 'email', 'role', 'last_login_at'])
      .orderBy(sql`coalesce(last_login_at, created_at)`)
      .orderBy('id')
      .limit(payload.limit ?? 100)
      .execute();

    return {
      days,
      total: byRole.reduce((sum, row) => sum + row.users, 0),
      byRole: Object.fromEntries(byRole.map((row) => [row.role, row.users])),
      users: listed.map((user) => ({ id: user.id, email: user.email, role: user.role, lastLoginAt: user.last_login_at?.toISOString() ?? null })),
    };
  },
});
