import type { JobDefinition } from '../contract.js';
import { weeklyReport } from './weekly-report.js';

/** The report jobs, registered in ../registry.ts. */
export const reportJobs: JobDefinition[] = [weeklyReport] as JobDefinition[];
