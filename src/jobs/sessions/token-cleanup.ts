import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { databaseNow } from '../../db/clock.js';
import type { Db } from '../../db/database.js';
import {
  archiveInBatches,
  batchSizing,
  countMatching,
  deleteInBatches,
  type BatchOptions,
  type BatchReport,
} from '../../db/batches.js';
import { defineJob, type JobSummary } from '../contract.js';

const AUDIT_COLUMNS = [
  'id',
  'user_id',
  'action',
  'entity_type',
  'entity_id',
  'details',
  'ip_address',
  'created_at',
] as const;

export const TokenCleanupPayload = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Report the counts and change nothing' })),
    batchSize: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100_000, description: 'Rows per statement, fixed for this run; default: adaptive from CLEANUP_BATCH_SIZE' }),
    ),
    auditRetentionDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 36_500, description: 'Archive audit logs older than this; default AUDIT_RETENTION_DAYS' }),
    ),
    sessionGraceHours: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 87_600, description: 'Keep expired or revoked sessions this long; default SESSION_GRACE_HOURS' }),
    ),
  },
  { additionalProperties: false },
);

export interface TokenCleanupOptions {
  /** The instant the cutoffs are computed from; the job passes the database clock. */
  now: Date;
  batchSize: number;
  /** Target milliseconds per statement; unset keeps every batch at `batchSize`. */
  budgetMs?: number;
  maxBatchSize?: number;
  auditRetentionDays: number;
  sessionGraceHours: number;
  dryRun: boolean;
  signal?: AbortSignal;
  onBatch?: (step: CleanupStep, rows: number) => Promise<void> | void;
}

export type CleanupStep = 'token_blacklist' | 'user_sessions' | 'audit_logs';

export interface StepResult extends Partial<BatchReport> {
  action: 'delete' | 'archive';
  /** Rows changed, or with dryRun the rows that would be changed. */
  rows: number;
}

export interface TokenCleanupResult {
  dryRun: boolean;
  asOf: string;
  /** Rows in the first statement; later ones adapt when a budget is set. */
  batchSize: number;
  cutoffs: { tokenExpiry: string; session: string; auditLog: string };
  steps: Record<CleanupStep, StepResult>;
}

const HOUR_MS = 3_600_000;

/** Sessions that expired or were revoked at or before `cutoff`; a NULL expiry never matches. */
export function endedSessionsWhere(cutoff: Date) {
  return sql`expires_at <= ${cutoff} or revoked_at <= ${cutoff}`;
}

/** Returns the cutoff for ended sessions: `graceHours` before `now`. */
export function sessionCutoff(now: Date, graceHours: number): Date {
  return new Date(now.getTime() - graceHours * HOUR_MS);
}

/**
 * Removes expired blacklist entries, removes sessions that expired or were
 * revoked more than the grace period ago, and archives old audit logs.
 *
 * A blacklist entry is expired when `expires_at <= now`, because the JWT it
 * rejects fails its own expiry check from then on. Entries and sessions with a NULL expiry are kept.
 */
export async function cleanupTokens(db: Db, options: TokenCleanupOptions): Promise<TokenCleanupResult> {
  const tokenCutoff = options.now;
  const sessionsBefore = sessionCutoff(options.now, options.sessionGraceHours);
  const auditCutoff = new Date(options.now.getTime() - options.auditRetentionDays * 24 * HOUR_MS);

  const tokenWhere = sql`expires_at <= ${tokenCutoff}`;
  const sessionWhere = endedSessionsWhere(sessionsBefore);
  const auditWhere = sql`created_at < ${auditCutoff}`;

  const batchOptions = (step: CleanupStep): BatchOptions => ({
    batchSize: options.batchSize,
    budgetMs: options.budgetMs,
    maxBatchSize: options.maxBatchSize,
    signal: options.signal,
    onBatch: (progress) => options.onBatch?.(step, progress.rows),
  });

  let steps: Record<CleanupStep, StepResult>;
  if (options.dryRun) {
    steps = {
      token_blacklist: { action: 'delete', rows: await countMatching(db, 'token_blacklist', tokenWhere) },
      user_sessions: { action: 'delete', rows: await countMatching(db, 'user_sessions', sessionWhere) },
      audit_logs: { action: 'archive', rows: await countMatching(db, 'audit_logs', auditWhere) },
    };
  } else {
    const tokens = await deleteInBatches(db, { table: 'token_blacklist', where: tokenWhere }, batchOptions('token_blacklist'));
    const sessions = await deleteInBatches(db, { table: 'user_sessions', where: sessionWhere }, batchOptions('user_sessions'));
    const audit = await archiveInBatches(
      db,
      { table: 'audit_logs', archiveTable: 'audit_logs_archive', columns: AUDIT_COLUMNS, where: auditWhere },
      batchOptions('audit_logs'),
    );
    steps = {
      token_blacklist: { action: 'delete', ...tokens },
      user_sessions: { action: 'delete', ...sessions },
      audit_logs: { action: 'archive', ...audit },
    };
  }

  return {
    dryRun: options.dryRun,
    asOf: options.now.toISOString(),
    batchSize: options.batchSize,
    cutoffs: {
      tokenExpiry: tokenCutoff.toISOString(),
      session: sessionsBefore.toISOString(),
      auditLog: auditCutoff.toISOString(),
    },
    steps,
  };
}

export const tokenCleanup = defineJob({
  name: 'token-cleanup',
  queue: 'maintenance',
  description: 'Remove expired JWT blacklist entries and sessions, archive old audit logs',
  payload: TokenCleanupPayload,
  role: 'admin',
  destructive: true,
  kind: 'routine',
  async run(context, payload) {
    const now = await databaseNow(context);

    const result = await cleanupTokens(context.db, {
      now,
      dryRun: payload.dryRun ?? false,
      ...batchSizing(context.config, payload.batchSize),
      auditRetentionDays: payload.auditRetentionDays ?? context.config.AUDIT_RETENTION_DAYS,
      sessionGraceHours: payload.sessionGraceHours ?? context.config.SESSION_GRACE_HOURS,
      signal: context.signal,
      onBatch: (step, rowsSoFar) => context.progress({ step, rows: rowsSoFar }),
    });

    for (const [step, stepResult] of Object.entries(result.steps)) {
      const verb = result.dryRun ? `would ${stepResult.action}` : `${stepResult.action}d`;
      await context.log(`${step}: ${verb} ${stepResult.rows} rows`);
    }
    return result as unknown as JobSummary;
  },
});
