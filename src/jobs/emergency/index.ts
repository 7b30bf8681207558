import type { JobDefinition } from '../contract.js';
import { blockIp } from './block-ip.js';
import { enableRateLimit } from './enable-rate-limit.js';
import { lockdown } from './lockdown.js';
import { maintenanceMode } from './maintenance-mode.js';
import { readonlyMode } from './readonly-mode.js';
import { scaleUp } from './scale-up.js';
import { testDb } from './test-db.js';

/** The emergency jobs, registered in ../registry.ts. */
export const emergencyJobs: JobDefinition[] = [
  testDb,
  readonlyMode,
  maintenanceMode,
  enableRateLimit,
  blockIp,
  lockdown,
  scaleUp,
] as JobDefinition[];
