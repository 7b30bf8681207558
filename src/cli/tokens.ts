import { Command, Option } from 'commander';
import { commandContext, printJson } from './context.js';
import { renderTable } from './table.js';

/** An API token as GET /api/tokens lists it. */
interface TokenInfo {
  name: string;
  role: string;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const ROLES = ['viewer', 'operator', 'admin'];

/** Adds `shipshape tokens create|list|revoke`, which call /api/tokens and need an admin token. */
export function registerTokensCommand(program: Command): void {
  const tokens = program
    .command('tokens')
    .summary('create, list and revoke API tokens (admin)')
    .description('Manage the API tokens through /api/tokens. SHIPSHAPE_TOKEN must be an admin token.');

  tokens
    .command('create')
    .summary('create a token and print it once')
    .description('Create an API token. The token is printed once and stored nowhere; the API keeps only its hash.')
    .requiredOption('--name <name>', 'token name, recorded as performed_by of the runs it requests (a-z, 0-9, . _ -)')
    .addOption(new Option('--role <role>', 'viewer reads; operator also runs routine and maintenance jobs; admin can do everything').choices(ROLES).makeOptionMandatory())
    .action(async (options: { name: string; role: string }, command: Command) => {
      const context = commandContext(command);
      const created = await context.client.post<TokenInfo & { token: string }>('/api/tokens', { body: { name: options.name, role: options.role } });
      if (context.json) return printJson(created);
      console.log(created.token);
      console.error(`created ${created.role} token "${created.name}"; the line above is the token, shown only now. Use it as SHIPSHAPE_TOKEN or as the Bull Board password`);
    });

  tokens
    .command('list')
    .summary('list the tokens, revoked ones included')
    .action(async (_options: unknown, command: Command) => {
      const context = commandContext(command);
      const list = await context.client.get<TokenInfo[]>('/api/tokens');
      if (context.json) return printJson(list);
      if (list.length === 0) return console.log('no tokens');
      const rows = list.map((token) => [token.name, token.role, token.createdBy, token.createdAt, token.lastUsedAt, token.revokedAt]);
      console.log(renderTable(['name', 'role', 'created by', 'created', 'last used', 'revoked'], rows));
    });

  tokens
    .command('revoke')
    .summary('revoke a token; it stops working at once')
    .argument('<name>', 'name of the token')
    .action(async (name: string, _options: unknown, command: Command) => {
      const context = commandContext(command);
      const revoked = await context.client.post<TokenInfo>(`/api/tokens/${encodeURIComponent(name)}/revoke`);
      if (context.json) return printJson(revoked);
      console.log(`revoked token "${revoked.name}" at ${revoked.revokedAt}`);
    });
}
