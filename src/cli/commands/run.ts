import type { Command } from 'commander';
import type { EnqueuedRun, JobRun } from '../api-types.js';
import { commandContext, printJson } from '../context.js';
import { CliError, ExitCode, UsageError } from '../errors.js';
import { jobPath } from '../job-paths.js';
import { integerAtLeast, parseDataOption, positiveSeconds } from '../option-parsers.js';
import { ApiResponseError } from '../api-client.js';
import { namePayloadFlags, parseRunOperands } from '../payload-flags.js';
import { createProgressReporter } from '../progress.js';
import { renderRunResult, runHeadline } from '../run-view.js';
import { waitForRun } from '../wait-for-run.js';

const DEFAULT_TIMEOUT_SECONDS = 600;

interface RunOptions {
  data?: string;
  dryRun?: boolean;
  delay?: number;
  /** Undefined unless --wait or --no-wait was given. */
  wait?: boolean;
  timeout: number;
}

/** Builds the job payload from --data, the payload field flags and --dry-run; a field given twice is a usage error. */
function buildPayload(options: RunOptions, tokens: readonly string[]) {
  const data = parseDataOption(options.data);
  const operands = parseRunOperands(tokens);

  for (const [field, value] of Object.entries(operands.fields)) {
    if (Object.hasOwn(data, field)) {
      throw new UsageError(`payload field data.${field} is given both in --data and as ${operands.flags[field]}; give it once`);
    }
    data[field] = value;
  }
  if (options.dryRun) data.dryRun = true;
  return { job: operands.job, data };
}

function printEnqueued(enqueued: EnqueuedRun): void {
  console.log(`enqueued ${enqueued.name} ${enqueued.id} on queue ${enqueued.queue} (${enqueued.state})`);
  console.log(`check it with: npm run -s shipshape -- status ${enqueued.name} ${enqueued.id}`);
}

function reportOutcome(run: JobRun, json: boolean): void {
  if (json) {
    printJson(run);
  } else {
    console.log(runHeadline(run));
    if (run.state === 'completed') console.log(renderRunResult(run));
  }

  if (run.state === 'failed') {
    throw new CliError(
      `${run.name} ${run.id} failed after ${run.attempts.made} of ${run.attempts.max} attempts: ${run.failedReason ?? 'no reason recorded'}`,
      ExitCode.jobFailed,
    );
  }
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .summary('enqueue a run of a job and wait for its result')
    .description(
      'Enqueue a run of a job with POST /api/jobs/:name. When stdout is a terminal, or with --wait, wait for the run, ' +
        'show its progress on stderr and print its result.',
    )
    .argument('<job>', 'job name, for example token-cleanup; shipshape jobs lists them')
    .option('--data <json>', 'job payload as a JSON object')
    .option('--dry-run', 'set data.dryRun to true, so a destructive job only counts')
    .option('--delay <ms>', 'milliseconds to wait before the run starts', integerAtLeast(0))
    .option('--wait', 'wait for the run to complete or fail (the default when stdout is a terminal)')
    .option('--no-wait', 'print the enqueued run and exit without waiting')
    .option('--timeout <seconds>', 'with --wait, how long to wait before exiting with code 3', positiveSeconds, DEFAULT_TIMEOUT_SECONDS)
    // Every other --field-name value pair is a payload field, parsed by parseRunOperands.
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      `
Payload fields:
  Any other --field-name value sets data.fieldName. Values that parse as JSON
  (numbers, true, false, null, objects) are sent as such, others as strings.
  A flag without a value is true.

Examples:
  shipshape run token-cleanup --dry-run
  shipshape run token-cleanup --batch-size 500 --audit-retention-days 180
  shipshape run test-email --to ops@example.com --no-wait`,
    )
    .action(async (_job: string, options: RunOptions, command: Command) => {
      const { job, data } = buildPayload(options, command.args);
      const context = commandContext(command);

      let enqueued: EnqueuedRun;
      try {
        enqueued = await context.client.post<EnqueuedRun>(jobPath(job), {
          body: { data, ...(options.delay !== undefined ? { delay: options.delay } : {}) },
        });
      } catch (error) {
        // Payload problems name the flags the operator typed, not the API's data.* fields.
        if (error instanceof ApiResponseError && error.body?.code === 'INVALID_PAYLOAD' && !options.data) {
          throw new ApiResponseError(error.status, namePayloadFlags(error.message), error.body);
        }
        throw error;
      }

      const wait = options.wait ?? process.stdout.isTTY === true;
      if (!wait) {
        if (context.json) printJson(enqueued);
        else printEnqueued(enqueued);
        return;
      }

      const reporter = createProgressReporter(process.stderr);
      let run: JobRun;
      try {
        run = await waitForRun(context.client, enqueued.name, enqueued.id, {
          timeoutMs: options.timeout * 1000,
          onUpdate: (update) => reporter.update(update),
          onPollFailure: (message) => process.stderr.write(`\nwarning: ${message}\n`),
        });
      } finally {
        reporter.finish();
      }
      reportOutcome(run, context.json);
    });
}
