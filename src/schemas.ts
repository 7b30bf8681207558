import { Kind, Type, TypeRegistry } from '@sinclair/typebox';

// TypeBox's compiler checks only kinds it knows; this one is a string limited to `enum`.
if (!TypeRegistry.Has('StringEnum')) {
  TypeRegistry.Set('StringEnum', (schema: { enum: readonly string[] }, value) => typeof value === 'string' && schema.enum.includes(value));
}

/**
 * A string schema limited to `values`, written as JSON Schema `enum` so a
 * validation error lists the allowed values (a union of literals reports
 * one failed constant per value instead). Both Fastify's Ajv and TypeBox's
 * compiler check it.
 */
export function StringEnum<const Values extends readonly string[]>(values: Values, options: { description?: string } = {}) {
  return Type.Unsafe<Values[number]>({ [Kind]: 'StringEnum', type: 'string', enum: [...values], ...options });
}
