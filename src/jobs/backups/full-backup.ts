import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Type } from '@sinclair/typebox';
import { create as createTar } from 'tar';
import type { Config } from '../../config.js';
import { defineJob } from '../contract.js';
import { describeBackup } from './backup-alerts.js';
import { backupPath, fileTimestamp, fsyncPath, PARTIAL_SUFFIX, sha256File } from './backup-files.js';
import { applyRetention } from './backup-records.js';
import { createBackup } from './create-backup.js';
import { uniqueSuffix } from './dump.js';
import { redactConfig } from './redact-config.js';
import { testRestoreBackup } from './test-restore.js';

const STORAGE_ARCHIVE = 'storage.tar.gz';
const CONFIG_FILE = 'config.json';
const MANIFEST_FILE = 'manifest.json';

const absolute = (path: string) => (isAbsolute(path) ? path : resolve(path));

/** Writes a gzip tar of STORAGE_DIR's contents to `path` and fsyncs it. */
async function archiveStorage(config: Config, path: string, signal: AbortSignal): Promise<void> {
  const storage = absolute(config.STORAGE_DIR);
  // A storage folder that was never written to is backed up as an empty archive.
  await mkdir(storage, { recursive: true });
  await pipeline(createTar({ gzip: true, cwd: storage, portable: true }, ['.']), createWriteStream(path, { flags: 'wx', mode: 0o600 }), { signal });
  await fsyncPath(path);
}

async function writeSynced(path: string, text: string): Promise<void> {
  await writeFile(path, text, { flag: 'wx', mode: 0o600 });
  await fsyncPath(path);
}

/**
 * The monthly full backup. It writes a database dump (kind monthly) beside
 * the other dumps, and a folder `full-<time>` inside BACKUP_DIR with a tar.gz
 * of STORAGE_DIR, the configuration with every secret redacted, and a
 * manifest with the SHA-256 of all three. The folder is written as
 * `<name>.partial` and renamed when complete. A test restore of the dump follows.
 */
export const fullBackup = defineJob({
  name: 'full-backup',
  queue: 'backups',
  description: 'Monthly full backup: database dump, storage archive, redacted configuration, manifest, test restore',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'routine',
  async run(context) {
    const { config, db } = context;
    const outcome = await createBackup(
      { db, config, logger: context.logger, signal: context.signal, requestedBy: context.job.requestedBy, jobId: context.job.id, log: context.log },
      'monthly',
    );
    const dump = outcome.backup;

    const bundle = `full-${fileTimestamp(dump.started_at)}-${uniqueSuffix()}`;
    const partial = backupPath(config, bundle + PARTIAL_SUFFIX);
    // Recorded first, so retention also finds a `.partial` folder that a killed run left behind.
    await db.updateTable('backups').set({ bundle }).where('id', '=', dump.id).execute();
    await mkdir(partial, { recursive: true, mode: 0o700 });
    let manifest: Record<string, unknown>;
    try {
      await archiveStorage(config, `${partial}/${STORAGE_ARCHIVE}`, context.signal);
      await writeSynced(`${partial}/${CONFIG_FILE}`, `${JSON.stringify(redactConfig(config), null, 2)}\n`);
      manifest = {
        createdAt: new Date().toISOString(),
        database: { file: `../${dump.file}`, backupId: dump.id, sha256: dump.sha256, sizeBytes: dump.size_bytes },
        storage: { file: STORAGE_ARCHIVE, sha256: await sha256File(`${partial}/${STORAGE_ARCHIVE}`), source: absolute(config.STORAGE_DIR) },
        configuration: { file: CONFIG_FILE, sha256: await sha256File(`${partial}/${CONFIG_FILE}`) },
      };
      await writeSynced(`${partial}/${MANIFEST_FILE}`, `${JSON.stringify(manifest, null, 2)}\n`);
      await fsyncPath(partial);
      await rename(partial, backupPath(config, bundle));
      await fsyncPath(absolute(config.BACKUP_DIR));
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      await db.updateTable('backups').set({ bundle: null }).where('id', '=', dump.id).execute();
      throw error;
    }
    await context.log(`full backup ${bundle} written`);

    const restore = await testRestoreBackup(context, dump);
    const retention = await applyRetention(db, config);
    return {
      database: describeBackup(dump),
      bundle,
      manifest: manifest as Record<string, never>,
      restoreMs: restore.restoreMs,
      countsMatch: restore.countsMatch,
      retentionRemoved: retention.removed,
    };
  },
});
