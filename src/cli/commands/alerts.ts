import { Option, type Command } from 'commander';
import type { Alert, Page } from '../api-types.js';
import { commandContext, printJson } from '../context.js';
import { integerAtLeast } from '../option-parsers.js';
import { renderTable } from '../table.js';
import { printPageFooter } from './page-footer.js';

interface AlertOptions {
  status?: string;
  severity?: string;
  limit?: number;
  before?: number;
}

export function registerAlertsCommand(program: Command): void {
  program
    .command('alerts')
    .summary('list alerts, newest first')
    .description('List alerts, from GET /api/alerts.')
    // The values of alerts.status and alerts.severity; the API rejects others too, with a less readable message.
    .addOption(new Option('--status <status>', 'only alerts in this status').choices(['open', 'acknowledged', 'resolved']))
    .addOption(new Option('--severity <severity>', 'only alerts of this severity').choices(['critical', 'high', 'medium', 'low']))
    .option('--limit <n>', 'at most this many alerts, 1 to 200 (the API default is 50)', integerAtLeast(1))
    .option('--before <id>', 'only alerts with an id below this one, for the next page', integerAtLeast(1))
    .action(async (options: AlertOptions, command: Command) => {
      const context = commandContext(command);
      const page = await context.client.get<Page<Alert>>('/api/alerts', { query: { ...options } });
      if (context.json) return printJson(page);
      if (page.items.length === 0) return console.log('no alerts match');

      const rows = page.items.map((alert) => [
        alert.id,
        alert.severity,
        alert.status,
        alert.occurrences,
        alert.lastSeenAt,
        alert.source,
        alert.key,
        alert.message,
      ]);
      console.log(renderTable(['id', 'severity', 'status', 'count', 'last seen', 'source', 'key', 'message'], rows));
      printPageFooter(page.nextBefore);
    });
}
