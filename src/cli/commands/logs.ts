import { Option, type Command } from 'commander';
import type { MaintenanceLogEntry, Page } from '../api-types.js';
import { commandContext, printJson } from '../context.js';
import { integerAtLeast } from '../option-parsers.js';
import { renderTable } from '../table.js';
import { printPageFooter } from './page-footer.js';

interface LogOptions {
  type?: string;
  result?: string;
  job?: string;
  performedBy?: string;
  from?: string;
  to?: string;
  limit?: number;
  before?: number;
}

export function registerLogsCommand(program: Command): void {
  program
    .command('logs')
    .summary('list the maintenance log, newest first')
    .description('List maintenance_logs rows, from GET /api/maintenance-logs.')
    .addOption(new Option('--type <type>', 'only rows of this type').choices(['routine', 'scheduled', 'emergency']))
    .addOption(new Option('--result <result>', 'only successes or failures').choices(['success', 'failure']))
    .option('--job <name>', 'only runs of this job')
    .option('--performed-by <name>', 'only runs by this requester, for example scheduler or api')
    .option('--from <time>', 'only rows at or after this ISO 8601 time')
    .option('--to <time>', 'only rows before this ISO 8601 time')
    .option('--limit <n>', 'at most this many rows, 1 to 200 (the API default is 50)', integerAtLeast(1))
    .option('--before <id>', 'only rows with an id below this one, for the next page', integerAtLeast(1))
    .action(async (options: LogOptions, command: Command) => {
      const context = commandContext(command);
      const page = await context.client.get<Page<MaintenanceLogEntry>>('/api/maintenance-logs', { query: { ...options } });
      if (context.json) return printJson(page);
      if (page.items.length === 0) return console.log('no maintenance log rows match');

      const rows = page.items.map((entry) => [
        entry.id,
        entry.createdAt,
        entry.type,
        entry.jobName,
        entry.jobId,
        entry.result,
        entry.performedBy,
        entry.duration,
        entry.notes ?? '',
      ]);
      console.log(renderTable(['id', 'created', 'type', 'job', 'run', 'result', 'by', 'duration', 'notes'], rows));
      printPageFooter(page.nextBefore);
    });
}
