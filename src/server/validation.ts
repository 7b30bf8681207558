import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { EMAIL_PATTERN } from '../schemas.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };

// Query strings and path parameters arrive as text, so `?limit=20` must become
// the integer 20. A JSON body has real types: `"delay": "10"` is a client
// error, not a number.
const coercing = addFormats(new Ajv({ ...common, coerceTypes: 'array' }));
const strict = addFormats(new Ajv({ ...common, coerceTypes: false }));
// Job payloads are checked with the same email rule (jobs/payload.ts), so one address is valid everywhere.
for (const ajv of [coercing, strict]) ajv.addFormat('email', EMAIL_PATTERN);

/** Compiles body schemas without type coercion and every other part with it. */
export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : coercing).compile(schema as object);
