import { qualifiedName } from './catalog.js';
import type { PlannedDrop } from './index-drops.js';
import { dropIndexStatement, reindexStatement, type BloatedIndex, type InvalidIndex } from './index-report.js';
import type { VacuumCandidate } from './size-report.js';

/*
 * Turns findings into recommendations, each with the one statement to run.
 * Every statement runs outside a transaction and takes only the light locks
 * of the CONCURRENTLY variants, so an operator can paste it as it is.
 */

export interface Recommendation {
  action: 'drop-index' | 'reindex' | 'vacuum-analyze';
  target: string;
  reason: string;
  statement: string;
}

const mebibytes = (bytes: number) => `${Math.round((bytes / 1_048_576) * 10) / 10} MiB`;

/** Builds the recommendations: invalid indexes, then the drops of planIndexDrops, then REINDEX and VACUUM ANALYZE. */
export function recommend(findings: {
  /** Duplicate and unused indexes to drop, from planIndexDrops. */
  drops: readonly PlannedDrop[];
  invalid: readonly InvalidIndex[];
  bloated: readonly BloatedIndex[];
  vacuum: readonly VacuumCandidate[];
}): Recommendation[] {
  const recommendations: Recommendation[] = [];
  const dropping = new Set<string>();
  const drop = (schema: string, index: string, reason: string) => {
    const target = qualifiedName(schema, index);
    if (dropping.has(target)) return;
    dropping.add(target);
    recommendations.push({ action: 'drop-index', target, reason, statement: `${dropIndexStatement(schema, index)};` });
  };

  for (const row of findings.invalid) {
    drop(row.schema, row.index, row.reindexLeftover ? 'invalid leftover of a failed REINDEX CONCURRENTLY' : 'invalid index left by a failed CREATE INDEX CONCURRENTLY');
  }
  for (const row of findings.drops) drop(row.schema, row.index, row.reason);
  for (const row of findings.bloated) {
    const target = qualifiedName(row.schema, row.index);
    if (dropping.has(target)) continue;
    recommendations.push({
      action: 'reindex',
      target,
      reason: `${mebibytes(row.bytes)}, about ${row.ratio} times the ${mebibytes(row.estimatedBytes)} its rows need`,
      statement: `${reindexStatement(row.schema, row.index)};`,
    });
  }
  for (const row of findings.vacuum) {
    const target = qualifiedName(row.schema, row.table);
    recommendations.push({ action: 'vacuum-analyze', target, reason: row.reason, statement: `VACUUM ANALYZE ${target};` });
  }
  return recommendations;
}
