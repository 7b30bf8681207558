import type { JobDefinition } from '../contract.js';
import { storageCleanup } from './storage-cleanup.js';

/** The storage jobs, registered in ../registry.ts. */
export const storageJobs: JobDefinition[] = [storageCleanup] as JobDefinition[];
