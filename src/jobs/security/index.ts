import type { JobDefinition } from '../contract.js';
import { securityAudit } from './security-audit.js';
import { securityReview } from './security-review.js';

/** The weekly security review and the monthly security audit, registered in ../registry.ts. */
export const securityJobs: JobDefinition[] = [securityReview, securityAudit] as JobDefinition[];
