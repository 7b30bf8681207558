import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { choiceValidator } from './payload-rules.js';
import { changeSettings } from './settings-state.js';

/** Sets the per-IP request limit the platform applies, or removes it. */
export const enableRateLimit = defineJob({
  name: 'enable-rate-limit',
  queue: 'maintenance',
  description: 'Set the per-IP request limit per minute, or remove it',
  payload: Type.Object(
    {
      perMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Requests per minute allowed from one IP address' })),
      off: Type.Optional(Type.Literal(true, { description: 'Remove the limit' })),
    },
    { additionalProperties: false },
  ),
  validate: choiceValidator({ choices: ['perMinute', 'off'] }),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run(context, payload) {
    const limit = payload.perMinute ?? null;
    const change = await changeSettings(context.db, { rate_limit_per_minute: limit }, context.job.requestedBy);
    await context.log(limit === null ? 'rate limit removed' : `rate limit set to ${limit} requests per minute`);
    return { ...change };
  },
});
