import { Type } from '@sinclair/typebox';
import { defineJob } from '../contract.js';
import { checkCachePrefix, clearPrefix } from './scan.js';

export type CachePrefixSetting = 'CACHE_PREFIX' | 'API_CACHE_PREFIX';

const clearPayload = Type.Object(
  {
    dryRun: Type.Optional(Type.Boolean({ description: 'Count the keys and delete nothing' })),
    pattern: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 512,
        // Glob characters of Redis MATCH are rejected, so the sub-prefix reads as the literal text it is matched as.
        pattern: '^[^*?\\[\\]\\\\]+$',
        description: 'Sub-prefix appended to the cache prefix, to clear only keys under it; the characters * ? [ ] \\ are rejected',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * Defines a job that deletes every Redis key under the prefix in `setting`
 * (or under that prefix plus `pattern`), with SCAN and UNLINK in batches,
 * never touching a key under `${QUEUE_PREFIX}:`.
 */
export function defineClearJob(name: string, setting: CachePrefixSetting, description: string) {
  return defineJob({
    name,
    queue: 'maintenance',
    description,
    payload: clearPayload,
    role: 'admin',
    destructive: true,
    kind: 'maintenance',
    async run(context, payload) {
      const { config } = context;
      checkCachePrefix(setting, config[setting], config.QUEUE_PREFIX);
      const prefix = `${config[setting]}${payload.pattern ?? ''}`;
      const dryRun = payload.dryRun === true;

      const report = await clearPrefix(context.redis, {
        prefix,
        queuePrefix: config.QUEUE_PREFIX,
        dryRun,
        signal: context.signal,
        onBatch: (progress) =>
          context.progress(
            dryRun ? { keys: progress.matched, batches: progress.batches } : { deleted: progress.deleted, batches: progress.batches },
          ),
      });

      if (report.skippedQueueKeys > 0) {
        context.logger.warn({ prefix, skippedQueueKeys: report.skippedQueueKeys }, 'skipped keys under the queue prefix');
      }
      await context.log(
        dryRun
          ? `found ${report.matched} keys under "${prefix}"; dry run, nothing deleted`
          : `deleted ${report.deleted} keys under "${prefix}" in ${report.batches} batches`,
      );
      // A dry run reports the distinct keys it found, a real run the keys UNLINK removed.
      return {
        dryRun,
        prefix,
        ...(dryRun ? { keys: report.matched } : { deleted: report.deleted }),
        batches: report.batches,
        skippedQueueKeys: report.skippedQueueKeys,
        scanCalls: report.scanCalls,
        durationMs: report.durationMs,
      };
    },
  });
}
