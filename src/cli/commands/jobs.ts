import type { Command } from 'commander';
import type { CatalogEntry } from '../api-types.js';
import { commandContext, printJson } from '../context.js';
import { renderTable } from '../table.js';

export function registerJobsCommand(program: Command): void {
  program
    .command('jobs')
    .summary('list the job catalog')
    .description('List every job the API can enqueue, from GET /api/jobs.')
    .action(async (_options: unknown, command: Command) => {
      const context = commandContext(command);
      const jobs = await context.client.get<CatalogEntry[]>('/api/jobs');
      if (context.json) return printJson(jobs);

      const rows = jobs.map((job) => [
        job.name,
        job.queue,
        job.role,
        job.schedule?.description ?? 'on request',
        job.destructive ? `${job.description} (destructive: supports --dry-run)` : job.description,
      ]);
      console.log(renderTable(['name', 'queue', 'role', 'schedule', 'description'], rows));
    });
}
