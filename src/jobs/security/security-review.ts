import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { Config } from '../../config.js';
import { raiseAlert, type AlertDependencies, type AlertInput } from '../alerts/alerts.js';
import { defineJob, type JobContext } from '../contract.js';
import { upsertBlock } from '../emergency/block-rules.js';
import { isIpNetwork } from '../emergency/payload-rules.js';
import { findOffHoursAdminActions, parseWorkingHours } from './admin-hours.js';
import {
  findAccountBursts,
  findIpBursts,
  findManyIpAccounts,
  summarizeFailedLogins,
  summarizeSecurityAlerts,
  type IpBurst,
} from './login-patterns.js';

const SOURCE = 'security-review';
// Alerts raised per kind of finding in one run; the summary lists the rest.
const MAX_ALERTS_PER_FINDING = 20;

/** Parses SECURITY_ALLOWLIST into addresses and ranges; an entry PostgreSQL's inet would reject fails the run. */
export function parseAllowlist(config: Pick<Config, 'SECURITY_ALLOWLIST'>): string[] {
  const entries = config.SECURITY_ALLOWLIST.split(',').map((entry) => entry.trim()).filter(Boolean);
  const invalid = entries.filter((entry) => !isIpNetwork(entry));
  if (invalid.length > 0) {
    throw new Error(`SECURITY_ALLOWLIST has invalid entries ${invalid.join(', ')}: expected IP addresses or CIDR ranges such as 10.0.0.0/8`);
  }
  return entries;
}

const alertDependencies = (context: JobContext): AlertDependencies => ({
  db: context.db,
  emailQueue: context.queues.email,
  config: context.config,
  logger: context.logger,
});

/** Blocks each bursting address that is neither allow-listed nor already blocked; returns what it blocked, or would block. */
async function blockBursts(context: JobContext, bursts: IpBurst[], windowMinutes: number, dryRun: boolean) {
  const hours = context.config.SECURITY_BLOCK_HOURS;
  const candidates = bursts.filter((burst) => !burst.allowlisted && !burst.alreadyBlocked);
  if (dryRun) return { blocked: [], wouldBlock: candidates.map((burst) => burst.ip) };

  const blocked: { ip: string; network: string; expiresAt: string | null }[] = [];
  for (const burst of candidates) {
    const { after } = await context.db.transaction().execute(async (trx) => {
      // Read-only mode sets the database default; this job's writes must still go through.
      await sql`set transaction read write`.execute(trx);
      return upsertBlock(trx, {
        address: burst.ip,
        reason: `security-review: ${burst.maxInWindow} failed logins within ${windowMinutes} minutes`,
        blockedBy: SOURCE,
        expiresInHours: hours,
      });
    });
    blocked.push({ ip: burst.ip, network: after.network, expiresAt: after.expires_at?.toISOString() ?? null });
  }
  return { blocked, wouldBlock: [] };
}

/**
 * The weekly security review. It summarizes the period's security alerts and
 * failed logins. It finds bursts of failed logins per address and per
 * account, accounts tried from many addresses, and admin actions outside
 * working hours. It raises an alert per finding and blocks bursting addresses
 * for SECURITY_BLOCK_HOURS. Allow-listed addresses are reported, never blocked.
 * With `dryRun` it blocks nothing and raises no alert.
 */
export const securityReview = defineJob({
  name: 'security-review',
  queue: 'maintenance',
  description: 'Review the week: security alerts, failed logins, unusual patterns; block bursting IPs',
  payload: Type.Object(
    {
      days: Type.Optional(Type.Integer({ minimum: 1, maximum: 90, description: 'Days reviewed, up to the database clock; default 7' })),
      dryRun: Type.Optional(Type.Boolean({ description: 'Report what would be blocked; block nothing and raise no alert' })),
    },
    { additionalProperties: false },
  ),
  role: 'admin',
  destructive: true,
  kind: 'maintenance',
  async run(context, payload) {
    const { config, db } = context;
    const window = { days: payload.days ?? 7 };
    const dryRun = payload.dryRun === true;
    const windowMinutes = config.SECURITY_BURST_WINDOW_MINUTES;
    const allowlist = parseAllowlist(config);
    const hours = parseWorkingHours(config.SECURITY_ADMIN_HOURS);

    const securityAlerts = await summarizeSecurityAlerts(db, window);
    const failedLogins = await summarizeFailedLogins(db, window);
    const ipBursts = await findIpBursts(db, window, {
      windowMinutes,
      threshold: config.SECURITY_IP_FAILED_THRESHOLD,
      allowlist,
    });
    const accountBursts = await findAccountBursts(db, window, { windowMinutes, threshold: config.SECURITY_ACCOUNT_FAILED_THRESHOLD });
    const manyIpAccounts = await findManyIpAccounts(db, window, config.SECURITY_ACCOUNT_IP_THRESHOLD);
    const offHours = await findOffHoursAdminActions(db, window, hours);
    await context.progress(50);

    const blocking = await blockBursts(context, ipBursts, windowMinutes, dryRun);
    const alerts = dryRun ? [] : findingAlerts({ ipBursts, accountBursts, manyIpAccounts, offHours, securityAlerts, windowMinutes, config });
    for (const alert of alerts) await raiseAlert(alertDependencies(context), alert);

    await context.log(
      `${ipBursts.length} bursting IPs, ${accountBursts.length} attacked accounts, ${manyIpAccounts.length} many-IP accounts, ` +
        `${offHours.total} off-hours admin actions; ${blocking.blocked.length} blocked`,
    );
    return {
      dryRun,
      days: window.days,
      thresholds: {
        burstWindowMinutes: windowMinutes,
        ipFailures: config.SECURITY_IP_FAILED_THRESHOLD,
        accountFailures: config.SECURITY_ACCOUNT_FAILED_THRESHOLD,
        accountIps: config.SECURITY_ACCOUNT_IP_THRESHOLD,
        adminHoursUtc: config.SECURITY_ADMIN_HOURS,
      },
      securityAlerts,
      failedLogins,
      ipBursts,
      accountBursts,
      manyIpAccounts,
      offHoursAdminActions: offHours.total,
      offHoursAdmins: offHours.admins,
      offHoursActions: offHours.actions,
      allowlist,
      blockHours: config.SECURITY_BLOCK_HOURS,
      blocked: blocking.blocked,
      wouldBlock: blocking.wouldBlock,
      skippedAllowlisted: ipBursts.filter((burst) => burst.allowlisted).map((burst) => burst.ip),
      alertsRaised: alerts.length,
    };
  },
});

interface Findings {
  ipBursts: IpBurst[];
  accountBursts: Awaited<ReturnType<typeof findAccountBursts>>;
  manyIpAccounts: Awaited<ReturnType<typeof findManyIpAccounts>>;
  offHours: Awaited<ReturnType<typeof findOffHoursAdminActions>>;
  securityAlerts: Awaited<ReturnType<typeof summarizeSecurityAlerts>>;
  windowMinutes: number;
  config: Config;
}

/** Builds one alert per finding, keyed by what it concerns, so next week's review counts a repeat on the same alert while it is open. */
function findingAlerts(findings: Findings): AlertInput[] {
  const { windowMinutes, config } = findings;
  const ipAlerts = findings.ipBursts.slice(0, MAX_ALERTS_PER_FINDING).map((burst) => ({
    severity: 'high' as const,
    source: SOURCE,
    key: `${SOURCE}:failed-login-burst:ip:${burst.ip}`,
    message: `${burst.maxInWindow} failed logins from ${burst.ip} within ${windowMinutes} minutes${burst.allowlisted ? ' (allow-listed, not blocked)' : ''}`,
    details: { ...burst },
  }));
  const accountAlerts = findings.accountBursts.slice(0, MAX_ALERTS_PER_FINDING).map((burst) => ({
    severity: 'medium' as const,
    source: SOURCE,
    key: `${SOURCE}:failed-login-burst:account:${burst.account}`,
    message: `${burst.maxInWindow} failed logins for ${burst.account} within ${windowMinutes} minutes`,
    details: { ...burst },
  }));
  const manyIpAlerts = findings.manyIpAccounts.slice(0, MAX_ALERTS_PER_FINDING).map((account) => ({
    severity: 'high' as const,
    source: SOURCE,
    key: `${SOURCE}:many-ips:${account.account}`,
    message: `Logins for ${account.account} from ${account.ips} IP addresses (threshold ${config.SECURITY_ACCOUNT_IP_THRESHOLD})`,
    details: { ...account },
  }));
  const offHoursAlerts = findings.offHours.admins.slice(0, MAX_ALERTS_PER_FINDING).map((admin) => ({
    severity: 'medium' as const,
    source: SOURCE,
    key: `${SOURCE}:admin-off-hours:${admin.account}`,
    message: `Admin ${admin.account} acted ${admin.actions} times outside ${config.SECURITY_ADMIN_HOURS} UTC`,
    details: { ...admin, actions: findings.offHours.actions.filter((action) => action.userId === admin.userId) },
  }));
  const open = findings.securityAlerts.open;
  const openAlerts =
    open.length === 0
      ? []
      : [
          {
            severity: 'high' as const,
            source: SOURCE,
            key: `${SOURCE}:unresolved-security-alerts`,
            message: `${open.length} critical or high security alerts of the past week are unresolved`,
            details: { ids: open.map((alert) => alert.id) },
          },
        ];
  return [...ipAlerts, ...accountAlerts, ...manyIpAlerts, ...offHoursAlerts, ...openAlerts];
}
