import type { Static, TObject } from '@sinclair/typebox';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Db } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { QueueName, Queues } from '../queues/queues.js';
import type { Mailer } from './email/mailer.js';

/*
 * The job contract.
 *
 * - JobDefinition: one runbook task: its name, queue, payload schema, the role
 *   that may request it, and `run`.
 * - JobContext: what `run` gets from the worker: database, Redis, the queues
 *   (to enqueue follow-up jobs), the mailer, config, a logger bound to the job,
 *   progress and job-log helpers, and an abort signal.
 * - JobSummary: the JSON object `run` returns. It becomes the BullMQ return
 *   value and the `summary` column of the job's maintenance_logs row.
 * - JobEnvelope: the BullMQ job data: the payload plus who requested the run.
 */

/** Roles in increasing order of power; a job names the lowest one that may request it. */
export type Role = 'viewer' | 'operator' | 'admin';

/** Why a job runs: from the calendar, at a person's request, or as an emergency action. */
export type JobKind = 'routine' | 'maintenance' | 'emergency';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
// Undefined fields are dropped when the summary is stored as JSON.
export type JobSummary = { [key: string]: JsonValue | undefined };

export interface JobContext {
  db: Db;
  redis: Redis;
  queues: Queues;
  mailer: Mailer;
  config: Config;
  logger: Logger;
  /** The run: `requestedBy` is `scheduler` for calendar runs, otherwise the requester's name. */
  job: { id: string; name: string; queue: QueueName; attempt: number; requestedBy: string };
  /** Records progress shown in Bull Board and the job status API; 0 to 100, or an object. */
  progress(value: number | JobSummary): Promise<void>;
  /** Appends a line to the BullMQ job log, which the status API returns. */
  log(line: string): Promise<void>;
  /** Aborted when the worker shuts down; long jobs check it between batches. */
  signal: AbortSignal;
}

export interface JobDefinition<Payload extends TObject = TObject> {
  /** Kebab-case runbook name, for example `token-cleanup`. */
  name: string;
  queue: QueueName;
  description: string;
  /** Validates REST input and worker input alike. */
  payload: Payload;
  role: Role;
  /** Destructive jobs accept `dryRun: true` and then change nothing. */
  destructive: boolean;
  kind: JobKind;
  /**
   * Whether each run writes a maintenance_logs row; default true. Off for
   * per-message jobs such as send-email, whose record is their own table.
   */
  logRuns?: boolean;
  /** Set for jobs that only Shipshape itself enqueues: why they cannot be requested, and what to do instead. */
  internalOnly?: string;
  /**
   * Checks rules the schema cannot express, such as "exactly one of these
   * fields"; returns one message per problem, naming the field as `data.<name>`.
   * The API and the worker both apply it, and pass `environment`; the
   * registry's check of calendar payloads at start passes none.
   */
  validate?(payload: Static<Payload>, environment?: PayloadEnvironment): string[];
  /**
   * Checks the payload against the database, such as "every named table
   * exists"; returns one message per problem, naming the field as
   * `data.<name>`. The API applies it before enqueueing (a 400); `run` checks
   * again, since the database can change before the run starts.
   */
  checkDatabase?(db: Db, payload: Static<Payload>): Promise<string[]>;
  run(context: JobContext, payload: Static<Payload>): Promise<JobSummary>;
}

/** Context a `validate` hook may compare a payload with, such as the configured database name. */
export interface PayloadEnvironment {
  config: Config;
}

export interface JobEnvelope {
  payload: Record<string, unknown>;
  /** `scheduler` for calendar runs, otherwise the requester's name. */
  requestedBy: string;
}

/** Declares a job; the identity function exists so `run` gets its payload type from the schema. */
export function defineJob<Payload extends TObject>(definition: JobDefinition<Payload>): JobDefinition<Payload> {
  return definition;
}
