import type { JobDefinition } from '../contract.js';
import { certificateCheck } from './certificate-check.js';
import { dependencyAudit } from './dependency-audit.js';

/** The certificate and dependency checks, registered in ../registry.ts. */
export const certificateAndDependencyJobs: JobDefinition[] = [certificateCheck, dependencyAudit] as JobDefinition[];
