import type { JobDefinition } from '../contract.js';
import { indexUsage } from './index-usage.js';
import { performanceAnalysis } from './performance-analysis.js';
import { reindex } from './reindex.js';
import { slowQueries } from './slow-queries.js';
import { tableSizes } from './table-sizes.js';
import { vacuumAnalyze } from './vacuum-analyze.js';

/** The database analysis and upkeep jobs, registered in ../registry.ts. */
export const databaseJobs: JobDefinition[] = [
  performanceAnalysis,
  slowQueries,
  indexUsage,
  tableSizes,
  vacuumAnalyze,
  reindex,
] as JobDefinition[];
