/*
 * Shapes of the API responses the CLI reads, as the route schemas in
 * src/server/routes declare them. Only the fields the CLI shows are listed.
 */

export interface CatalogEntry {
  name: string;
  queue: string;
  description: string;
  role: string;
  destructive: boolean;
  schedule: { pattern?: string; every?: number; description: string } | null;
}

export interface EnqueuedRun {
  id: string;
  name: string;
  queue: string;
  state: string;
  statusUrl: string;
}

export interface JobRun {
  id: string;
  name: string;
  queue: string;
  /** waiting, delayed, active, completed, failed, prioritized or unknown. */
  state: string;
  /** 0 to 100, or an object the job reports, for example `{ step, rows }`. */
  progress: unknown;
  payload: unknown;
  requestedBy: string | null;
  result: unknown;
  failedReason: string | null;
  attempts: { made: number; max: number };
  createdAt: string;
  processedAt: string | null;
  finishedAt: string | null;
  runAt: string;
  logs: string[];
}

export interface Schedule {
  id: string;
  queue: string;
  pattern: string | null;
  every: number | null;
  tz: string | null;
  nextRun: string | null;
  calendar: string | null;
}

export interface Page<Item> {
  items: Item[];
  nextBefore: number | null;
}

export interface Email {
  id: number;
  to: string;
  subject: string;
  source: string;
  status: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  sentAt: string | null;
}

export interface Alert {
  id: number;
  severity: string;
  source: string;
  key: string;
  message: string;
  status: string;
  occurrences: number;
  lastSeenAt: string;
  escalationLevel: number;
}

export interface MaintenanceLogEntry {
  id: number;
  type: string;
  action: string;
  performedBy: string;
  duration: string;
  result: string;
  notes: string | null;
  jobName: string;
  jobId: string;
  queue: string;
  attempt: number;
  createdAt: string;
}
