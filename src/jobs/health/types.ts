import type { HealthStatus } from '../../db/schema.js';

/*
 * Health check vocabulary.
 *
 * - CheckObject: one measurement in the health+json format
 *   (draft-inadarei-api-health-check): a value, its unit, a status and a time.
 * - ComponentResult: what one check returns for one component in one run.
 * - ComponentState: the confirmed status of a component, kept in Redis and in
 *   health_check_state, with the run-to-run counters that confirm a change.
 */

export type { HealthStatus };

export interface CheckObject {
  /** The measured thing inside the component, for example `responseTime` or `utilization`. */
  measurement: string;
  /** Set when a component has several targets, for example each URL of the api check. */
  componentId?: string;
  observedValue?: number;
  observedUnit?: string;
  status: HealthStatus;
  time: string;
  output?: string;
}

export interface ComponentResult {
  component: string;
  status: HealthStatus;
  /** The reason the component is not passing, or null. */
  output: string | null;
  measurements: CheckObject[];
}

export interface ComponentState {
  component: string;
  /** The confirmed status: it changes after HEALTH_CONFIRM_RUNS equal results. */
  status: HealthStatus;
  /** ISO time of the last confirmed change. */
  since: string;
  output: string | null;
  measurements: CheckObject[];
  checkedAt: string;
  /** Status of the latest result and how many results in a row had it. */
  observed: HealthStatus;
  observedCount: number;
  lastSampleAt: string | null;
  /** ISO time of the last critical alert raised for this component, for the flap window. */
  lastCriticalAt: string | null;
}

const RANK: Record<HealthStatus, number> = { pass: 0, warn: 1, fail: 2 };

/** Returns the worse of the statuses; pass for none. */
export function worstStatus(statuses: HealthStatus[]): HealthStatus {
  return statuses.reduce<HealthStatus>((worst, status) => (RANK[status] > RANK[worst] ? status : worst), 'pass');
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Rounds a millisecond duration to a tenth. */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}
