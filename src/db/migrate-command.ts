import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { runMain } from '../main-wrapper.js';
import { createDatabase } from './database.js';
import { ensureDatabase, migrateToLatest } from './migrate.js';

runMain(async () => {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, { process: 'migrate' });

  const created = await ensureDatabase(config.DATABASE_URL);
  if (created) logger.info('database created');

  const db = createDatabase(config.DATABASE_URL, { max: 1, applicationName: 'shipshape-migrate' });
  try {
    const resultSet = await migrateToLatest(db);
    const applied = resultSet.results?.map((result) => result.migrationName) ?? [];
    logger.info({ applied }, applied.length ? 'migrations applied' : 'database already up to date');
  } finally {
    await db.destroy();
  }
});
