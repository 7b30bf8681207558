import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { defineJob } from '../contract.js';

/** Lists every admin, least recent login first, with whether the account is dormant after `dormantDays` without login. */
export async function selectAdmins(db: Db, dormantDays: number) {
  return db
    .selectFrom('users')
    .select(['id', 'email', 'full_name', 'is_active', 'created_at', 'last_login_at'])
    .select(sql<boolean>`coalesce(last_login_at, created_at) < now() - make_interval(days => ${dormantDays})`.as('dormant'))
    .where('role', '=', 'admin')
    .orderBy('last_login_at', (order) => order.asc().nullsFirst())
    .orderBy('id')
    .execute();
}

/** Lists every admin with creation and last login, and flags the dormant ones. Changes nothing. */
export const auditAdmins = defineJob({
  name: 'audit-admins',
  queue: 'maintenance',
  description: 'List admin accounts with their last login and flag dormant ones',
  payload: Type.Object(
    { dormantDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'Days without login that make an admin dormant; default ADMIN_DORMANT_DAYS' })) },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const dormantDays = payload.dormantDays ?? context.config.ADMIN_DORMANT_DAYS;
    const admins = await selectAdmins(context.db, dormantDays);

    const dormant = admins.filter((admin) => admin.dormant && admin.is_active);
    return {
      dormantDays,
      admins: admins.length,
      active: admins.filter((admin) => admin.is_active).length,
      dormant: dormant.length,
      neverLoggedIn: admins.filter((admin) => admin.last_login_at === null).length,
      accounts: admins.map((admin) => ({
        id: admin.id,
        email: admin.email,
        name: admin.full_name,
        active: admin.is_active,
        createdAt: admin.created_at.toISOString(),
        lastLoginAt: admin.last_login_at?.toISOString() ?? null,
        dormant: admin.dormant,
      })),
    };
  },
});
