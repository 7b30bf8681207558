import type { JobDefinition } from '../contract.js';

/** The emergency jobs, registered in ../registry.ts. */
export const emergencyJobs: JobDefinition[] = [];
