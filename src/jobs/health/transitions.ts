import type { AlertSeverity } from '../../db/schema.js';
import type { ComponentResult, ComponentState, HealthStatus } from './types.js';

export interface TransitionRules {
  confirmRuns: number;
  sampleMinutes: number;
  flapWindowMinutes: number;
}

export interface StatusChange {
  component: string;
  from: HealthStatus | null;
  to: HealthStatus;
  output: string | null;
}

export type AlertAction =
  | { type: 'raise'; component: string; key: string; severity: AlertSeverity; message: string; details: Record<string, unknown>; at: string }
  | { type: 'resolve'; component: string; key: string; at: string };

export interface Evaluation {
  state: ComponentState;
  change: StatusChange | null;
  /** True when this run's result goes into the history as a sample. */
  sample: boolean;
  alerts: AlertAction[];
}

/** Deduplication key of the alert a component raises in `status` (warn or fail). */
export function alertKey(component: string, status: 'warn' | 'fail'): string {
  return `health:${component}:${status}`;
}

function alertsFor(state: ComponentState, change: StatusChange, rules: TransitionRules, now: Date): AlertAction[] {
  const at = now.toISOString();
  const { component } = state;
  const actions: AlertAction[] = [];
  // Leaving a status resolves its alert; reaching warn or fail raises the new one.
  for (const status of ['warn', 'fail'] as const) {
    if (change.to !== status) actions.push({ type: 'resolve', component, key: alertKey(component, status), at });
  }
  if (change.to === 'pass') return actions;

  const details = { component, status: change.to, previous: change.from, output: change.output, measurements: state.measurements };
  if (change.to === 'warn') {
    actions.push({ type: 'raise', component, key: alertKey(component, 'warn'), severity: 'high', message: `${component} is degraded: ${change.output ?? 'warn'}`, details, at });
    return actions;
  }

  // A component that fails again soon after its last critical alert is flapping:
  // it is raised as high, which goes into the digest instead of an immediate email.
  // Never the database: the digest needs the database, so a second outage would reach no one.
  const lastCritical = state.lastCriticalAt ? Date.parse(state.lastCriticalAt) : Number.NEGATIVE_INFINITY;
  const flapping = component !== 'database' && now.getTime() - lastCritical < rules.flapWindowMinutes * 60_000;
  const severity: AlertSeverity = flapping ? 'high' : 'critical';
  if (!flapping) state.lastCriticalAt = at;
  const message = `${component} health check failed${flapping ? ' again (flapping)' : ''}: ${change.output ?? 'fail'}`;
  actions.push({ type: 'raise', component, key: alertKey(component, 'fail'), severity, message, details, at });
  return actions;
}

/**
 * Applies one result to a component's state. The confirmed status changes only
 * after `confirmRuns` results in a row agree, so a target that alternates
 * between pass and fail changes nothing and raises no alert. A component seen
 * for the first time starts as pass and is confirmed like any other.
 */
export function evaluate(previous: ComponentState | undefined, result: ComponentResult, rules: TransitionRules, now: Date): Evaluation {
  const at = now.toISOString();
  const base: ComponentState = previous ?? {
    component: result.component,
    status: 'pass',
    since: at,
    output: null,
    measurements: [],
    checkedAt: at,
    observed: 'pass',
    observedCount: 0,
    lastSampleAt: null,
    lastCriticalAt: null,
  };
  const observedCount = result.status === base.observed ? base.observedCount + 1 : 1;
  const state: ComponentState = {
    ...base,
    output: result.output,
    measurements: result.measurements,
    checkedAt: at,
    observed: result.status,
    observedCount,
  };

  let change: StatusChange | null = null;
  if (!previous && result.status === 'pass') {
    change = { component: result.component, from: null, to: 'pass', output: null };
  } else if (result.status !== base.status && observedCount >= rules.confirmRuns) {
    change = { component: result.component, from: base.status, to: result.status, output: result.output };
    state.status = result.status;
    state.since = at;
  }

  const lastSample = state.lastSampleAt ? Date.parse(state.lastSampleAt) : Number.NEGATIVE_INFINITY;
  const sample = now.getTime() - lastSample >= rules.sampleMinutes * 60_000;
  if (sample) state.lastSampleAt = at;

  const alerts = change && change.from !== null ? alertsFor(state, change, rules, now) : [];
  return { state, change, sample, alerts };
}
