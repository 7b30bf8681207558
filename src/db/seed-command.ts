import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { runMain } from '../main-wrapper.js';
import { createDatabase } from './database.js';
import { ensureDatabase, migrateToLatest } from './migrate.js';
import { countUnseededUsers, SEED_EMAIL_DOMAIN, SEEDED_TABLES, seedDatabase } from './seed.js';
import { plantAdminNightAction } from './seed-security.js';

const USAGE = `Usage: npm run db:seed -- [--scale N] [--seed S] [--force]

Migrates the database in DATABASE_URL, empties the platform tables and fills
them with generated data. maintenance_logs is left as it is.

Options:
  --scale N   size multiplier, an integer of at least 1 (default 1). Scale 1
              writes 50 users, 10,000 blacklisted tokens and 10,000 audit rows.
  --seed S    integer seed of the generated values (default 1). The same scale
              and seed give the same rows, relative to the time of the run.
  --force     seed even when the users table contains accounts outside
              @${SEED_EMAIL_DOMAIN}, which the seed did not create.
  -h, --help  print this help`;

function parseInteger(flag: string, value: string, minimum: number): number {
  const parsed = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < minimum) {
    const expected = minimum > Number.MIN_SAFE_INTEGER ? `an integer of at least ${minimum}` : 'an integer';
    throw new Error(`invalid ${flag} ${JSON.stringify(value)}: expected ${expected}`);
  }
  return parsed;
}

runMain(async () => {
  const { values } = parseArgs({
    options: {
      scale: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const scale = parseInteger('--scale', values.scale, 1);
  const seed = parseInteger('--seed', values.seed, Number.MIN_SAFE_INTEGER);

  const config = loadConfig();
  const databaseName = decodeURIComponent(new URL(config.DATABASE_URL).pathname.replace(/^\//, ''));
  const startedAt = performance.now();

  await ensureDatabase(config.DATABASE_URL);
  const db = createDatabase(config.DATABASE_URL, { max: 1, applicationName: 'shipshape-seed' });
  try {
    await migrateToLatest(db);

    const unseededUsers = await countUnseededUsers(db);
    if (unseededUsers > 0 && !values.force) {
      throw new Error(
        `database ${databaseName} has ${unseededUsers} ${unseededUsers === 1 ? 'user' : 'users'} outside ` +
          `@${SEED_EMAIL_DOMAIN} that seeding would delete; ` +
          'pass --force to delete them',
      );
    }

    const counts = await seedDatabase(db, { scale, seed });
    await plantAdminNightAction(db, { now: new Date() });
    const seconds = (performance.now() - startedAt) / 1000;

    console.log(`Seeded database ${databaseName} at scale ${scale} with seed ${seed} in ${seconds.toFixed(1)} s`);
    const width = Math.max(...SEEDED_TABLES.map((table) => table.length));
    for (const table of SEEDED_TABLES) {
      console.log(`  ${table.padEnd(width)}  ${counts[table].toLocaleString('en-US').padStart(11)}`);
    }
  } finally {
    await db.destroy();
  }
});
