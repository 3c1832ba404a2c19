/**
 * The many-predictor Cox PheWAS (a genotype-first study's burden masks against every phecode):
 * one covariates-only null fit per phecode, a score test per predictor, and a full Cox fit only
 * where it matters. Pure, and run inline or on a pooled thread (`threadMain`), as phewas/cox.ts.
 *
 * Per phecode (outcome rules of phewas/cox.ts, built without the predictors):
 *   1. The phecode's persons — those in the model and the prevalent cases — and its risk sets
 *      (`coxRiskSets`, once), then the null fit phecode ~ covariates (`coxNullModel`, once).
 *   2. Per predictor, the efficient score test of β = 0 (`coxScoreTest`; stats/cox.ts: U, V after
 *      the covariates, χ² = U²/V). A `cox_score` row carries the score p, β = U/V, SE = 1/√V,
 *      HR = e^β and the CI e^{β ± 1.96·SE}.
 *   3. A full fit (`fitPrepared`, the single-predictor code, with the null model reused for its
 *      score test) replaces the score row when the score p < `scoreThreshold`, or the score test's
 *      status is not ok (monomorphic, collinear, a failed null fit: the fit then gives the row its
 *      status). A predictor with a missing value among the phecode's persons is fitted by the
 *      single-predictor fitter on the persons with a value (its own outcome, risk sets and null
 *      fit), so its counts and statistics are exactly those of the single-predictor PheWAS.
 * `phewas.firth` applies to the full fits only; the score rows are unpenalised. Phecodes with too
 * few events or censored persons give the single-predictor path's status rows.
 */
import { coxNullModel, coxScoreTest } from '../stats/cox.js';
import {
  type CoxPhecodeFit,
  type CoxPhecodeSets,
  type CoxSettings,
  compactPredictor,
  coxPhecodeFitter,
  fitPrepared,
  preparePhecode,
  scoreRow,
  tooFewRow,
} from './cox.js';
import { throttled } from './progress.js';

export interface CoxManyBatch extends CoxSettings {
  /** one n-vector per predictor (NaN = missing). */
  xs: Float64Array[];
  /** full fit where the score p is below this (1 = always). */
  scoreThreshold: number;
  phecodes: CoxPhecodeSets[];
}

export interface CoxPhecodeRows {
  /** the phecode's position in the activity's list. */
  index: number;
  /** one row per predictor, in `xs` order. */
  fits: CoxPhecodeFit[];
  /** how many of them were full fits. */
  refits: number;
}

/** The samples where x is missing. */
function missingSamples(x: Float64Array): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) out.push(i);
  return Int32Array.from(out);
}

/** Whether one of `missing` is a person the phecode's outcome uses (status ≠ −1: in the model or prevalent). */
function missingAmong(missing: Int32Array, status: Int8Array): boolean {
  for (const i of missing) if (status[i] !== -1) return true;
  return false;
}

/** Score-test every predictor against every phecode of the batch, refitting where needed. */
export function coxScorePhecodes(
  batch: CoxManyBatch,
  progress?: (done: number) => void,
  signal?: AbortSignal,
): CoxPhecodeRows[] {
  const { n, xs } = batch;
  for (const x of xs)
    if (x.length !== n) throw new RangeError(`a predictor has ${x.length} values, expected ${n}`);
  const single = coxPhecodeFitter(batch);
  const missing = xs.map(missingSamples);
  // status per sample from the outcome rules: −1 left out, −2 prevalent, ≥ 0 in the model
  const status = new Int8Array(n);
  const out: CoxPhecodeRows[] = [];
  for (let k = 0; k < batch.phecodes.length; k++) {
    if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    const ph = batch.phecodes[k];
    const prep = preparePhecode(batch, ph, null, status);
    const fits = new Array<CoxPhecodeFit>(xs.length);
    let refits = 0;
    const refit = missing.map((m) => missingAmong(m, status));
    const nullModel =
      prep.rs && refit.some((r) => !r) ? coxNullModel(prep.rs, prep.cov, prep.c, { ties: batch.ties }) : null;
    for (let p = 0; p < xs.length; p++) {
      const x = xs[p];
      if (refit[p]) {
        fits[p] = single(ph, x);
        refits++;
        continue;
      }
      if (!prep.rs || !nullModel) {
        fits[p] = tooFewRow(batch, prep);
        continue;
      }
      const s = coxScoreTest(nullModel, compactPredictor(prep, x));
      if (s.status === 'ok' && s.p >= batch.scoreThreshold) {
        fits[p] = scoreRow(prep, s);
        continue;
      }
      fits[p] = fitPrepared(batch, prep, x, nullModel);
      refits++;
    }
    out.push({ index: ph.index, fits, refits });
    progress?.(k + 1);
  }
  return out;
}

/** Worker-thread side (engine/thread.ts): progress is the number of phecodes done in the batch. */
export async function threadMain(
  batch: CoxManyBatch,
  progress: (done: number) => void,
  signal: AbortSignal,
): Promise<CoxPhecodeRows[]> {
  return coxScorePhecodes(batch, throttled(progress, 10), signal);
}
