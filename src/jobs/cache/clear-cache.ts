import { defineClearJob } from './clear-job.js';

/** Deletes the platform cache: every key under CACHE_PREFIX, which by default includes API_CACHE_PREFIX. */
export const clearCache = defineClearJob('clear-cache', 'CACHE_PREFIX', 'Delete every Redis key under CACHE_PREFIX');
