import { buildProgram } from './program.js';
import { reportError } from './report-error.js';

const program = buildProgram();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  // exitCode instead of process.exit() lets stdout and stderr drain when they are pipes.
  process.exitCode = reportError(error, program.opts<{ json?: boolean }>().json === true);
}
