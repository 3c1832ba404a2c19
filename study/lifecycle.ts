/**
 * A study run's lifecycle in the results catalog: prepare (resolve the release, derive the run
 * id, reuse a completed run, check prerequisites, record the run as running), record a finished
 * run's result tables, and discard a cancelled or failed one. No Temporal here: the activities
 * (activities/study.ts) pass in the workflow ids and the run's timings reader.
 */

import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { listValue } from '@duckdb/node-api';
import { sqlString, withCompute } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile, canonicalJson, exists } from '../engine/fsutil.js';
import {
  deleteRun,
  finishRun,
  getRun,
  recordRun as recordRunRow,
  recordStudy,
  runDir as runDirOf,
  runIdFor,
  softwareVersion,
  writeRunResults,
} from '../engine/results.js';
import { resolveRelease, specHash } from '../engine/study.js';
import { checkStudyPrerequisites, phecodeMapsUsed } from '../phenotype/prerequisites.js';
import { phenotypeLabel } from '../schemas/phenotype.js';
import { variantId, variantIdSql } from '../schemas/results.js';
import type { StudySpec } from '../schemas/study.js';
import type { RunContext, StudyResult } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';

export interface PrepareRunResult {
  run: RunContext;
  /** The stored result when this study already completed on this release: nothing to redo. */
  completed: StudyResult | null;
}

/** Which workflow execution a run attempt is (a re-run after a failure is a new execution). */
export interface RunAttempt {
  workflowId: string;
  workflowRunId: string | null;
}

/** A run's timings (activities/timings.ts), or null. */
export type TimingsReader = (runDir: string) => Promise<unknown>;

export function mainPhenotypeLabel(spec: StudySpec): string {
  return spec.kind === 'phenotype-first' ? phenotypeLabel(spec.phenotype) : 'burden';
}

/**
 * Resolve the release, derive the run id, and return the stored result of a completed run;
 * otherwise check everything the spec needs from the release before any compute.
 */
export async function prepareRun(
  config: EngineConfig,
  spec: StudySpec,
  attempt: RunAttempt,
): Promise<PrepareRunResult> {
  const release = await resolveRelease(config, spec.release);
  const hash = specHash(spec);
  const runId = runIdFor({
    studyId: spec.studyId,
    releaseFingerprint: release.fingerprint,
    specHash: hash,
  });
  const run: RunContext = {
    runId,
    studyId: spec.studyId,
    releaseId: release.releaseId,
    releaseFingerprint: release.fingerprint,
    releaseDir: release.dataPath,
    specHash: hash,
    runDir: runDirOf(config.dataDir, runId),
  };
  const existing = await getRun(config, runId);
  const resultFile = join(run.runDir, 'result.json');
  if (existing?.status === 'completed' && (await exists(resultFile))) {
    const stored = JSON.parse(await readFile(resultFile, 'utf8')) as StudyResult;
    return { run, completed: { ...stored, reused: true } };
  }
  // Everything the spec needs from the release, before any compute (non-retryable InputError).
  await withCompute(config, (conn) =>
    checkStudyPrerequisites(conn, {
      spec,
      releaseId: release.releaseId,
      releaseDir: release.dataPath,
      dataDir: config.dataDir,
    }),
  );
  const { release: _release, ...rest } = spec;
  await recordStudy(config, {
    study_id: spec.studyId,
    kind: spec.kind,
    spec_json: canonicalJson(rest),
    spec_hash: hash,
    created_at: new Date().toISOString(),
  });
  await recordRunRow(config, {
    run_id: runId,
    study_id: spec.studyId,
    release_id: release.releaseId,
    release_fingerprint: release.fingerprint,
    spec_hash: hash,
    phecode_maps_json: JSON.stringify(await phecodeMapsUsed(spec, config.dataDir)),
    software_version: await softwareVersion(),
    status: 'running',
    // A retry or a continue-as-new of a running run keeps its start; a new attempt (after a
    // failed, cancelled or terminated one) starts anew.
    started_at: existing?.status === 'running' ? existing.started_at : new Date().toISOString(),
    finished_at: null,
    timings_json: null,
    workflow_id: attempt.workflowId,
    // Each attempt of a re-run (after a failure, a cancel or a terminate) is its own execution.
    workflow_run_id: attempt.workflowRunId,
    error: null,
  });
  return { run, completed: null };
}

/**
 * Record a finished run: its result tables (replacing any earlier attempt's rows), the stored
 * result, and the run row's status. Idempotent.
 */
export async function recordCompletedRun(
  config: EngineConfig,
  run: RunContext,
  spec: StudySpec,
  result: StudyResult,
  timingsOf: TimingsReader,
): Promise<void> {
  const phenotype = mainPhenotypeLabel(spec);
  if (result.gwas) {
    await withCompute(config, async (conn) => {
      // Staged outside runs/<id>/gwas/, which the results store replaces as a whole.
      const merged = join(run.runDir, 'gwas-merged.parquet');
      const labels = result.gwas?.traits?.map((t) => t.phenotype) ?? [phenotype];
      // Trait labels are user text: bound as a parameter, never spliced into the SQL.
      await conn.run(
        `CREATE OR REPLACE TEMP TABLE _trait_labels AS
         SELECT generate_subscripts(l, 1) - 1 AS trait_k, unnest(l) AS label FROM (SELECT $1::VARCHAR[] AS l)`,
        [listValue(labels)],
      );
      // Shard files written before the engine's test vocabulary was one say 'linear_t'.
      await atomicProduce(merged, (tmp) =>
        conn.run(
          `COPY (SELECT lab.label AS phenotype, chrom, pos, ref, alt,
                   ${variantIdSql()} AS variant_id, rsid, n, af, beta, se, stat,
                   p, neg_log10_p, CASE test WHEN 'linear_t' THEN 'linear' ELSE test END AS test, status
                 FROM read_parquet(${sqlString(result.gwas!.resultsGlob)}) r
                 JOIN _trait_labels lab ON lab.trait_k = r.trait WHERE test <> 'none')
           TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 8192)`,
        ),
      );
      await conn.run('DROP TABLE _trait_labels');
      await writeRunResults(config, run.runId, 'gwas_results', { parquet: merged });
      await rm(merged, { force: true });
    });
    await writeRunResults(
      config,
      run.runId,
      'lead_loci',
      result.gwas.leadLoci.map((l, i) => ({
        phenotype,
        locus_id: i + 1,
        chrom: l.chrom,
        pos: l.pos,
        ref: l.ref,
        alt: l.alt,
        variant_id: variantId(l),
        p: l.p,
        beta: l.beta,
        start: l.start,
        end: l.end,
        n_variants_in_locus: l.nVariants,
      })),
    );
    const qc = result.gwas.qc;
    const gwasSpec = spec.kind === 'phenotype-first' ? spec.gwas : undefined;
    let before = qc.nInput;
    const steps: [string, number | null, number][] = [
      ['max_missing', gwasSpec?.maxMissing ?? null, qc.removedMissing],
      ['min_mac', gwasSpec?.minMac ?? null, qc.removedMac],
      ['min_maf', gwasSpec?.minMaf ?? null, qc.removedMaf],
      ['hwe_p', gwasSpec?.hweP ?? null, qc.removedHwe],
    ];
    await writeRunResults(
      config,
      run.runId,
      'qc_summary',
      steps.map(([filter, threshold, removed]) => {
        const row = {
          step: 'variant_qc',
          filter,
          threshold,
          n_before: before,
          n_removed: removed,
          n_after: before - removed,
        };
        before -= removed;
        return row;
      }),
    );
  }
  if (result.phewas.some((p) => p.model !== 'cox')) {
    await writeRunResults(config, run.runId, 'phewas_results', {
      parquet: join(run.runDir, 'phewas', '*.parquet'),
    });
  }
  if (result.phewas.some((p) => p.model === 'cox')) {
    await writeRunResults(config, run.runId, 'phewas_cox_results', {
      parquet: join(run.runDir, 'phewas-cox', '*.parquet'),
    });
    const km = join(run.runDir, 'phewas-cox-km', 'km.parquet');
    if (await exists(km)) await writeRunResults(config, run.runId, 'phewas_cox_km', { parquet: km });
  }
  const burdenTests = join(run.runDir, 'burden', 'tests.parquet');
  if (await exists(burdenTests))
    await writeRunResults(config, run.runId, 'burden_results', { parquet: burdenTests });
  if (spec.kind === 'phenotype-first') {
    const extra = (result.gwas?.traits ?? []).slice(1);
    await writeRunResults(config, run.runId, 'gwas_phenotypes', [
      {
        phenotype,
        trait_type: result.analysis.trait === 'binary' ? 'binary' : 'quantitative',
        description: null,
        category: null,
        n_samples: result.analysis.nSamples,
        n_cases: result.analysis.nCases ?? null,
        n_controls: result.analysis.nControls ?? null,
        lambda_gc: result.gwas?.lambdaGc ?? null,
      },
      ...extra.map((t) => ({
        phenotype: t.phenotype,
        trait_type: 'quantitative' as const,
        description: null,
        category: null,
        n_samples: result.analysis.nSamples,
        n_cases: null,
        n_controls: null,
        lambda_gc: t.lambdaGc,
      })),
    ]);
  }
  await atomicWriteFile(join(run.runDir, 'result.json'), JSON.stringify(result, null, 2));
  const timings = await timingsOf(run.runDir);
  await finishRun(config, run.runId, {
    status: 'completed',
    finished_at: new Date().toISOString(),
    timings_json: timings ? JSON.stringify(timings) : null,
  });
}

/**
 * After a cancelled run: remove its partial outputs and result rows, and record it as
 * cancelled. After a failed run: record the failure and keep finished shards for a re-run.
 */
export async function discardRun(
  config: EngineConfig,
  run: RunContext,
  status: 'cancelled' | 'failed',
  reason: string,
  timingsOf: TimingsReader,
): Promise<void> {
  const existing = await getRun(config, run.runId);
  const error = reason.split('\n')[0].slice(0, 500);
  const finishedAt = new Date().toISOString();
  if (status === 'cancelled') {
    await deleteRun(config, run.runId);
    await rm(run.runDir, { recursive: true, force: true });
    if (existing) {
      await recordRunRow(config, {
        ...existing,
        status,
        finished_at: finishedAt,
        timings_json: null,
        error,
      });
    }
    return;
  }
  if (!existing) return;
  const timings = await timingsOf(run.runDir);
  await finishRun(config, run.runId, {
    status,
    finished_at: finishedAt,
    timings_json: timings ? JSON.stringify(timings) : null,
    error,
  });
}
