/**
 * `phenotypeFirstStudy`: the phenotype-first protocol.
 *
 *   1. validate the spec                      (here, deterministic; bad spec = non-retryable failure)
 *   2. resolve the release and the run id     (prepareRun; a completed run is returned as is)
 *   3. cohort, phenotype, covariates          (materializeAnalysis)
 *   4. GWAS over the genome in shards         (relatedness 'loco': planStep1, runStep1Level0 × blocks,
 *                                              runStep1Level1 — skipped when cached; then
 *                                              planGwasShards, runGwasShard × N, bounded)
 *   5. merge, QC totals, λGC and lead loci    (mergeGwas)
 *   6. PheWAS of each lead locus              (materializePhewasPopulation, buildRunPhenome,
 *                                              [loco: materializePhewasStep1Traits, step 1 over
 *                                              the phecodes], runPhewas × loci) — over the cohort
 *                                              by default (`phewas.population`); `phewas.model:
 *                                              'cox'`: buildRunTimeline, runPhewasCox × loci
 *   7. record the run and write its report      (recordRun, writeReport)
 *
 * A stratum's PheWAS round (`stratumOf.loci`, set by a stratified study) skips 4–5: resolveLoci
 * finds the given loci in the release, then step 6 runs on them.
 *
 * Cancelling the workflow cancels running activities (they heartbeat), then removes the
 * run's partial outputs and records the run as cancelled. A failed run is recorded as failed
 * and keeps its finished shards, so a re-run after the cause is fixed resumes from them.
 */
import { ContinueAsNew, continueAsNew, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { activityOptions } from '../schemas/presets.js';
import { variantId } from '../schemas/results.js';
import type { PhenotypeFirstSpec } from '../schemas/study.js';
import type {
  AnalysisTable,
  GwasShardResult,
  LeadLocus,
  PhewasResult,
  RunContext,
  StudyProgress,
  StudyResult,
} from '../schemas/study-io.js';
import { beginStudy, discardAndRethrow, enter, mapBounded, recordAndReport, studyResult } from './common.js';
import { runStrata } from './strata.js';

const short = proxyActivities<Activities>(activityOptions('short'));
const long = proxyActivities<Activities>(activityOptions('long'));

// --- Types ---
/**
 * State carried across continue-as-new: the shards already finished, as ids (histories from
 * before the patch 'bounded-history') or as the number of leading shards of the plan's order
 * (a run continues as new only once its in-flight shards finished, so those are a prefix).
 */
export interface PhenotypeFirstState {
  doneShards?: string[];
  donePrefix?: number;
  /**
   * LOCO shards were planned across chromosome ends (patch 'loco-spanning-shards'); absent when
   * an older run continued as new with one chromosome per shard, so its prefix keeps meaning.
   */
  locoSpanning?: boolean;
}

/**
 * History events after which a study continues as new, whatever the server suggests: about
 * 6 events per shard, so ≈ 1,600 shards a run, far below Temporal's default limit of 51,200
 * (and the server's own `continueAsNewSuggested` ends a run earlier where limits are lower).
 */
export const MAX_HISTORY_EVENTS = 10_000;

// --- Workflow ---
export async function phenotypeFirstStudy(input: unknown, state?: PhenotypeFirstState): Promise<StudyResult> {
  const { progress, spec, run, completed } = await beginStudy<PhenotypeFirstSpec>(input, 'phenotype-first');
  if (completed) return completed;
  // A stratified study: its strata as child studies, then their meta-analysis (workflows/strata.ts).
  if (spec.strata) {
    try {
      return await runStrata(progress, spec, run);
    } catch (err) {
      return discardAndRethrow(progress, run, err);
    }
  }

  try {
    enter(progress, 'phenotyping', 'materializeAnalysis');
    const analysis = await long.materializeAnalysis({ run, spec });
    // A stratum of a stratified study with a binary trait below the strata's case minimum is
    // skipped (recorded with its counts, no GWAS): the All of Us all-by-all rule.
    const few =
      spec.stratumOf && analysis.trait === 'binary' && (analysis.nCases ?? 0) < spec.stratumOf.minCases;
    if (spec.stratumOf && few) {
      const skipped = `${analysis.nCases ?? 0} cases, fewer than ${spec.stratumOf.minCases}: stratum skipped`;
      progress.message = skipped;
      return await recordAndReport(progress, run, spec, {
        ...studyResult(run, 'phenotype-first', analysis, { phewas: [] }),
        skipped,
      });
    }

    // The PheWAS round of a stratified study: no GWAS, the PheWAS of the strata meta-analysis's
    // lead loci in this stratum (workflows/strata.ts). Branches on the input only.
    if (spec.stratumOf?.loci) {
      const loci = await short.resolveLoci({ run, loci: spec.stratumOf.loci });
      const phewas = await phewasOfLoci(progress, run, spec, analysis, loci);
      return await recordAndReport(
        progress,
        run,
        spec,
        studyResult(run, 'phenotype-first', analysis, { phewas }),
      );
    }

    // relatedness 'loco': step 1 (whole-genome ridge regression, cached per release, analysis
    // table and settings), then every shard tests with its chromosome's LOCO offset.
    let step1: {
      dir: string;
      key: string;
      nVariants: number;
      nBlocks: number;
      cached: boolean;
      statuses: string[];
      level0?: 'blocks' | 'genome';
    } | null = null;
    if (spec.gwas.relatedness === 'loco') {
      enter(progress, 'gwas', 'planStep1');
      const plan = await long.planStep1({ run, analysis, gwas: spec.gwas });
      if (!plan.done) {
        progress.currentActivity = 'runStep1Level0';
        await mapBounded(plan.tasks, spec.gwas.maxParallelShards, (t) =>
          long.runStep1Level0({ run, analysis, dir: plan.dir, from: t.from, to: t.to }),
        );
      }
      // Level 1 (a cached step 1 returns its summary at once).
      progress.currentActivity = 'runStep1Level1';
      const summary = await long.runStep1Level1({ run, analysis, dir: plan.dir });
      const { dir, key, nVariants, nBlocks } = plan;
      const statuses = summary.traits.map((t) => t.status);
      step1 = { dir, key, nVariants, nBlocks, cached: plan.done, statuses };
      // (a summary recorded before the whole-genome level 0 has no level0: blocks)
      if (summary.level0) step1.level0 = summary.level0;
    }

    // Before 'loco-spanning-shards', LOCO shards held one chromosome each (one offset per
    // shard); now a shard switches offsets at chromosome ends and the plan is the plain one's.
    const locoSpanning =
      step1 !== null && (state ? state.locoSpanning === true : patched('loco-spanning-shards'));
    enter(progress, 'gwas', 'planGwasShards');
    const shards = await short.planGwasShards({
      run,
      chromosomes: spec.gwas.chromosomes ?? null,
      shardVariants: spec.gwas.shardVariants,
      ...(step1 && !locoSpanning ? { splitChromosomes: true } : {}),
    });
    progress.shardsTotal = shards.length;
    const done = new Set(state?.doneShards ?? []);
    for (const s of shards.slice(0, state?.donePrefix ?? 0)) done.add(s.shardId);
    progress.shardsDone = done.size;
    progress.currentActivity = 'runGwasShard';
    const todo = shards.filter((s) => !done.has(s.shardId));
    // Keep each run's history bounded at any shard count (issue 18 §4): stop starting shards
    // when the server suggests continue-as-new or the history is long, let in-flight ones end,
    // then continue as new carrying only how many leading shards are done.
    // Each run starts at least one shard before it may stop, so a run whose history is already
    // long after its prologue (or a server that suggests continue-as-new early) still makes
    // progress instead of continuing as new forever.
    const bounded = patched('bounded-history');
    const progressFirst = bounded && patched('progress-before-continue');
    let startedHere = 0;
    const historyFull = () =>
      bounded &&
      (!progressFirst || startedHere > 0) &&
      (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY_EVENTS);
    await mapBounded(
      todo,
      spec.gwas.maxParallelShards,
      async (shard): Promise<GwasShardResult> => {
        startedHere++;
        const r = await long.runGwasShard({
          run,
          shard,
          analysis,
          gwas: spec.gwas,
          ...(step1 ? { loco: { dir: step1.dir } } : {}),
        });
        done.add(shard.shardId);
        progress.shardsDone = done.size;
        return r;
      },
      historyFull,
    );
    if (bounded && done.size < shards.length) {
      const prefix = shards.findIndex((s) => !done.has(s.shardId));
      await continueAsNew<typeof phenotypeFirstStudy>(input, {
        donePrefix: prefix,
        ...(locoSpanning ? { locoSpanning } : {}),
      });
    }
    if (workflowInfo().continueAsNewSuggested && !bounded) {
      // Before 'bounded-history': shard outputs are on disk under deterministic names; carry their ids.
      await continueAsNew<typeof phenotypeFirstStudy>(input, { doneShards: [...done] });
    }

    enter(progress, 'merging', 'mergeGwas');
    const merged = await long.mergeGwas({
      run,
      nShards: shards.length,
      leadLoci: spec.phewas.leadLoci,
      ...(analysis.traits ? { traits: analysis.traits } : {}),
      // Runs started before LD clumping keep distance clumping to the end.
      ...(patched('ld-clump-lead-loci') ? { analysis } : {}),
    });
    const gwas = step1
      ? {
          ...merged,
          step1: {
            key: step1.key,
            nVariants: step1.nVariants,
            nBlocks: step1.nBlocks,
            cached: step1.cached,
            ...(step1.level0 ? { level0: step1.level0 } : {}),
          },
        }
      : merged;

    const phewas = await phewasOfLoci(progress, run, spec, analysis, gwas.leadLoci);

    return await recordAndReport(
      progress,
      run,
      spec,
      studyResult(run, 'phenotype-first', analysis, { gwas, phewas }),
    );
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    return discardAndRethrow(progress, run, err);
  }
}

/**
 * The PheWAS of lead loci (step 6): over the cohort by default (`phewas.population`), LOCO
 * offsets where asked, logistic or Cox. Also the whole of a stratum's PheWAS round.
 */
async function phewasOfLoci(
  progress: StudyProgress,
  run: RunContext,
  spec: PhenotypeFirstSpec,
  analysis: AnalysisTable,
  leadLoci: LeadLocus[],
): Promise<PhewasResult[]> {
  enter(progress, 'phewas', 'buildRunPhenome');
  if (leadLoci.length === 0) return [];
  // The PheWAS population: the cohort (persons with genotypes and covariates, the trait
  // possibly missing) unless the spec asks for the GWAS sample. Runs started before this
  // patch keep the GWAS sample. The phenome is built over the same persons.
  const populationPatch = patched('phewas-cohort-population');
  const kind = populationPatch ? spec.phewas.population : 'gwas-sample';
  const population = kind === 'cohort' ? await long.materializePhewasPopulation({ run, spec }) : analysis;
  const populationOf = populationPatch ? { kind, nSamples: population.nSamples } : undefined;
  const phenome = await long.buildRunPhenome({ run, analysis: population, phewas: spec.phewas });
  // relatedness 'loco' (phewas.relatedness, default gwas.relatedness): one step 1 over the
  // population's testable phecodes (they share its level-0 Gram matrices), then each
  // phecode's LOCO prediction of the lead variant's chromosome is an offset in its fits.
  let phewasLoco: { dir: string; traitsPath: string } | null = null;
  // (Cox PheWAS: no LOCO offsets; an explicit phewas.relatedness 'loco' is refused by the spec.)
  if ((spec.phewas.relatedness ?? spec.gwas.relatedness) === 'loco' && spec.phewas.model !== 'cox') {
    progress.currentActivity = 'materializePhewasStep1Traits';
    const traits = await long.materializePhewasStep1Traits({
      run,
      analysis: population,
      phenome,
      phewas: spec.phewas,
    });
    if (traits.K > 0) {
      const plan = await long.planStep1({ run, analysis: population, gwas: spec.gwas, traits });
      if (!plan.done) {
        progress.currentActivity = 'runStep1Level0';
        await mapBounded(plan.tasks, spec.gwas.maxParallelShards, (t) =>
          long.runStep1Level0({
            run,
            analysis: population,
            dir: plan.dir,
            traits,
            from: t.from,
            to: t.to,
          }),
        );
      }
      progress.currentActivity = 'runStep1Level1';
      await long.runStep1Level1({ run, analysis: population, dir: plan.dir, traits });
      phewasLoco = { dir: plan.dir, traitsPath: traits.path };
    }
  }
  // model 'cox': the phenome's timeline (entry, exit, onsets) once, then a Cox fit per phecode.
  const timeline =
    spec.phewas.model === 'cox' ? await long.buildRunTimeline({ run, phenome, phewas: spec.phewas }) : null;
  progress.phewasTotal = leadLoci.length;
  progress.currentActivity = timeline ? 'runPhewasCox' : 'runPhewas';
  const results = await mapBounded(leadLoci, 2, async (locus) => {
    const predictor = {
      type: 'variant' as const,
      id: variantId(locus),
      variantIdx: locus.variantIdx,
      chrom: locus.chrom,
      pos: locus.pos,
      ref: locus.ref,
      alt: locus.alt,
    };
    const r = timeline
      ? await long.runPhewasCox({
          run,
          analysis: population,
          phenome,
          timeline,
          phewas: spec.phewas,
          predictor,
        })
      : await long.runPhewas({
          run,
          analysis: population,
          phenome,
          phewas: spec.phewas,
          predictor,
          ...(phewasLoco ? { loco: phewasLoco } : {}),
        });
    progress.phewasDone++;
    return populationOf ? { ...r, population: populationOf } : r;
  });
  return results;
}
