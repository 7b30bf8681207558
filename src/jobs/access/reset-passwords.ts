import { createHash, randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { sql, type Transaction } from 'kysely';
import type { Database } from '../../db/schema.js';
import { StringEnum } from '../../schemas.js';
import { defineJob, type JobContext } from '../contract.js';
import { scheduleAfterCommit } from '../alerts/alerts.js';
import { insertEmail } from '../email/email-queue.js';

/** The text the `confirm` field must repeat before every user's password is reset. */
export const RESET_ALL_CONFIRMATION = 'RESET ALL USERS';
const BATCH_SIZE = 200;

export const ResetPasswordsPayload = Type.Object(
  {
    role: Type.Optional(StringEnum(['admin', 'manager', 'crew'], { description: 'Every active user with this role' })),
    crewId: Type.Optional(Type.Integer({ minimum: 1, description: 'Every active user of this crew' })),
    userIds: Type.Optional(Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 10_000, uniqueItems: true })),
    all: Type.Optional(Type.Boolean({ description: 'Every active user; needs confirm' })),
    confirm: Type.Optional(Type.String({ maxLength: 50, description: `Must be "${RESET_ALL_CONFIRMATION}" with all` })),
    dryRun: Type.Optional(Type.Boolean({ description: 'Count the users and change nothing' })),
    resend: Type.Optional(Type.Boolean({ description: 'Also reset users already waiting for a reset; by default they are skipped, so a rerun sends no second email' })),
    expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 168, description: 'Lifetime of the reset link; default 24' })),
  },
  { additionalProperties: false },
);

type Payload = (typeof ResetPasswordsPayload)['static'];

function selectorProblems(payload: Payload): string[] {
  const selectors = [payload.role, payload.crewId, payload.userIds, payload.all ? true : undefined].filter((value) => value !== undefined);
  if (selectors.length !== 1) return ['choose exactly one of data.role, data.crewId, data.userIds or data.all'];
  if (payload.all && payload.confirm !== RESET_ALL_CONFIRMATION) {
    return [`data.all resets every user: set data.confirm to "${RESET_ALL_CONFIRMATION}" to go ahead`];
  }
  return [];
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

async function resetOne(trx: Transaction<Database>, context: JobContext, user: { id: number; email: string }, expiresAt: Date) {
  const token = randomBytes(32).toString('base64url');
  await trx.updateTable('users').set({ password_reset_required: true }).where('id', '=', user.id).execute();
  const revoked = await trx
    .updateTable('user_sessions')
    .set({ revoked_at: sql`now()` })
    .where('user_id', '=', user.id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  await trx.insertInto('password_reset_tokens').values({ user_id: user.id, token_hash: hashToken(token), expires_at: expiresAt }).execute();
  const emailId = await insertEmail(trx, {
    to: user.email,
    source: 'password-reset',
    subject: 'Reset your password',
    text: [
      'An administrator has required a new password for your crew portal account.',
      '',
      `Choose a new one here before ${expiresAt.toISOString()}:`,
      `${context.config.PASSWORD_RESET_URL}${token}`,
      '',
      'You have been signed out everywhere until then.',
    ].join('\n'),
  });
  return { sessionsRevoked: Number(revoked.numUpdatedRows), emailId };
}

/**
 * Requires a new password from a role, a crew, a list of users or everyone:
 * marks the reset, revokes the users' sessions, stores a one-time token as a
 * SHA-256 hash and queues one email with the token. Each batch of users is one
 * transaction. Users already waiting for a reset are skipped unless `resend`
 * is set, so a run stopped halfway can be run again without emailing anyone twice.
 */
export const resetPasswords = defineJob({
  name: 'reset-passwords',
  queue: 'maintenance',
  description: 'Require new passwords, revoke sessions and email one-time reset links',
  payload: ResetPasswordsPayload,
  role: 'admin',
  destructive: true,
  kind: 'maintenance',
  validate: selectorProblems,
  async run(context, payload) {
    let selected = context.db.selectFrom('users').select(['id', 'email']).where('is_active', '=', true);
    if (payload.role) selected = selected.where('role', '=', payload.role);
    if (payload.crewId) selected = selected.where('crew_id', '=', payload.crewId);
    if (payload.userIds) selected = selected.where('id', 'in', payload.userIds);
    if (!payload.resend) selected = selected.where('password_reset_required', '=', false);

    if (payload.dryRun) {
      const users = await selected.execute();
      return { dryRun: true, users: users.length };
    }

    const expiresAt = new Date(Date.now() + (payload.expiresInHours ?? 24) * 3_600_000);
    const totals = { users: 0, sessionsRevoked: 0, emailsQueued: 0 };
    let afterId = 0;
    for (;;) {
      context.signal.throwIfAborted();
      const batch = await selected.where('id', '>', afterId).orderBy('id').limit(BATCH_SIZE).execute();
      if (batch.length === 0) break;
      afterId = batch[batch.length - 1]!.id;

      const emailIds = await context.db.transaction().execute(async (trx) => {
        const ids: number[] = [];
        for (const user of batch) {
          const result = await resetOne(trx, context, user, expiresAt);
          totals.sessionsRevoked += result.sessionsRevoked;
          ids.push(result.emailId);
        }
        return ids;
      });
      totals.users += batch.length;
      totals.emailsQueued += emailIds.length;
      await scheduleAfterCommit({ db: context.db, emailQueue: context.queues.email, config: context.config, logger: context.logger }, emailIds);
      await context.progress({ users: totals.users });
    }

    await context.log(`reset ${totals.users} users, revoked ${totals.sessionsRevoked} sessions`);
    return { dryRun: false, ...totals, linkExpiresAt: expiresAt.toISOString() };
  },
});
