import { Command } from 'commander';
import { registerAlertsCommand } from './commands/alerts.js';
import { registerLogsCommand } from './commands/logs.js';
import { registerTokensCommand } from './tokens.js';
import { registerEmailsCommand } from './commands/emails.js';
import { registerJobsCommand } from './commands/jobs.js';
import { registerRunCommand } from './commands/run.js';
import { registerScriptCommand } from './commands/script.js';
import { registerSchedulesCommand } from './commands/schedules.js';
import { registerStatusCommand } from './commands/status.js';
import { UsageError } from './errors.js';
import { DEFAULT_API_URL } from './settings.js';

/**
 * Options npm also defines. Given to `npm run <script>` before `--`, npm
 * keeps them, sets npm_config_<name> in the script's environment and never
 * passes them on, so `npm run maintenance:force-logout-all --dry-run` would
 * run for real.
 */
const NPM_OWNED_OPTIONS = [
  { flag: '--dry-run', variable: 'npm_config_dry_run' },
  { flag: '--json', variable: 'npm_config_json' },
] as const;

/** Rejects a run whose option npm took for itself; `argv` and `env` are the process's own. */
export function checkNpmOwnedOptions(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  const script = env.npm_lifecycle_event;
  if (!script) return;
  for (const { flag, variable } of NPM_OWNED_OPTIONS) {
    const given = argv.some((argument) => argument === flag || argument.startsWith(`${flag}=`));
    if (env[variable] === 'true' && !given) {
      throw new UsageError(`npm took ${flag} as its own option, so Shipshape did not receive it and did nothing; put it after --: npm run ${script} -- ${flag}`);
    }
  }
}

/** Builds the shipshape command line. Errors surface as exceptions, so main decides the exit code. */
export function buildProgram(): Command {
  const program = new Command('shipshape')
    .description('Operate Shipshape through its HTTP API: run jobs, follow them, and list schedules, emails, alerts and the maintenance log.')
    .option('--url <url>', `base URL of the Shipshape API; overrides SHIPSHAPE_URL (default ${DEFAULT_API_URL})`)
    .option('--json', "print the API's JSON instead of tables")
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true })
    // Subcommands copy this setting when they are created, so it comes before them.
    .exitOverride()
    .addHelpText(
      'after',
      `
Environment:
  SHIPSHAPE_URL    base URL of the API (default ${DEFAULT_API_URL})
  SHIPSHAPE_TOKEN  sent as "Authorization: Bearer <token>" when set

Exit codes:
  0  success; for run, the job completed
  1  the job failed
  2  usage error, API error or unreachable API
  3  run --wait timed out; the run goes on`,
    );

  program.hook('preAction', () => checkNpmOwnedOptions(process.argv, process.env));

  registerRunCommand(program);
  registerJobsCommand(program);
  registerSchedulesCommand(program);
  registerStatusCommand(program);
  registerEmailsCommand(program);
  registerAlertsCommand(program);
  registerLogsCommand(program);
  registerScriptCommand(program);
  registerTokensCommand(program);
  return program;
}
