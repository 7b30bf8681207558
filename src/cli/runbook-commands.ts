/**
 * The runbook's command names and the job each one runs. `npm run <name>`
 * calls `shipshape run <job> --wait`, so the exit code shows whether the job
 * completed, also under cron; extra arguments after `--` become payload
 * fields, so `npm run emergency:readonly-mode -- --on` sends `{ on: true }`.
 * A name whose job does not exist yet gets the API's "does not exist" error,
 * which names the job.
 */
export const runbookCommands: Readonly<Record<string, string>> = {
  'maintenance:backup-database': 'backup-database',
  'maintenance:verify-backup': 'verify-backup',
  'maintenance:test-restore': 'test-restore',
  'maintenance:clear-cache': 'clear-cache',
  'maintenance:rebuild-cache': 'rebuild-cache',
  'maintenance:cache-stats': 'cache-stats',
  'maintenance:clean-sessions': 'clean-sessions',
  'maintenance:active-sessions': 'active-sessions',
  'maintenance:force-logout-all': 'force-logout-all',
  'maintenance:process-email-queue': 'process-email-queue',
  'maintenance:clear-failed-emails': 'clear-failed-emails',
  'maintenance:test-email': 'test-email',
  'maintenance:audit-admins': 'audit-admins',
  'maintenance:inactive-users': 'inactive-users',
  'maintenance:reset-passwords': 'reset-passwords',
  'maintenance:api-performance': 'api-performance',
  'maintenance:clear-api-cache': 'clear-api-cache',
  'maintenance:optimize-routes': 'optimize-routes',
  'emergency:test-db': 'test-db',
  'emergency:readonly-mode': 'readonly-mode',
  'emergency:restore-db': 'restore-db',
  'emergency:enable-rate-limit': 'enable-rate-limit',
  'emergency:scale-up': 'scale-up',
  'emergency:maintenance-mode': 'maintenance-mode',
  'cron:cleanup-tokens': 'token-cleanup',
  'health:check-all': 'health-check',
  'backup:verify': 'verify-backup',
  'metrics:update': 'metrics-update',
  'security:weekly-review': 'security-review',
  'performance:analyze': 'performance-analysis',
  'storage:cleanup': 'storage-cleanup',
  'reports:weekly': 'weekly-report',
};
