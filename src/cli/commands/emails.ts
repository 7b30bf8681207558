import { Option, type Command } from 'commander';
import type { Email, Page } from '../api-types.js';
import { commandContext, printJson } from '../context.js';
import { integerAtLeast } from '../option-parsers.js';
import { renderTable } from '../table.js';
import { printPageFooter } from './page-footer.js';

interface EmailOptions {
  status?: string;
  limit?: number;
  before?: number;
}

export function registerEmailsCommand(program: Command): void {
  program
    .command('emails')
    .summary('list emails, newest first')
    .description('List the messages of email_queue, from GET /api/emails.')
    // The statuses of email_queue.status; the API rejects others too, with a less readable message.
    .addOption(new Option('--status <status>', 'only emails in this status').choices(['pending', 'sending', 'sent', 'failed']))
    .option('--limit <n>', 'at most this many emails, 1 to 200 (the API default is 50)', integerAtLeast(1))
    .option('--before <id>', 'only emails with an id below this one, for the next page', integerAtLeast(1))
    .action(async (options: EmailOptions, command: Command) => {
      const context = commandContext(command);
      const page = await context.client.get<Page<Email>>('/api/emails', { query: { ...options } });
      if (context.json) return printJson(page);
      if (page.items.length === 0) return console.log('no emails match');

      const rows = page.items.map((email) => [
        email.id,
        email.status,
        email.attempts,
        email.createdAt,
        email.to,
        email.subject,
        email.lastError,
      ]);
      console.log(renderTable(['id', 'status', 'attempts', 'created', 'to', 'subject', 'last error'], rows));
      printPageFooter(page.nextBefore);
    });
}
