import { cpus, freemem, totalmem } from 'node:os';
import type { Config } from '../../config.js';
import type { ComponentResult } from './types.js';

interface CpuSample {
  idle: number;
  total: number;
}

function sampleCpu(): CpuSample {
  let idle = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const times = cpu.times;
    idle += times.idle;
    total += times.user + times.nice + times.sys + times.idle + times.irq;
  }
  return { idle, total };
}

// The previous run's sample, so each run reports the CPU use since the last one.
let previousCpu: CpuSample | undefined;
const FIRST_SAMPLE_MS = 250;

/** Returns the machine's CPU use in percent since the previous call, or over 250 ms on the first. */
export async function measureCpuPercent(): Promise<number> {
  if (!previousCpu) {
    previousCpu = sampleCpu();
    await new Promise((resolve) => setTimeout(resolve, FIRST_SAMPLE_MS));
  }
  const current = sampleCpu();
  const total = current.total - previousCpu.total;
  const idle = current.idle - previousCpu.idle;
  previousCpu = current;
  if (total <= 0) return 0;
  return Math.round((1 - idle / total) * 1000) / 10;
}

/** Returns the machine's memory use in percent; Node reads the free figure from MemAvailable on Linux. */
export function measureMemoryPercent(): number {
  return Math.round((1 - freemem() / totalmem()) * 1000) / 10;
}

function thresholdResult(component: string, value: number, limit: number, label: string): ComponentResult {
  const time = new Date().toISOString();
  const over = value > limit;
  const output = over ? `${label} is ${value}%, above ${limit}%` : null;
  return {
    component,
    status: over ? 'warn' : 'pass',
    output,
    measurements: [
      { measurement: 'utilization', observedValue: value, observedUnit: 'percent', status: over ? 'warn' : 'pass', time, ...(output ? { output } : {}) },
    ],
  };
}

/** Measures CPU and memory use of the worker's machine against HEALTH_CPU_MAX_PERCENT and HEALTH_MEMORY_MAX_PERCENT. */
export async function checkResources(config: Config): Promise<ComponentResult[]> {
  const cpu = await measureCpuPercent();
  return [
    thresholdResult('cpu', cpu, config.HEALTH_CPU_MAX_PERCENT, 'CPU use'),
    thresholdResult('memory', measureMemoryPercent(), config.HEALTH_MEMORY_MAX_PERCENT, 'memory use'),
  ];
}
