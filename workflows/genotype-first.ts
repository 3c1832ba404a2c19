/**
 * `genotypeFirstStudy`: the genotype-first protocol.
 *
 *   1. validate the spec                          (here, deterministic)
 *   2. resolve the release and the run id          (prepareRun)
 *   3. cohort and covariates                       (materializeAnalysis)
 *   4. burden masks and per-person burden scores   (buildBurden)
 *   5. burden tests against the spec's traits      (runBurdenTests)
 *   6. burden PheWAS across the phenome            (buildRunPhenome, then runPhewasMany: one
 *      null fit per phecode, a score test per mask, full fits where p < scoreThreshold;
 *      histories from before the patch 'phewas-many-predictors' replay runPhewas × mask;
 *      `phewas.model: 'cox'`: buildRunTimeline, then runPhewasCoxMany, the same with Cox)
 *   7. record the run and write its report           (recordRun, writeReport)
 */
import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { activityOptions } from '../schemas/presets.js';
import type { GenotypeFirstSpec } from '../schemas/study.js';
import type { PhewasResult, StudyResult } from '../schemas/study-io.js';
import { beginStudy, discardAndRethrow, enter, mapBounded, recordAndReport, studyResult } from './common.js';
import { runStrata } from './strata.js';

const _short = proxyActivities<Activities>(activityOptions('short'));
const long = proxyActivities<Activities>(activityOptions('long'));

// --- Workflow ---
export async function genotypeFirstStudy(input: unknown): Promise<StudyResult> {
  const { progress, spec, run, completed } = await beginStudy<GenotypeFirstSpec>(input, 'genotype-first');
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

    enter(progress, 'masks', 'buildBurden');
    const burden = await long.buildBurden({ run, spec, analysis });

    if (spec.traits.length > 0) {
      enter(progress, 'burden', 'runBurdenTests');
      await long.runBurdenTests({ run, spec, analysis, burden });
    }

    enter(progress, 'phewas', 'buildRunPhenome');
    const tested = burden.masks.filter((m) => m.nCarriers > 0);
    const phenome = await long.buildRunPhenome({ run, analysis, phewas: spec.phewas });
    progress.phewasTotal = tested.length;
    const predictors = tested.map((mask) => ({
      type: 'burden' as const,
      id: mask.column,
      path: burden.scoresPath,
      column: mask.column,
    }));
    let phewas: PhewasResult[];
    if (predictors.length > 0 && spec.phewas.model === 'cox') {
      // Time to event: the phenome's timeline (entry, exit, onsets), then one Cox null fit per
      // phecode and a score test per mask, full fits where p < scoreThreshold (phewas/cox.ts).
      progress.currentActivity = 'buildRunTimeline';
      const timeline = await long.buildRunTimeline({ run, phenome, phewas: spec.phewas });
      progress.currentActivity = 'runPhewasCoxMany';
      phewas = await long.runPhewasCoxMany({
        run,
        analysis,
        phenome,
        timeline,
        phewas: spec.phewas,
        predictors,
      });
      progress.phewasDone = phewas.length;
    } else if (predictors.length > 0 && patched('phewas-many-predictors')) {
      // Every mask in one activity: one null fit per phecode, a score test per mask.
      progress.currentActivity = 'runPhewasMany';
      phewas = await long.runPhewasMany({ run, analysis, phenome, phewas: spec.phewas, predictors });
      progress.phewasDone = phewas.length;
    } else {
      progress.currentActivity = 'runPhewas';
      phewas = await mapBounded(predictors, 2, async (predictor) => {
        const r = await long.runPhewas({ run, analysis, phenome, phewas: spec.phewas, predictor });
        progress.phewasDone++;
        return r;
      });
    }

    return await recordAndReport(
      progress,
      run,
      spec,
      studyResult(run, 'genotype-first', analysis, { burden, phewas }),
    );
  } catch (err) {
    return discardAndRethrow(progress, run, err);
  }
}
