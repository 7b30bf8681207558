import { UsageError } from './errors.js';

/** The operands of `shipshape run` after commander consumed the options it declares. */
export interface RunOperands {
  job: string;
  /** Payload fields given as `--field-name value`, keyed by their camelCase name. */
  fields: Record<string, unknown>;
  /** The flag each field came from, for messages. */
  flags: Record<string, string>;
}

const NEGATIVE_NUMBER = /^-(\d+|\d*\.\d+)(e[+-]?\d+)?$/i;
const FIELD_FLAG = /^[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*$/;

const looksLikeOption = (token: string) => token.length > 1 && token.startsWith('-') && !NEGATIVE_NUMBER.test(token);

/** Converts a kebab-case flag name to the camelCase payload field: `batch-size` to `batchSize`. */
export function toCamelCase(flagName: string): string {
  return flagName.replace(/-([A-Za-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/** Converts a camelCase payload field to its flag: `batchSize` to `--batch-size`. */
export function toFlag(field: string): string {
  return `--${field.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}

/**
 * Rewrites the top-level payload fields an API message names (`data.batchSize`)
 * as the flags that set them (`--batch-size`), so the message matches what the
 * operator typed. Nested fields keep their dotted path.
 */
export function namePayloadFlags(message: string): string {
  return message.replace(/\bdata\.([A-Za-z][A-Za-z0-9]*)(?![A-Za-z0-9.])/g, (_match, field: string) => toFlag(field));
}

/** Reads a flag value as JSON when it parses (numbers, booleans, null, arrays, objects), otherwise as the string itself. */
export function parseFieldValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Splits the tokens commander left over for `run` into the job name and the
 * payload fields. Every unknown `--field-name` takes the next token as its
 * value (or `--field-name=value`); a flag followed by another option, or by
 * nothing, is `true`. Tokens after `--` are operands.
 */
export function parseRunOperands(tokens: readonly string[]): RunOperands {
  const operands: string[] = [];
  const fields: Record<string, unknown> = {};
  const flags: Record<string, string> = {};

  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index]!;
    if (token === '--') {
      operands.push(...tokens.slice(index + 1));
      break;
    }
    if (!looksLikeOption(token)) {
      operands.push(token);
      continue;
    }
    if (!token.startsWith('--')) {
      throw new UsageError(`unknown option "${token}"; give payload fields as --field-name value`);
    }

    const equals = token.indexOf('=');
    const flagName = equals === -1 ? token.slice(2) : token.slice(2, equals);
    if (!FIELD_FLAG.test(flagName)) {
      throw new UsageError(`"--${flagName}" is not a valid payload field flag; use letters, digits and dashes, for example --batch-size`);
    }

    let value: unknown;
    if (equals !== -1) {
      value = parseFieldValue(token.slice(equals + 1));
    } else {
      const next = tokens[index + 1];
      if (next !== undefined && next !== '--' && !looksLikeOption(next)) {
        value = parseFieldValue(next);
        index++;
      } else {
        value = true;
      }
    }

    const field = toCamelCase(flagName);
    if (field === 'token') {
      throw new UsageError('the CLI sends the API token from SHIPSHAPE_TOKEN; set it there, because a --token flag would be sent as a payload field');
    }
    if (Object.hasOwn(flags, field)) throw new UsageError(`payload field data.${field} is given twice (${flags[field]} and --${flagName})`);
    fields[field] = value;
    flags[field] = `--${flagName}`;
  }

  if (operands.length === 0) throw new UsageError('missing the job name; run shipshape jobs to list them');
  if (operands.length > 1) {
    throw new UsageError(`unexpected argument "${operands[1]}"; give payload fields as --field-name value`);
  }
  return { job: operands[0]!, fields, flags };
}
