import { TypeCompiler, ValueErrorType, type TypeCheck } from '@sinclair/typebox/compiler';
import { FormatRegistry, type TObject } from '@sinclair/typebox';
import { EMAIL_PATTERN } from '../schemas.js';
import type { JobDefinition, PayloadEnvironment } from './contract.js';

// TypeBox checks no string format until one is registered; the API's Ajv uses the same rule.
if (!FormatRegistry.Has('email')) FormatRegistry.Set('email', (value) => EMAIL_PATTERN.test(value));

const compiled = new WeakMap<TObject, TypeCheck<TObject>>();

function checkerFor(schema: TObject): TypeCheck<TObject> {
  let checker = compiled.get(schema);
  if (!checker) {
    checker = TypeCompiler.Compile(schema);
    compiled.set(schema, checker);
  }
  return checker;
}

/** Shows a rejected value in at most 80 characters, even one nested too deeply for JSON.stringify. */
function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? 'nothing';
  } catch {
    return 'a value nested too deeply to show';
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Lowercases the first letter only, so field names inside a message keep their case. */
const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

export type PayloadCheck =
  | { valid: true; payload: Record<string, unknown> }
  | { valid: false; errors: string[] };

/**
 * Checks `value` against the job's payload schema. Each error names the field
 * as `data.<path>`, the way a REST caller wrote it, for example
 * `data.batchSize: expected integer (got "ten")`.
 */
export function checkPayload(definition: JobDefinition, value: unknown, environment?: PayloadEnvironment): PayloadCheck {
  const payload = value ?? {};
  const checker = checkerFor(definition.payload);
  if (checker.Check(payload)) {
    const problems = definition.validate?.(payload, environment) ?? [];
    if (problems.length > 0) return { valid: false, errors: problems };
    return { valid: true, payload: payload as Record<string, unknown> };
  }

  const all = [...checker.Errors(payload)];
  const missing = new Set(all.filter((error) => error.type === ValueErrorType.ObjectRequiredProperty).map((error) => error.path));
  const errors = all.flatMap((error) => {
    const field = ['data', ...error.path.split('/').filter(Boolean)].join('.');
    if (error.type === ValueErrorType.ObjectRequiredProperty) return [`${field}: missing; give a value`];
    // A missing field also fails its type check; the line above already reports it.
    if (missing.has(error.path)) return [];
    // The value of an unknown field is not shown: it could be a secret given to the wrong place.
    if (error.type === ValueErrorType.ObjectAdditionalProperties) return [`${field}: unknown field; remove it`];
    const allowed = (error.schema as { enum?: unknown }).enum;
    const message = Array.isArray(allowed) ? `must be one of ${allowed.join(', ')}` : lowerFirst(error.message);
    return [`${field}: ${message} (got ${preview(error.value)})`];
  });
  return { valid: false, errors: [...new Set(errors)] };
}
