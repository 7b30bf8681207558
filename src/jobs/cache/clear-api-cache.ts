import { defineClearJob } from './clear-job.js';

/** Deletes the API response cache: every key under API_CACHE_PREFIX. */
export const clearApiCache = defineClearJob('clear-api-cache', 'API_CACHE_PREFIX', 'Delete every Redis key under API_CACHE_PREFIX');
