import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { selectAdmins } from '../access/audit-admins.js';
import { raiseAlert, type AlertInput } from '../alerts/alerts.js';
import { defineJob } from '../contract.js';
import { LIST_LIMIT } from './login-patterns.js';

const SOURCE = 'security-audit';

interface AuditRules {
  accountDormantDays: number;
  adminDormantDays: number;
  passwordMaxAgeDays: number;
}

/** Counts users per role: all, active, and inactive. */
async function permissionsByRole(db: Db) {
  const rows = await db
    .selectFrom('users')
    .select(['role', sql<number>`count(*)::int`.as('users'), sql<number>`count(*) filter (where is_active)::int`.as('active')])
    .groupBy('role')
    .orderBy('role')
    .execute();
  return rows.map((row) => ({ role: row.role, users: row.users, active: row.active, inactive: row.users - row.active }));
}

/** Summarizes what admins did over the past month, per admin and per action. */
async function adminAccessLog(db: Db) {
  const since = sql`now() - interval '1 month'`;
  const byAdmin = await sql<{ userId: number; account: string; actions: number; logins: number; firstAt: Date; lastAt: Date }>`
    select u.id as "userId", u.email as account, count(*)::int as actions,
      count(*) filter (where a.action = 'user.login')::int as logins,
      min(a.created_at) as "firstAt", max(a.created_at) as "lastAt"
    from audit_logs a join users u on u.id = a.user_id
    where u.role = 'admin' and a.created_at >= ${since}
    group by u.id, u.email order by 3 desc, u.id
  `.execute(db);
  const byAction = await sql<{ action: string; count: number }>`
    select a.action, count(*)::int as count
    from audit_logs a join users u on u.id = a.user_id
    where u.role = 'admin' and a.created_at >= ${since}
    group by 1 order by 2 desc, 1
  `.execute(db);
  return {
    actions: byAdmin.rows.reduce((sum, row) => sum + row.actions, 0),
    byAdmin: byAdmin.rows.map((row) => ({ ...row, firstAt: row.firstAt.toISOString(), lastAt: row.lastAt.toISOString() })),
    byAction: Object.fromEntries(byAction.rows.map((row) => [row.action, row.count])),
  };
}

/**
 * Finds active accounts without a login for their role's dormancy limit
 * (accounts that never logged in count from creation). Only reads.
 */
async function dormantAccounts(db: Db, rules: AuditRules) {
  const limit = sql<number>`case when role = 'admin' then ${rules.adminDormantDays}::int else ${rules.accountDormantDays}::int end`;
  const dormant = db
    .selectFrom('users')
    .where('is_active', '=', true)
    .where(sql<boolean>`coalesce(last_login_at, created_at) < now() - make_interval(days => ${limit})`);

  const byRole = await dormant.select(['role', sql<number>`count(*)::int`.as('users')]).groupBy('role').orderBy('role').execute();
  const listed = await dormant
    .select(['id', 'email', 'role', 'last_login_at', 'created_at'])
    .orderBy(sql`coalesce(last_login_at, created_at)`)
    .orderBy('id')
    .limit(LIST_LIMIT)
    .execute();
  return {
    total: byRole.reduce((sum, row) => sum + row.users, 0),
    byRole: Object.fromEntries(byRole.map((row) => [row.role, row.users])),
    accounts: listed.map((user) => ({
      id: user.id,
      email: user.email,
      role: user.role,
      lastLoginAt: user.last_login_at?.toISOString() ?? null,
      createdAt: user.created_at.toISOString(),
    })),
  };
}

/** Counts the active accounts that break each policy rule. */
async function policyCounts(db: Db, rules: AuditRules) {
  const { rows } = await sql<{ passwordTooOld: number; adminsWithoutRecentLogin: number; accountsWithoutCrew: number }>`
    select
      count(*) filter (where coalesce(password_changed_at, created_at) < now() - make_interval(days => ${rules.passwordMaxAgeDays}))::int as "passwordTooOld",
      count(*) filter (where role = 'admin' and coalesce(last_login_at, created_at) < now() - make_interval(days => ${rules.adminDormantDays}))::int as "adminsWithoutRecentLogin",
      count(*) filter (where role <> 'admin' and crew_id is null)::int as "accountsWithoutCrew"
    from users where is_active
  `.execute(db);
  return rows[0]!;
}

/**
 * The monthly security audit: users and permissions per role, the admins and
 * their actions of the past month, dormant accounts, and a policy checklist
 * (password age, admins without a recent login, accounts without a crew,
 * dormant accounts). Each failed check raises an alert. It reads only:
 * dormant accounts are flagged in the result and the alert, never deleted or
 * deactivated.
 */
export const securityAudit = defineJob({
  name: 'security-audit',
  queue: 'maintenance',
  description: 'Monthly audit: permissions by role, admin access, dormant accounts, policy checklist',
  payload: Type.Object(
    {
      dormantDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'Days without login that make a non-admin account dormant; default ACCOUNT_DORMANT_DAYS' })),
      passwordMaxAgeDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'Maximum password age in days; default PASSWORD_MAX_AGE_DAYS' })),
    },
    { additionalProperties: false },
  ),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context, payload) {
    const { config, db } = context;
    const rules: AuditRules = {
      accountDormantDays: payload.dormantDays ?? config.ACCOUNT_DORMANT_DAYS,
      adminDormantDays: config.ADMIN_DORMANT_DAYS,
      passwordMaxAgeDays: payload.passwordMaxAgeDays ?? config.PASSWORD_MAX_AGE_DAYS,
    };

    const permissions = await permissionsByRole(db);
    const admins = await selectAdmins(db, rules.adminDormantDays);
    const adminAccess = await adminAccessLog(db);
    const dormant = await dormantAccounts(db, rules);
    const counts = await policyCounts(db, rules);

    const checklist = [
      { check: 'password-age', rule: `password set within ${rules.passwordMaxAgeDays} days`, failing: counts.passwordTooOld },
      { check: 'admin-recent-login', rule: `every admin logged in within ${rules.adminDormantDays} days`, failing: counts.adminsWithoutRecentLogin },
      { check: 'accounts-with-crew', rule: 'every active non-admin account belongs to a crew', failing: counts.accountsWithoutCrew },
      { check: 'dormant-accounts', rule: `no active account unused for ${rules.accountDormantDays} days (admins ${rules.adminDormantDays})`, failing: dormant.total },
    ].map((item) => ({ ...item, passed: item.failing === 0 }));

    const alerts: AlertInput[] = checklist
      .filter((item) => !item.passed)
      .map((item) => ({
        severity: item.check === 'admin-recent-login' ? 'high' : 'medium',
        source: SOURCE,
        key: `${SOURCE}:${item.check}`,
        message: `Security audit: ${item.failing} active accounts fail "${item.rule}"`,
        details: item.check === 'dormant-accounts' ? { byRole: dormant.byRole, accountIds: dormant.accounts.map((account) => account.id) } : { ...item },
      }));
    for (const alert of alerts) {
      await raiseAlert({ db, emailQueue: context.queues.email, config, logger: context.logger }, alert);
    }

    await context.log(`checklist: ${checklist.filter((item) => !item.passed).length} of ${checklist.length} checks failed; ${dormant.total} dormant accounts flagged`);
    return {
      rules: { ...rules },
      permissions,
      admins: admins.map((admin) => ({
        id: admin.id,
        email: admin.email,
        active: admin.is_active,
        lastLoginAt: admin.last_login_at?.toISOString() ?? null,
        dormant: admin.dormant,
      })),
      adminAccess,
      dormantAccounts: dormant.total,
      dormantByRole: dormant.byRole,
      dormant: dormant.accounts,
      checklist,
      checksFailed: checklist.filter((item) => !item.passed).length,
      alertsRaised: alerts.length,
    };
  },
});
