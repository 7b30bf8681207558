import { Kind, Type, TypeRegistry } from '@sinclair/typebox';

// TypeBox's compiler checks only registered kinds; this one is a string limited to `enum`.
if (!TypeRegistry.Has('StringEnum')) {
  TypeRegistry.Set('StringEnum', (schema: { enum: readonly string[] }, value) => typeof value === 'string' && schema.enum.includes(value));
}

/**
 * Creates a string schema limited to `values`, written as JSON Schema `enum` so a
 * validation error lists the allowed values (a union of literals reports
 * one failed constant per value instead). Both Fastify's Ajv and TypeBox's
 * compiler check it.
 */
export function StringEnum<const Values extends readonly string[]>(values: Values, options: { description?: string } = {}) {
  return Type.Unsafe<Values[number]>({ [Kind]: 'StringEnum', type: 'string', enum: [...values], ...options });
}

/**
 * The WHATWG HTML rule for email addresses, the one browsers apply. It accepts
 * single-label domains such as `ops@localhost`, which internal addresses use.
 */
export const EMAIL_PATTERN =
  /^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

/** A bigint primary key as the API accepts it: beyond 2^53 a JSON number loses precision. */
export const RowId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
