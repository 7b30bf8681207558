import type { JobDefinition } from '../contract.js';
import { healthCheck } from './health-check.js';
import { metricsUpdate } from './metrics-update.js';

/** The health and metrics jobs, registered in ../registry.ts. */
export const healthJobs: JobDefinition[] = [healthCheck, metricsUpdate] as JobDefinition[];
