import type { Command } from 'commander';
import type { JobRun } from '../api-types.js';
import { commandContext, printJson } from '../context.js';
import { runPath } from '../job-paths.js';
import { renderRunDetails } from '../run-view.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .summary('show the state, result and log of one run')
    .description('Show one run of a job, from GET /api/jobs/:name/:id.')
    .argument('<job>', 'job name, for example token-cleanup')
    .argument('<id>', 'run id, as run printed it')
    .action(async (job: string, id: string, _options: unknown, command: Command) => {
      const context = commandContext(command);
      const run = await context.client.get<JobRun>(runPath(job, id));
      if (context.json) return printJson(run);
      console.log(renderRunDetails(run));
    });
}
