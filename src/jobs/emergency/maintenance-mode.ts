import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { choiceValidator, FUTURE_DATE_TIME_FORMAT } from './payload-rules.js';
import { changeSettings } from './settings-state.js';

/** Turns the platform's maintenance mode on, with an optional message and end time, or off. */
export const maintenanceMode = defineJob({
  name: 'maintenance-mode',
  queue: 'maintenance',
  description: 'Turn maintenance mode on, with a message and end time, or off',
  payload: Type.Object(
    {
      on: Type.Optional(Type.Literal(true, { description: 'Turn maintenance mode on' })),
      off: Type.Optional(Type.Literal(true, { description: 'Turn maintenance mode off and clear its message and end time' })),
      message: Type.Optional(Type.String({ minLength: 1, maxLength: 500, description: 'Text the platform shows to users' })),
      until: Type.Optional(
        Type.String({ format: FUTURE_DATE_TIME_FORMAT, maxLength: 64, description: 'Expected end, an ISO 8601 date-time in the future, for example 2030-01-01T06:00:00Z' }),
      ),
    },
    { additionalProperties: false },
  ),
  validate: choiceValidator({ choices: ['on', 'off'], requires: { message: 'on', until: 'on' } }),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run(context, payload) {
    const values = payload.on
      ? { maintenance_mode: true, maintenance_message: payload.message ?? null, maintenance_until: payload.until ?? null }
      : { maintenance_mode: false, maintenance_message: null, maintenance_until: null };
    const change = await changeSettings(context.db, values, context.job.requestedBy);
    await context.log(`maintenance mode ${payload.on ? 'on' : 'off'}`);
    return { ...change };
  },
});
