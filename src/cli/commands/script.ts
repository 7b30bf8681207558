import type { Command } from 'commander';
import { commandContext, printJson } from '../context.js';
import { UsageError } from '../errors.js';
import { maintenanceScripts, runScript } from '../maintenance-scripts.js';
import { positiveSeconds } from '../option-parsers.js';

const DEFAULT_STEP_TIMEOUT_SECONDS = 1800;

export function registerScriptCommand(program: Command): void {
  const names = Object.keys(maintenanceScripts);
  program
    .command('script')
    .summary('run a maintenance script: its jobs in order, stopping at the first failure')
    .description(
      'Run the steps of a runbook script (daily-maintenance.sh or weekly-maintenance.sh) one after the other through the API, ' +
        'waiting for each job. The first step that fails, times out or names a job the API does not have stops the script with its reason.',
    )
    .argument('<name>', `script name: ${names.join(' or ')}`)
    .option('--step-timeout <seconds>', 'how long each step may take before the script stops with code 3', positiveSeconds, DEFAULT_STEP_TIMEOUT_SECONDS)
    .addHelpText(
      'after',
      `
Scripts:
${Object.entries(maintenanceScripts)
  .map(([name, script]) => `  ${name.padEnd(8)}${script.steps.map((step) => step.job).join(', ')}`)
  .join('\n')}

Exit codes: 0 when every step completed, 1 when a step failed or its job does
not exist, 2 for an API error, 3 when a step timed out.`,
    )
    .action(async (name: string, options: { stepTimeout: number }, command: Command) => {
      const script = maintenanceScripts[name];
      if (!script) throw new UsageError(`unknown script "${name}": expected ${names.join(' or ')}`);
      const context = commandContext(command);

      // Progress goes to stderr, so stdout carries only the result.
      const steps = await runScript(context.client, script.steps, {
        stepTimeoutMs: options.stepTimeout * 1000,
        report: (line) => process.stderr.write(`${line}\n`),
      });
      if (context.json) printJson({ script: name, steps });
      else console.log(`${name} maintenance completed: ${steps.map((step) => `${step.job} ${step.id}`).join(', ')}`);
    });
}
