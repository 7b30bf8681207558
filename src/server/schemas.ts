import { Type } from '@sinclair/typebox';

/**
 * A string schema limited to `values`, written as JSON Schema `enum` so a
 * validation error lists the allowed values (a union of literals reports
 * one failed constant per value instead).
 */
export function StringEnum<const Values extends readonly string[]>(values: Values, options: { description?: string } = {}) {
  return Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], ...options });
}
