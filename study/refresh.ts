/**
 * Re-running studies on a new release (the `refreshOnRelease` workflow's logic): which
 * registered studies run on it and under which workflow id, and how a study's new run differs
 * from its previous one (lead loci by variant id; Bonferroni-significant PheWAS pairs).
 */
import { hasTable, withEngineDb } from '../engine/duckdb.js';
import { exists } from '../engine/fsutil.js';
import { runIdFor } from '../engine/results.js';
import { specHash } from '../engine/study.js';
import { RUN_COMPARISONS_DDL } from '../schemas/catalog.js';
import { type StudySpec, studySpecSchema, workflowTypeFor } from '../schemas/study.js';
import type { EngineConfig } from '../temporal.config.js';

export interface ReleaseCheck {
  manifestPath: string;
  releaseId: string;
  fingerprint: string;
  /** True when a release with this id and fingerprint is already registered. */
  registered: boolean;
}

export interface StudyRunPlan {
  studyId: string;
  workflowType: 'phenotypeFirstStudy' | 'genotypeFirstStudy';
  workflowId: string;
  spec: StudySpec;
  /** The study's latest completed run on another release, to compare against. */
  previousRunId: string | null;
}

export interface RunComparison {
  newRunId: string;
  previousRunId: string;
  /** Lead loci / significant PheWAS pairs present now but not before, and the reverse. */
  newHits: number;
  lostHits: number;
  /** Shared hits with the largest change in −log10 p. */
  largestChanges: { key: string; before: number; after: number }[];
}

/** For each registered study: its run on the release (workflow type and id) and its previous run. */
export async function planStudyRuns(
  config: EngineConfig,
  input: { releaseId: string; fingerprint: string },
): Promise<StudyRunPlan[]> {
  if (!(await exists(config.database))) return [];
  const rows = await withEngineDb(
    config,
    async (conn) => {
      if (!(await hasTable(conn, 'studies'))) return [];
      const r = await conn.runAndReadAll(
        `SELECT s.study_id, CAST(s.spec_json AS VARCHAR) AS spec_json,
                (SELECT r.run_id FROM runs r
                  WHERE r.study_id = s.study_id AND r.status = 'completed' AND r.release_fingerprint <> $1
                  ORDER BY r.finished_at DESC LIMIT 1) AS previous_run_id
         FROM studies s ORDER BY s.study_id`,
        [input.fingerprint],
      );
      return r.getRowObjectsJS() as {
        study_id: string;
        spec_json: string;
        previous_run_id: string | null;
      }[];
    },
    { readOnly: true },
  );
  return rows.map((row) => {
    const spec = studySpecSchema.parse({ ...JSON.parse(row.spec_json), release: input.releaseId });
    return {
      studyId: row.study_id,
      workflowType: workflowTypeFor(spec),
      workflowId: runIdFor({
        studyId: spec.studyId,
        releaseFingerprint: input.fingerprint,
        specHash: specHash(spec),
      }),
      spec,
      previousRunId: row.previous_run_id,
    };
  });
}

/**
 * Compare a study's new run with its previous one: lead loci (by chrom:pos:ref:alt) and
 * Bonferroni-significant PheWAS pairs (predictor × phecode). Writes the comparison to the
 * `run_comparisons` table (replacing an earlier write for the same pair of runs).
 */
export async function compareRuns(
  config: EngineConfig,
  newRunId: string,
  previousRunId: string,
): Promise<RunComparison> {
  return withEngineDb(config, async (conn) => {
    await conn.run(RUN_COMPARISONS_DDL);
    await conn.run('DELETE FROM run_comparisons WHERE new_run_id = $1 AND previous_run_id = $2', [
      newRunId,
      previousRunId,
    ]);
    const hits = (runParam: string) => `
      SELECT 'lead_locus' AS kind, variant_id AS key, -log10(greatest(p, 1e-320)) AS s FROM lead_loci WHERE run_id = ${runParam}
      UNION ALL
      SELECT 'phewas', predictor || ' ~ ' || phecode, neg_log10_p FROM phewas_results
      WHERE run_id = ${runParam} AND status = 'ok'
        AND p * (SELECT count(*) FROM phewas_results q WHERE q.run_id = ${runParam} AND q.status = 'ok') < 0.05`; // Bonferroni p < 0.05 / m (stats/multiple-testing.ts), in SQL
    if (!(await hasTable(conn, 'lead_loci')) || !(await hasTable(conn, 'phewas_results'))) {
      return { newRunId, previousRunId, newHits: 0, lostHits: 0, largestChanges: [] };
    }
    await conn.run(
      `INSERT INTO run_comparisons
       SELECT $1, $2, coalesce(a.kind, b.kind), coalesce(a.key, b.key),
              CASE WHEN b.key IS NULL THEN 'new' WHEN a.key IS NULL THEN 'lost' ELSE 'shared' END,
              b.s, a.s
       FROM (${hits('$1')}) a FULL OUTER JOIN (${hits('$2')}) b ON a.kind = b.kind AND a.key = b.key`,
      [newRunId, previousRunId],
    );
    const counts = await conn.runAndReadAll(
      `SELECT count(*) FILTER (WHERE change = 'new')::INTEGER, count(*) FILTER (WHERE change = 'lost')::INTEGER
       FROM run_comparisons WHERE new_run_id = $1 AND previous_run_id = $2`,
      [newRunId, previousRunId],
    );
    const top = await conn.runAndReadAll(
      `SELECT kind || ' ' || key, neg_log10_p_before, neg_log10_p_after FROM run_comparisons
       WHERE new_run_id = $1 AND previous_run_id = $2 AND change = 'shared'
       ORDER BY abs(neg_log10_p_after - neg_log10_p_before) DESC LIMIT 10`,
      [newRunId, previousRunId],
    );
    const [newHits, lostHits] = counts.getRows()[0].map(Number);
    return {
      newRunId,
      previousRunId,
      newHits,
      lostHits,
      largestChanges: top
        .getRows()
        .map((r) => ({ key: String(r[0]), before: Number(r[1]), after: Number(r[2]) })),
    };
  });
}
