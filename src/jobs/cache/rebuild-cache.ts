import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { defineJob } from '../contract.js';
import { checkCachePrefix } from './scan.js';

/** Crews read per query and written per MULTI transaction: two SET commands each. */
const CREW_BATCH_SIZE = 500;

interface CrewAggregateRow {
  id: number;
  name: string;
  members: number;
  modules_completed: number;
  modules_total: number;
  average_progress: number | null;
  attempts: number;
  passed: number;
  pass_rate: number | null;
  average_score: number | null;
}

/**
 * Reads the aggregates of the next `limit` crews with an id above `afterId`.
 * Training counts one row of training_progress per user and module, so
 * `modules_total` is the crew's user-module assignments and
 * `modules_completed` those with status `completed`. All users of the crew
 * count, active or not. Averages are rounded to two decimals, the pass rate
 * to four, and each is null when the crew has no rows to average.
 */
async function readCrewAggregates(db: Db, afterId: number, limit: number): Promise<CrewAggregateRow[]> {
  const { rows } = await sql<CrewAggregateRow>`
    select
      c.id,
      c.name,
      (select count(*)::int from users u where u.crew_id = c.id) as members,
      t.modules_completed,
      t.modules_total,
      t.average_progress,
      q.attempts,
      q.passed,
      q.pass_rate,
      q.average_score
    from crews c
    cross join lateral (
      select
        count(*) filter (where tp.status = 'completed')::int as modules_completed,
        count(*)::int as modules_total,
        round(avg(tp.progress_percent), 2)::float8 as average_progress
      from training_progress tp join users u on u.id = tp.user_id
      where u.crew_id = c.id
    ) t
    cross join lateral (
      select
        count(*)::int as attempts,
        count(*) filter (where qa.passed)::int as passed,
        round(count(*) filter (where qa.passed)::numeric / nullif(count(*), 0), 4)::float8 as pass_rate,
        round(avg(qa.score), 2)::float8 as average_score
      from quiz_attempts qa join users u on u.id = qa.user_id
      where u.crew_id = c.id
    ) q
    where c.id > ${afterId}
    order by c.id
    limit ${limit}
  `.execute(db);
  return rows;
}

/**
 * Recomputes the per-crew aggregates the platform caches and writes them as
 * JSON strings under `${CACHE_PREFIX}crew:<id>:training` and
 * `${CACHE_PREFIX}crew:<id>:quiz`, with CACHE_TTL_SECONDS as their TTL.
 *
 * NOTE: keys of crews deleted from Postgres are not removed here; they stay
 * until their TTL runs out or clear-cache runs.
 */
export const rebuildCache = defineJob({
  name: 'rebuild-cache',
  queue: 'maintenance',
  description: 'Recompute the per-crew training and quiz aggregates and write them to the cache',
  payload: Type.Object({}, { additionalProperties: false }),
  role: 'operator',
  destructive: false,
  kind: 'maintenance',
  async run(context) {
    const { config, redis } = context;
    checkCachePrefix('CACHE_PREFIX', config.CACHE_PREFIX, config.QUEUE_PREFIX);
    const ttl = config.CACHE_TTL_SECONDS;
    const report = { crews: 0, keysWritten: 0, batches: 0 };
    let afterId = 0;

    for (;;) {
      context.signal.throwIfAborted();
      const crews = await readCrewAggregates(context.db, afterId, CREW_BATCH_SIZE);
      if (crews.length === 0) break;

      const computedAt = new Date().toISOString();
      // One MULTI per batch: readers see either the old or the new values of a whole batch.
      const transaction = redis.multi();
      for (const crew of crews) {
        const training = {
          crewId: crew.id,
          crewName: crew.name,
          members: crew.members,
          modulesCompleted: crew.modules_completed,
          modulesTotal: crew.modules_total,
          averageProgressPercent: crew.average_progress,
          computedAt,
        };
        const quiz = {
          crewId: crew.id,
          crewName: crew.name,
          attempts: crew.attempts,
          passed: crew.passed,
          passRate: crew.pass_rate,
          averageScore: crew.average_score,
          computedAt,
        };
        transaction.set(`${config.CACHE_PREFIX}crew:${crew.id}:training`, JSON.stringify(training), 'EX', ttl);
        transaction.set(`${config.CACHE_PREFIX}crew:${crew.id}:quiz`, JSON.stringify(quiz), 'EX', ttl);
      }
      const results = await transaction.exec();
      const failed = (results ?? []).find(([error]) => error !== null);
      if (!results || failed) {
        throw new Error(`Writing the cache keys of crews ${crews[0]!.id} to ${crews.at(-1)!.id} failed: ${failed?.[0]?.message ?? 'MULTI was aborted'}`);
      }

      report.crews += crews.length;
      report.keysWritten += crews.length * 2;
      report.batches += 1;
      afterId = crews.at(-1)!.id;
      await context.progress({ ...report });
    }

    await context.log(`wrote ${report.keysWritten} keys for ${report.crews} crews with a TTL of ${ttl} s`);
    return { prefix: `${config.CACHE_PREFIX}crew:`, ttlSeconds: ttl, ...report };
  },
});
