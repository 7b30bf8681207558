import { InvalidArgumentError } from 'commander';
import { UsageError } from './errors.js';

/** Returns a commander option parser that accepts a whole number of at least `min`. */
export function integerAtLeast(min: number): (text: string) => number {
  return (text) => {
    const value = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
      throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    }
    return value;
  };
}

/** Parses a number of seconds greater than 0, fractions allowed. */
export function positiveSeconds(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError('expected a number of seconds greater than 0');
  }
  return value;
}

/** Parses the `--data` option: a JSON object. */
export function parseDataOption(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--data is not valid JSON (${(error as Error).message}); give an object, for example --data '{"dryRun": true}'`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError(`--data must be a JSON object, for example --data '{"dryRun": true}', not ${text.slice(0, 40)}`);
  }
  return value as Record<string, unknown>;
}
