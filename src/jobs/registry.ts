import type { CalendarEntry } from '../queues/calendar.js';
import { isQueueName, type QueueName } from '../queues/queues.js';
import type { JobDefinition } from './contract.js';
import { checkPayload } from './payload.js';
import { accessJobs } from './access/index.js';
import { dispatchAlertsJob } from './alerts/dispatch-alerts.js';
import { backupJobs } from './backups/index.js';
import { cacheJobs } from './cache/index.js';
import { databaseJobs } from './database/index.js';
import { emergencyJobs } from './emergency/index.js';
import { healthJobs } from './health/index.js';
import { performanceJobs } from './performance/index.js';
import { reportJobs } from './reports/index.js';
import { securityJobs } from './security/index.js';
import { certificateAndDependencyJobs } from './security/certificates-and-dependencies.js';
import { storageJobs } from './storage/index.js';
import { clearFailedEmails } from './email/clear-failed-emails.js';
import { processEmailQueue } from './email/process-email-queue.js';
import { sendEmail } from './email/send-email.js';
import { testEmail } from './email/test-email.js';
import { activeSessions } from './sessions/active-sessions.js';
import { cleanSessions } from './sessions/clean-sessions.js';
import { forceLogoutAll } from './sessions/force-logout-all.js';
import { tokenCleanup } from './sessions/token-cleanup.js';

/** Every job Shipshape can run. A job is added here and, if it is scheduled, to the calendar. */
export const jobDefinitions: readonly JobDefinition[] = [
  tokenCleanup,
  sendEmail,
  processEmailQueue,
  clearFailedEmails,
  testEmail,
  dispatchAlertsJob,
  cleanSessions,
  activeSessions,
  forceLogoutAll,
  ...accessJobs,
  ...cacheJobs,
  ...backupJobs,
  ...databaseJobs,
  ...emergencyJobs,
  ...healthJobs,
  ...performanceJobs,
  ...securityJobs,
  ...certificateAndDependencyJobs,
  ...storageJobs,
  ...reportJobs,
] as JobDefinition[];

const KEBAB_CASE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Thrown at start when job definitions or the calendar are inconsistent. */
export class RegistryError extends Error {
  override name = 'RegistryError';
}

export class JobRegistry {
  readonly #byName: Map<string, JobDefinition>;

  /**
   * Checks the definitions and the calendar together and throws a
   * `RegistryError` listing every problem: duplicate or malformed names,
   * unknown queues, calendar entries without a job, and calendar payloads the
   * job's schema rejects.
   */
  constructor(definitions: readonly JobDefinition[], calendar: readonly CalendarEntry[]) {
    const problems: string[] = [];
    this.#byName = new Map();

    for (const definition of definitions) {
      if (!KEBAB_CASE.test(definition.name)) problems.push(`job name "${definition.name}" is not kebab-case`);
      if (this.#byName.has(definition.name)) problems.push(`job "${definition.name}" is defined twice`);
      if (!isQueueName(definition.queue)) problems.push(`job "${definition.name}" names unknown queue "${definition.queue}"`);
      if (definition.destructive && !('dryRun' in definition.payload.properties)) {
        problems.push(`destructive job "${definition.name}" has no dryRun field in its payload`);
      }
      this.#byName.set(definition.name, definition);
    }

    const scheduled = new Set<string>();
    for (const entry of calendar) {
      const definition = this.#byName.get(entry.job);
      if (!definition) {
        problems.push(`calendar entry "${entry.job}" has no job definition`);
        continue;
      }
      if (scheduled.has(entry.job)) problems.push(`calendar lists "${entry.job}" twice`);
      scheduled.add(entry.job);
      const check = checkPayload(definition, entry.payload ?? {});
      if (!check.valid) problems.push(`calendar payload of "${entry.job}" is invalid: ${check.errors.join('; ')}`);
    }

    if (problems.length > 0) throw new RegistryError(`Invalid job registry:\n  ${problems.join('\n  ')}`);
  }

  get(name: string): JobDefinition | undefined {
    return this.#byName.get(name);
  }

  list(): JobDefinition[] {
    return [...this.#byName.values()];
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  queueOf(name: string): QueueName {
    const definition = this.#byName.get(name);
    if (!definition) throw new RegistryError(`unknown job "${name}"`);
    return definition.queue;
  }
}
