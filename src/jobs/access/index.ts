import type { JobDefinition } from '../contract.js';
import { auditAdmins } from './audit-admins.js';
import { inactiveUsers } from './inactive-users.js';
import { resetPasswords } from './reset-passwords.js';

/** The access review jobs, registered in ../registry.ts. */
export const accessJobs = [auditAdmins, inactiveUsers, resetPasswords] as JobDefinition[];
