import type { JobsOptions, Queue } from 'bullmq';
import type { Config } from '../../config.js';
import type { Transaction } from 'kysely';
import type { Db } from '../../db/database.js';
import type { Database } from '../../db/schema.js';
import type { JobEnvelope } from '../contract.js';

export const SEND_EMAIL_JOB = 'send-email';

/** BullMQ job id of a message's send job: one id per message, so a message never has two live jobs. */
export const sendJobId = (emailId: number) => `email-${emailId}`;

export interface NewEmail {
  to: string;
  subject: string;
  text: string;
  html?: string | null;
  /** Origin of the message, for example `platform`, `alert`, `api`. */
  source: string;
}

/** Retry policy of send jobs, from EMAIL_ATTEMPTS and EMAIL_BACKOFF_MS. */
export function sendJobOptions(config: Config): JobsOptions {
  return { attempts: config.EMAIL_ATTEMPTS, backoff: { type: 'exponential', delay: config.EMAIL_BACKOFF_MS } };
}

export type ScheduleOutcome = 'added' | 'retried' | 'already-queued';

/**
 * Makes sure the message has a send job that will run: adds one, retries its
 * failed one, or leaves a waiting, delayed or running one alone.
 */
export async function scheduleSend(
  queue: Queue,
  emailId: number,
  requestedBy: string,
  options: JobsOptions = {},
): Promise<ScheduleOutcome> {
  const jobId = sendJobId(emailId);
  const existing = await queue.getJob(jobId);
  if (existing) {
    const state = await existing.getState();
    if (state === 'failed') {
      // A new round gets all EMAIL_ATTEMPTS again, not the one try left over from the last round.
      await existing.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      return 'retried';
    }
    if (state !== 'completed' && state !== 'unknown') return 'already-queued';
    // A completed job keeps its id until retention removes it; a new run needs the id free.
    await existing.remove();
  }

  const data: JobEnvelope = { payload: { emailId }, requestedBy };
  await queue.add(SEND_EMAIL_JOB, data, { ...options, jobId });
  return 'added';
}

/** Inserts a pending message into email_queue; `db` may be a transaction. Returns its id. */
export async function insertEmail(db: Db | Transaction<Database>, email: NewEmail): Promise<number> {
  const { id } = await db
    .insertInto('email_queue')
    .values({ recipient: email.to, subject: email.subject, body_text: email.text, body_html: email.html ?? null, source: email.source })
    .returning('id')
    .executeTakeFirstOrThrow();
  return id;
}

/**
 * Records a message in email_queue as pending and enqueues its send job. The
 * row is written first: if Redis is unreachable the message still exists, and
 * process-email-queue enqueues it later.
 */
export async function enqueueEmail(
  db: Db,
  queue: Queue,
  email: NewEmail,
  options: JobsOptions = {},
): Promise<number> {
  const id = await insertEmail(db, email);
  await scheduleSend(queue, id, email.source, options);
  return id;
}
