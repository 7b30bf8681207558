import type { JobDefinition } from '../contract.js';
import { backupDatabase } from './backup-database.js';
import { fullBackup } from './full-backup.js';
import { restoreDb } from './restore-db.js';
import { testRestore } from './test-restore.js';
import { verifyBackup } from './verify-backup.js';

/** The backup jobs, registered in ../registry.ts; all run on the backups queue. */
export const backupJobs: JobDefinition[] = [backupDatabase, verifyBackup, testRestore, fullBackup, restoreDb] as JobDefinition[];
