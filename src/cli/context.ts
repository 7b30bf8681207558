import type { Command } from 'commander';
import { createApiClient, type ApiClient } from './api-client.js';
import { resolveSettings } from './settings.js';

/** Options every command accepts, declared on the program. */
export interface GlobalOptions {
  url?: string;
  json?: boolean;
}

export interface CommandContext {
  client: ApiClient;
  /** Print the API's JSON instead of tables. */
  json: boolean;
}

/** Builds the API client and output mode from the global options and the environment. */
export function commandContext(command: Command): CommandContext {
  const globals = command.optsWithGlobals<GlobalOptions>();
  return { client: createApiClient(resolveSettings(globals.url)), json: globals.json === true };
}

/** Prints a value as indented JSON on stdout. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
