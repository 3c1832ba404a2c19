/**
 * A meta run in the results catalog: its identity and folder, the `studies` row (kind `meta`)
 * and `runs` row (release `summary-statistics`, fingerprint = sha256 of the inputs' hashes), and
 * recording a finished run: `meta_results` (Parquet under `runs/<run>/meta/chrom=…/`, exposed as
 * a view, like `gwas_results`), `meta_inputs`, `meta_forest`, `meta_leave_one_out`,
 * `meta_input_loci` (each input's own lead loci, meta/loci.ts), `lead_loci` (phenotype = the
 * spec's trait; ref = other allele, alt = effect allele), `result.json`, and
 * the run row's status. Idempotent: a repeated record replaces the run's rows.
 *
 * A PheWAS meta run (`kind: "phewas"`) records `meta_inputs`, `meta_phewas_results` and
 * `meta_phewas_forest` (meta/phewas-runs.ts) instead, with the same run bookkeeping.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteFile, canonicalJson, exists } from '../engine/fsutil.js';
import {
  finishRun,
  getRun,
  recordRun,
  recordStudy,
  runDir,
  softwareVersion,
  writeRunResults,
} from '../engine/results.js';
import type { MetaInputRef, MetaResult, MetaRunContext, MetaSpec } from '../schemas/meta.js';
import { variantId } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import type { MetaLoci } from './loci.js';
import type { MetaPhewasOutput } from './phewas.js';
import type { PhewasInputRef } from './phewas-inputs.js';
import { type MetaPhewasSummary, writeMetaPhewas } from './phewas-runs.js';
import type { MetaCoreSummary } from './run.js';
import { hashedMetaSpec, type MetaIdentity } from './spec.js';

/** The release id recorded for meta runs, which read no release. */
export const META_RELEASE_ID = 'summary-statistics';

export function metaRunContext(config: EngineConfig, spec: MetaSpec, id: MetaIdentity): MetaRunContext {
  return {
    runId: id.runId,
    studyId: spec.metaId,
    releaseId: META_RELEASE_ID,
    releaseFingerprint: id.inputsHash,
    releaseDir: '',
    specHash: id.specHash,
    runDir: runDir(config.dataDir, id.runId),
  };
}

/** The stored result of a completed run, or null. */
export async function completedMetaRun(
  config: EngineConfig,
  run: MetaRunContext,
): Promise<MetaResult | null> {
  const existing = await getRun(config, run.runId);
  const file = join(run.runDir, 'result.json');
  if (existing?.status !== 'completed' || !(await exists(file))) return null;
  return { ...(JSON.parse(await readFile(file, 'utf8')) as MetaResult), reused: true };
}

/** Record the study (kind `meta`) and the run as running. */
export async function recordMetaStart(
  config: EngineConfig,
  spec: MetaSpec,
  run: MetaRunContext,
  attempt: { workflowId: string; workflowRunId: string | null },
): Promise<void> {
  await recordStudy(config, {
    study_id: spec.metaId,
    kind: 'meta',
    spec_json: canonicalJson(hashedMetaSpec(spec)),
    spec_hash: run.specHash,
    created_at: new Date().toISOString(),
  });
  const existing = await getRun(config, run.runId);
  await recordRun(config, {
    run_id: run.runId,
    study_id: spec.metaId,
    release_id: run.releaseId,
    release_fingerprint: run.releaseFingerprint,
    spec_hash: run.specHash,
    phecode_maps_json: '{}',
    software_version: await softwareVersion(),
    status: 'running',
    started_at: existing?.status === 'running' ? existing.started_at : new Date().toISOString(),
    finished_at: null,
    timings_json: null,
    workflow_id: attempt.workflowId,
    workflow_run_id: attempt.workflowRunId,
    error: null,
  });
}

/** The run's result as the workflow returns it. */
export function metaResultOf(
  run: MetaRunContext,
  spec: MetaSpec,
  inputs: readonly MetaInputRef[],
  core: Pick<MetaCoreSummary, 'nVariants' | 'nAnalysed' | 'lambdaGc'>,
  loci: Pick<MetaLoci, 'leads'>,
): MetaResult {
  return {
    runId: run.runId,
    metaId: spec.metaId,
    reused: false,
    inputs: inputs.map((x) => ({
      label: x.label,
      format: x.format,
      rowsKept: x.rowsKept,
      lambdaGc: x.lambdaGc,
    })),
    nVariants: core.nVariants,
    nAnalysed: core.nAnalysed,
    lambdaGc: core.lambdaGc,
    leadLoci: loci.leads,
  };
}

/** Record a finished run's tables, its result and its status. Idempotent. */
export async function recordMetaRun(
  config: EngineConfig,
  run: MetaRunContext,
  spec: MetaSpec,
  inputs: readonly MetaInputRef[],
  core: MetaCoreSummary,
  loci: MetaLoci,
  result: MetaResult,
  timings: unknown,
): Promise<void> {
  const id = run.runId;
  await writeRunResults(config, id, 'meta_results', { parquet: core.partsGlob });
  await writeRunResults(
    config,
    id,
    'meta_inputs',
    inputs.map((x, i) => ({
      input_index: x.index,
      label: x.label,
      format: x.format,
      path: x.path,
      sha256: x.sha256,
      rows_read: x.rowsRead,
      rows_kept: x.rowsKept,
      dropped_json: JSON.stringify({ ...x.dropped, ...core.alignDropped[i] }),
      n: x.n,
      n_cases: x.nCases,
      n_controls: x.nControls,
      ancestry: x.ancestry,
      lambda_gc: x.lambdaGc,
    })),
  );
  await writeRunResults(config, id, 'meta_forest', loci.forest);
  await writeRunResults(config, id, 'meta_input_loci', loci.inputLoci ?? []);
  if (core.looGlob) await writeRunResults(config, id, 'meta_leave_one_out', { parquet: core.looGlob });
  else await writeRunResults(config, id, 'meta_leave_one_out', loci.leaveOneOut);
  await writeRunResults(
    config,
    id,
    'lead_loci',
    loci.leads.map((l, i) => ({
      phenotype: spec.trait,
      locus_id: i + 1,
      chrom: l.chrom,
      pos: l.pos,
      ref: l.otherAllele,
      alt: l.effectAllele,
      variant_id: variantId({ chrom: l.chrom, pos: l.pos, ref: l.otherAllele, alt: l.effectAllele }),
      p: l.p,
      beta: l.beta,
      start: l.start,
      end: l.end,
      n_variants_in_locus: l.nVariants,
    })),
  );
  await atomicWriteFile(join(run.runDir, 'result.json'), JSON.stringify(result, null, 2));
  await finishRun(config, id, {
    status: 'completed',
    finished_at: new Date().toISOString(),
    timings_json: timings ? JSON.stringify(timings) : null,
  });
}

/** The result of a PheWAS meta run as the workflow returns it (no variants, no lead loci). */
export function metaPhewasResultOf(
  run: MetaRunContext,
  spec: MetaSpec,
  inputs: readonly PhewasInputRef[],
  summary: MetaPhewasSummary,
): MetaResult {
  return {
    runId: run.runId,
    metaId: spec.metaId,
    reused: false,
    inputs: inputs.map((x) => ({ label: x.label, format: x.format, rowsKept: x.rowsKept, lambdaGc: null })),
    nVariants: 0,
    nAnalysed: 0,
    lambdaGc: null,
    leadLoci: [],
    phewas: summary,
  };
}

/** Record a finished PheWAS meta run: its inputs, both tables, result.json and status. Idempotent. */
export async function recordMetaPhewasRun(
  config: EngineConfig,
  run: MetaRunContext,
  inputs: readonly PhewasInputRef[],
  out: MetaPhewasOutput,
  result: MetaResult,
  timings: unknown,
): Promise<void> {
  const id = run.runId;
  await writeRunResults(
    config,
    id,
    'meta_inputs',
    inputs.map((x) => ({
      input_index: x.index,
      label: x.label,
      format: x.format,
      path: x.path,
      sha256: x.sha256,
      rows_read: x.rowsRead,
      rows_kept: x.rowsKept,
      dropped_json: JSON.stringify(x.dropped),
      n: x.n,
      n_cases: x.nCases,
      n_controls: x.nControls,
      ancestry: x.ancestry,
      lambda_gc: null,
    })),
  );
  await writeMetaPhewas(config, id, out);
  await atomicWriteFile(join(run.runDir, 'result.json'), JSON.stringify(result, null, 2));
  await finishRun(config, id, {
    status: 'completed',
    finished_at: new Date().toISOString(),
    timings_json: timings ? JSON.stringify(timings) : null,
  });
}
