/**
 * The stratified form of a study (`strata` in the spec; issue 15). Runs inside the study's own
 * workflow, after its prologue:
 *
 *   1. planStrata: the strata as child study specs (study/strata.ts), workflow id = run id;
 *   2. each stratum as a child study workflow (durable, resumable and idempotent like any
 *      study; a binary trait with fewer than `strata.minCases` cases is skipped and says so);
 *   3. phenotype-first: the GWAS of the strata that ran → exportStrataSumstats → a child
 *      `metaAnalysis` (fixed and random effects, Q, I², lead loci, forest rows);
 *   4. phenotype-first: the PheWAS round — each stratum's PheWAS of the meta lead loci (child
 *      studies with `stratumOf.loci`, no GWAS); then, in both kinds, metaPhewasStrata
 *      meta-analyses the strata's PheWAS rows into this run (meta_phewas_results / _forest;
 *      genotype-first: the strata's own burden PheWAS);
 *   5. the stratified run records its strata and the meta run, and writes its report.
 * Deterministic: no I/O here.
 */
import { executeChild, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { MetaResult } from '../schemas/meta.js';
import { activityOptions } from '../schemas/presets.js';
import type { StudySpec } from '../schemas/study.js';
import type { RunContext, StudyProgress, StudyResult } from '../schemas/study-io.js';
import { enter, mapBounded, recordAndReport } from './common.js';

const short = proxyActivities<Activities>(activityOptions('short'));
const long = proxyActivities<Activities>(activityOptions('long'));

/** Strata run this many at a time (each child runs its own shards in parallel). */
const STRATA_IN_PARALLEL = 2;
/** The PheWAS round tests at most this many of the meta-analysis's lead loci (by p). */
const MAX_PHEWAS_LOCI = 200;

const phewasModel = (spec: StudySpec) =>
  spec.phewas.model === 'cox' ? ('cox' as const) : ('logistic' as const);

export async function runStrata(
  progress: StudyProgress,
  spec: StudySpec,
  run: RunContext,
): Promise<StudyResult> {
  enter(progress, 'planning', 'planStrata');
  const plans = await short.planStrata({ run, spec });
  progress.message = `${plans.length} strata: ${plans.map((p) => p.name).join(', ')}`;
  // (progress only: the strata run whole studies; genotype-first ones start with their burden)
  enter(progress, spec.kind === 'phenotype-first' ? 'gwas' : 'burden', 'strata');
  const children = await mapBounded(plans, STRATA_IN_PARALLEL, (p) =>
    executeChild<(input: unknown) => Promise<StudyResult>>(p.workflowType, {
      workflowId: p.workflowId,
      args: [p.spec],
    }),
  );
  const strata = children.map((r, i) => ({
    name: plans[i].name,
    workflowId: plans[i].workflowId,
    runId: r.runId,
    nSamples: r.analysis.nSamples,
    ...(r.analysis.nCases !== undefined
      ? { nCases: r.analysis.nCases, nControls: r.analysis.nControls }
      : {}),
    lambdaGc: r.gwas?.lambdaGc ?? null,
    nLeadLoci: r.gwas?.leadLoci.length ?? 0,
    skipped: r.skipped ?? null,
  }));
  let meta: StudyResult['meta'];
  const tested = strata.filter((s) => s.skipped === null);
  if (spec.kind === 'phenotype-first' && tested.length >= 2) {
    enter(progress, 'merging', 'exportStrataSumstats');
    const metaSpec = await long.exportStrataSumstats({
      run,
      spec,
      strata: tested.map((s) => ({ name: s.name, runId: s.runId })),
    });
    progress.currentActivity = 'metaAnalysis';
    const m = await executeChild<(input: unknown) => Promise<MetaResult>>('metaAnalysis', {
      workflowId: `${workflowInfo().workflowId}--meta`,
      args: [
        { ...metaSpec, leadLoci: { p: spec.phewas.leadLoci.p, windowKb: spec.phewas.leadLoci.windowKb } },
      ],
    });
    meta = { runId: m.runId, nLeadLoci: m.leadLoci.length, reportPath: m.reportPath ?? null };
    // The PheWAS round: each stratum's PheWAS of the meta-analysis's lead loci (child studies
    // without a GWAS), then the meta-analysis of their PheWAS rows.
    if (m.leadLoci.length > 0 && patched('strata-phewas-meta')) {
      enter(progress, 'phewas', 'planStrata');
      const loci = m.leadLoci
        .slice(0, MAX_PHEWAS_LOCI)
        .map((l) => ({ chrom: l.chrom, pos: l.pos, ref: l.otherAllele, alt: l.effectAllele }));
      const names = new Set(tested.map((s) => s.name));
      const rounds = (await short.planStrata({ run, spec, loci })).filter((p) => names.has(p.name));
      progress.currentActivity = 'strata PheWAS';
      const done = await mapBounded(rounds, STRATA_IN_PARALLEL, (p) =>
        executeChild<(input: unknown) => Promise<StudyResult>>(p.workflowType, {
          workflowId: p.workflowId,
          args: [p.spec],
        }),
      );
      const phewasRuns = rounds.map((p, i) => ({ name: p.name, runId: done[i].runId }));
      for (const s of strata) {
        const r = phewasRuns.find((x) => x.name === s.name);
        if (r) Object.assign(s, { phewasRunId: r.runId });
      }
      progress.currentActivity = 'metaPhewasStrata';
      meta.phewas = await long.metaPhewasStrata({ run, strata: phewasRuns, model: phewasModel(spec) });
    }
  }
  // Genotype-first: every stratum ran the same burden PheWAS; meta-analyse their rows.
  let phewasMeta: NonNullable<StudyResult['meta']>['phewas'];
  if (spec.kind === 'genotype-first' && tested.length >= 2 && patched('strata-phewas-meta')) {
    enter(progress, 'phewas', 'metaPhewasStrata');
    phewasMeta = await long.metaPhewasStrata({
      run,
      strata: tested.map((s) => ({ name: s.name, runId: s.runId })),
      model: phewasModel(spec),
    });
  }
  const nSamples = tested.reduce((a, s) => a + s.nSamples, 0);
  const result: StudyResult = {
    runId: run.runId,
    workflowKind: spec.kind,
    releaseId: run.releaseId,
    releaseFingerprint: run.releaseFingerprint,
    reused: false,
    analysis: {
      trait: children.find((c) => !c.skipped)?.analysis.trait ?? children[0]?.analysis.trait ?? 'none',
      nSamples,
    },
    phewas: [],
    strata,
    ...(meta ? { meta } : {}),
    ...(phewasMeta ? { meta: { runId: run.runId, nLeadLoci: 0, reportPath: null, phewas: phewasMeta } } : {}),
  };
  return recordAndReport(progress, run, spec, result);
}
