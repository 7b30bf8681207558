import type { JobDefinition } from '../contract.js';

/** The cache jobs, registered in ../registry.ts. */
export const cacheJobs: JobDefinition[] = [];
