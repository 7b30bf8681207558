import { describe, expect, it } from 'vitest';
import { evaluate } from '../../src/jobs/health/transitions.js';
import type { ComponentResult, ComponentState } from '../../src/jobs/health/types.js';

const rules = { confirmRuns: 1, sampleMinutes: 5, flapWindowMinutes: 30 };
const T0 = new Date('2026-12-04T10:00:00Z');
const minutes = (count: number) => new Date(T0.getTime() + count * 60_000);

function result(component: string, status: 'pass' | 'fail'): ComponentResult {
  return { component, status, output: status === 'fail' ? 'connect ECONNREFUSED' : null, measurements: [] };
}

/** Runs pass, fail, pass, fail for `component`, the second failure ten minutes after the first. */
function secondFailure(component: string) {
  let state: ComponentState | undefined;
  const steps: [number, 'pass' | 'fail'][] = [[0, 'pass'], [1, 'fail'], [5, 'pass'], [11, 'fail']];
  let last;
  for (const [at, status] of steps) {
    last = evaluate(state, result(component, status), rules, minutes(at));
    state = last.state;
  }
  return last!.alerts.filter((action) => action.type === 'raise');
}

describe('repeat failures within the flap window', () => {
  it('raises a flapping component as high', () => {
    expect(secondFailure('storage')).toEqual([expect.objectContaining({ severity: 'high' })]);
  });

  it('keeps the database critical, because its digest needs the database', () => {
    expect(secondFailure('database')).toEqual([expect.objectContaining({ severity: 'critical' })]);
  });
});
