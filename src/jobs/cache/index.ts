import type { JobDefinition } from '../contract.js';
import { cacheStats } from './cache-stats.js';
import { clearApiCache } from './clear-api-cache.js';
import { clearCache } from './clear-cache.js';
import { rebuildCache } from './rebuild-cache.js';

/** The cache jobs, registered in ../registry.ts. */
export const cacheJobs: JobDefinition[] = [clearCache, clearApiCache, rebuildCache, cacheStats] as JobDefinition[];
