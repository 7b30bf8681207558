import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import pg from 'pg';
import { connectionSettings } from '../../db/database.js';
import { defineJob, type JobContext } from '../contract.js';
import { choiceValidator } from './payload-rules.js';
import { changeSettings } from './settings-state.js';

/** Reads `default_transaction_read_only` of a new connection without Shipshape's startup options. */
async function newConnectionReadOnly(context: JobContext): Promise<boolean> {
  const client = new pg.Client({
    ...connectionSettings(context.config.DATABASE_URL),
    application_name: 'shipshape-readonly-check',
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', (error) => context.logger.warn({ err: error }, 'read-only check connection reported an error'));
  await client.connect();
  try {
    const { rows } = await client.query<{ default_transaction_read_only: string }>('show default_transaction_read_only');
    return rows[0]?.default_transaction_read_only === 'on';
  } finally {
    await client.end();
  }
}

/**
 * Makes the whole database read-only for new connections, or writable again.
 *
 * `ALTER DATABASE ... SET default_transaction_read_only` applies to every
 * connection opened afterwards, of every role, including Shipshape's own. A
 * connection that passes WRITABLE_SESSION_OPTIONS (./settings-state.ts) at
 * startup stays writable, because a client setting overrides the database
 * default. Connections already open keep the setting they started with.
 * The job checks the result on a new ordinary connection and fails when it
 * differs from the requested mode, for example because a role-level setting
 * overrides the database default.
 */
export const readonlyMode = defineJob({
  name: 'readonly-mode',
  queue: 'maintenance',
  description: 'Make the database read-only for new connections, or writable again',
  payload: Type.Object(
    {
      on: Type.Optional(Type.Literal(true, { description: 'Make new connections read-only' })),
      off: Type.Optional(Type.Literal(true, { description: 'Make new connections writable again' })),
    },
    { additionalProperties: false },
  ),
  validate: choiceValidator({ choices: ['on', 'off'] }),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run(context, payload) {
    const readOnly = payload.on === true;
    const before = await newConnectionReadOnly(context);

    const change = await changeSettings(context.db, { read_only: readOnly }, context.job.requestedBy, async (trx) => {
      const { rows } = await sql<{ name: string }>`select current_database() as name`.execute(trx);
      const database = sql.id(rows[0]!.name);
      if (readOnly) await sql`alter database ${database} set default_transaction_read_only = on`.execute(trx);
      else await sql`alter database ${database} reset default_transaction_read_only`.execute(trx);
    });
    await context.log(`platform_settings.read_only set to ${readOnly}; database default changed for new connections`);

    const after = await newConnectionReadOnly(context);
    if (after !== readOnly) {
      throw new Error(
        `A new connection is ${after ? 'read-only' : 'writable'} after readonly-mode ${readOnly ? 'on' : 'off'}: ` +
          'a role-level or connection setting overrides the database default; check pg_db_role_setting and DATABASE_URL options',
      );
    }

    return {
      before: { ...change.before, newConnectionReadOnly: before },
      after: { ...change.after, newConnectionReadOnly: after },
    };
  },
});
