import type { JobDefinition } from '../contract.js';
import { apiPerformance } from './api-performance.js';
import { optimizeRoutes } from './optimize-routes.js';

/** The API performance jobs, registered in ../registry.ts. */
export const performanceJobs: JobDefinition[] = [apiPerformance, optimizeRoutes] as JobDefinition[];
