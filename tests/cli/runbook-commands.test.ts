import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runbookCommands } from '../../src/cli/runbook-commands.js';
import { jobDefinitions } from '../../src/jobs/registry.js';

// Every command the maintenance runbook names, as operators type them.
const RUNBOOK_COMMANDS = [
  'maintenance:backup-database', 'maintenance:verify-backup', 'maintenance:test-restore',
  'maintenance:clear-cache', 'maintenance:rebuild-cache', 'maintenance:cache-stats',
  'maintenance:clean-sessions', 'maintenance:active-sessions', 'maintenance:force-logout-all',
  'maintenance:process-email-queue', 'maintenance:clear-failed-emails', 'maintenance:test-email',
  'maintenance:audit-admins', 'maintenance:inactive-users', 'maintenance:reset-passwords',
  'maintenance:api-performance', 'maintenance:clear-api-cache', 'maintenance:optimize-routes',
  'emergency:test-db', 'emergency:readonly-mode', 'emergency:restore-db',
  'emergency:enable-rate-limit', 'emergency:scale-up', 'emergency:maintenance-mode',
  'cron:cleanup-tokens', 'health:check-all', 'backup:verify', 'metrics:update',
  'security:weekly-review', 'performance:analyze', 'storage:cleanup', 'reports:weekly',
];

describe('runbook commands', () => {
  it('maps every runbook command to a job', () => {
    expect(Object.keys(runbookCommands).sort()).toEqual([...RUNBOOK_COMMANDS].sort());
  });

  it('wires every command as an npm script', async () => {
    const { scripts } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

    for (const command of RUNBOOK_COMMANDS) {
      expect(scripts[command], command).toBe(`node src/cli/bin.js run ${runbookCommands[command]} --wait`);
    }
  });

  it('runs existing jobs under their runbook names', () => {
    const known = new Set(jobDefinitions.map((definition) => definition.name));
    const wired = ['cron:cleanup-tokens', 'maintenance:clean-sessions', 'maintenance:active-sessions', 'maintenance:force-logout-all',
      'maintenance:process-email-queue', 'maintenance:clear-failed-emails', 'maintenance:test-email'];

    for (const command of wired) expect(known.has(runbookCommands[command]!), command).toBe(true);
  });
});
