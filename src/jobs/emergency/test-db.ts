import { Type } from '@sinclair/typebox';
import pg from 'pg';
import { defineJob, type JobContext } from '../contract.js';
import { writableConnectionSettings } from './settings-state.js';

const CONNECT_TIMEOUT_MS = 10_000;
const PINGS = 3;

const round = (value: number) => Math.round(value * 10) / 10;

/** Runs one step and rethrows its failure with the step named. */
async function step<T>(name: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Database test failed at "${name}": ${reason}`, { cause: error });
  }
}

async function timed<T>(action: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await action();
  return [result, round(performance.now() - started)];
}

/**
 * Checks the database on a connection of its own, outside the pool, so a
 * pool that is full or contains broken connections does not hide the result.
 * The connection is writable even in readonly-mode, because the temporary
 * table step needs writes; `databaseDefaultReadOnly` reports that mode.
 */
export const testDb = defineJob({
  name: 'test-db',
  queue: 'maintenance',
  description: 'Check PostgreSQL: connect, latency, temporary table round trip, version and connection use',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'admin',
  destructive: false,
  kind: 'emergency',
  async run(context: JobContext) {
    const client = new pg.Client({
      ...writableConnectionSettings(context.config.DATABASE_URL),
      application_name: 'shipshape-test-db',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // An error on an idle client would otherwise be thrown as an uncaught event.
    client.on('error', (error) => context.logger.warn({ err: error }, 'test-db connection reported an error'));

    const [, connectMs] = await step('connect', () => timed(() => client.connect()));
    try {
      const pings: number[] = [];
      for (let index = 0; index < PINGS; index++) {
        const [, ms] = await step('round trip', () => timed(() => client.query('select 1')));
        pings.push(ms);
      }

      const [, tableMs] = await step('temporary table', () =>
        timed(async () => {
          await client.query('create temporary table shipshape_test_db (id integer primary key, note text not null)');
          await client.query(`insert into shipshape_test_db values (1, 'written by test-db')`);
          const read = await client.query<{ note: string }>('select note from shipshape_test_db where id = 1');
          if (read.rows[0]?.note !== 'written by test-db') {
            throw new Error(`read back ${JSON.stringify(read.rows[0]?.note ?? null)} instead of the row just written`);
          }
          await client.query('drop table shipshape_test_db');
        }),
      );

      const figures = await step('server figures', async () => {
        const { rows } = await client.query<{
          version: string;
          max_connections: number;
          connections: number;
          read_only: string;
          database: string;
        }>(`
          select current_setting('server_version') as version,
                 current_setting('max_connections')::int as max_connections,
                 (select count(*)::int from pg_stat_activity where backend_type = 'client backend') as connections,
                 (select coalesce(bool_or(setting = 'default_transaction_read_only=on'), false)::text
                    from pg_db_role_setting, unnest(setconfig) as setting
                   where setrole = 0 and setdatabase = (select oid from pg_database where datname = current_database())) as read_only,
                 current_database() as database
        `);
        const row = rows[0];
        if (!row) throw new Error('the server returned no row');
        return row;
      });

      const percentUsed = round((figures.connections / figures.max_connections) * 100);
      await context.log(`connected in ${connectMs} ms, round trip ${Math.min(...pings)} ms, ${percentUsed}% of connections in use`);
      return {
        database: figures.database,
        serverVersion: figures.version,
        connectMs,
        roundTripMs: { min: Math.min(...pings), max: Math.max(...pings), samples: pings.length },
        temporaryTableMs: tableMs,
        maxConnections: figures.max_connections,
        connections: figures.connections,
        connectionsPercentUsed: percentUsed,
        databaseDefaultReadOnly: figures.read_only === 'true',
      };
    } finally {
      await client.end().catch((error: unknown) => context.logger.warn({ err: error }, 'closing the test-db connection failed'));
    }
  },
});
