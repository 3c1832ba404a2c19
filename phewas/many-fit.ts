/**
 * The CPU part of `runPhewasMany` (activities/phewas.ts): many predictors against every phecode,
 * by a score test against one null fit per phecode and a full fit only where it matters. Pure:
 * typed arrays in, one row per (phecode, predictor) out, so a batch of phecodes can run on a
 * pooled worker thread (engine/thread.ts calls `threadMain`) or inline, with the same numbers.
 *
 * Per phecode (cases, controls and exclusions as in `runPhewas`; sex covariates dropped for a
 * sex-restricted phecode):
 *   1. Null fit, phecode ~ covariates, over the cases and controls (stats/phewas-score.ts),
 *      once per *missingness pattern* of the predictors: a sample whose predictor is missing is
 *      dropped (the full fits' rule), so predictors with different missing samples need their
 *      own null fit to test on exactly the full fit's rows. Burden scores have no missing values
 *      (missing calls count as 0), so a burden PheWAS fits one null model per phecode.
 *   2. For each predictor: the counts, `monomorphic` and separation checks of the full fit (the
 *      predictor's range among cases and among controls), then the score test.
 *   3. A full fit (phewas/fit.ts, the exact `runPhewas` code: Wald, Firth fallback)
 *      replaces the score row when the score p < `scoreThreshold` (the REGENIE / SAIGE practice:
 *      a predictor that separates — no carrier among the cases or the controls — is refitted,
 *      with Firth, only when its score p reaches the threshold), or the score test is
 *      unreliable: V ≈ 0 (collinear with the covariates), the null fit failed, `firth: 'always'`,
 *      or fewer than `minCarriers` carriers (nonzero predictor) among the cases or the controls
 *      (default 0: off; 1 refits every separated row).
 *   Score rows carry test = 'score', the score p, β = U/V and SE = 1/√V (one-step estimates),
 *   OR = e^β and CI e^{β ± 1.96·SE}.
 *   4. SPA (`spa: 'always'`, or `'auto'` when min(cases, controls)/(cases + controls) of the
 *      phecode and missingness group is below `spaCaseFraction`; fit.ts has the rules): the SPA
 *      model is built from the same null fit (stats/phewas-score.ts step 3) and every predictor
 *      gets its SPA result. A row is refitted as in 3, or also when its SPA p < `scoreThreshold`;
 *      a refitted row keeps the fit's β, SE and CI with the SPA p (the SPA result goes to the
 *      fitter, which needs no null fit of its own), and a row that is not refitted carries the
 *      SPA p with β̂ = S/V and SE = |β̂|/z_p (β̂/SE reproduces the SPA p). A refitted row says
 *      test = 'spa_wald' or 'spa_firth' (which fit gave β and SE), a score-based one 'spa'.
 *      An SPA status (`collinear`) ends the row without a fit; without an SPA model (null fit
 *      failed) the rows are those of 1–3.
 */

import { Z_975 } from '../stats/distributions.js';
import { spaApplies } from '../stats/logistic.js';
import {
  type PhewasSpa,
  phewasSpa,
  type ScoreNullModel,
  type SpaPredictor,
  scoreNullModel,
  scoreTest,
  spaPredictor,
  spaTestPredictor,
} from '../stats/phewas-score.js';
import { newSpaResult, type SpaResult } from '../stats/spa.js';
import {
  assertNoOffsets,
  emptyFit,
  type FitSettings,
  keptCovariates,
  monomorphic,
  type PhecodeFit,
  type PhecodeSets,
  phecodeFitter,
  spaRow,
  spaStatus,
  tooFew,
} from './fit.js';
import { throttled } from './progress.js';

export interface ManyBatch extends FitSettings {
  /** one n-vector per predictor (NaN = missing). */
  xs: Float64Array[];
  /** full fit where the score p is below this (1 = always). */
  scoreThreshold: number;
  /** full fit when the cases or the controls have fewer carriers (x ≠ 0) than this. */
  minCarriers: number;
  phecodes: PhecodeSets[];
}

export interface PhecodeRows {
  /** the phecode's position in the activity's list. */
  index: number;
  /** one row per predictor, in `xs` order. */
  fits: PhecodeFit[];
  /** how many of them were refitted (Wald / Firth). */
  refits: number;
}

interface Sparse {
  idx: Int32Array;
  val: Float64Array;
}

/** Nonzero, non-missing entries of x. */
function sparse(x: Float64Array): Sparse {
  let k = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0 && !Number.isNaN(x[i])) k++;
  const idx = new Int32Array(k);
  const val = new Float64Array(k);
  k = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v !== 0 && !Number.isNaN(v)) {
      idx[k] = i;
      val[k++] = v;
    }
  }
  return { idx, val };
}

/** Predictors grouped by their set of missing samples (null: none missing). */
function groupByMissing(xs: Float64Array[]): { missing: Uint8Array | null; members: number[] }[] {
  const groups = new Map<string, { missing: Uint8Array | null; members: number[] }>();
  xs.forEach((x, k) => {
    const miss: number[] = [];
    for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) miss.push(i);
    const key = miss.join(',');
    let g = groups.get(key);
    if (!g) {
      let missing: Uint8Array | null = null;
      if (miss.length > 0) {
        missing = new Uint8Array(x.length);
        for (const i of miss) missing[i] = 1;
      }
      g = { missing, members: [] };
      groups.set(key, g);
    }
    g.members.push(k);
  });
  return [...groups.values()];
}

/** Score-test every predictor against every phecode of the batch, refitting where needed. */
export function scorePhecodes(
  batch: ManyBatch,
  progress?: (done: number) => void,
  signal?: AbortSignal,
): PhecodeRows[] {
  assertNoOffsets(batch.phecodes);
  const { n, xs, cov, firth } = batch;
  const preds = xs.map(sparse);
  const spaSettings = { spa: batch.spa ?? 'never', spaCaseFraction: batch.spaCaseFraction ?? 0.2 };
  // the SPA coding of each predictor (stats/phewas-score.ts), built on first use
  const coded: (SpaPredictor | null)[] = xs.map(() => null);
  const spaOut = newSpaResult();
  const groups = groupByMissing(xs);
  const refit = phecodeFitter(batch);
  const status = new Int8Array(n); // 1 case, 0 control, -1 excluded
  let y = new Float64Array(0);
  let z = new Float64Array(0);
  let rows = new Int32Array(0);
  let model: ScoreNullModel | undefined;
  const work = new Float64Array(batch.nCov + 1);
  const out: PhecodeRows[] = [];
  for (let k = 0; k < batch.phecodes.length; k++) {
    if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    const ph = batch.phecodes[k];
    status.fill(0);
    for (const i of ph.cases) status[i] = 1;
    for (const i of ph.excluded) status[i] = -1;
    const fits = new Array<PhecodeFit>(xs.length);
    let refits = 0;
    for (const g of groups) {
      let nCases = 0;
      let nControls = 0;
      for (let i = 0; i < n; i++) {
        if (g.missing?.[i]) continue;
        if (status[i] === 1) nCases++;
        else if (status[i] === 0) nControls++;
      }
      if (nCases < batch.minCases || nControls < batch.minControls) {
        for (const p of g.members) {
          const row = emptyFit(ph.index, nCases, nControls, n);
          fits[p] =
            nCases < batch.minCases
              ? tooFew(row, 'cases', batch.minCases)
              : tooFew(row, 'controls', batch.minControls);
        }
        continue;
      }
      // null model over this group's cases and controls
      let nullOk = false;
      const useSpa = spaApplies(spaSettings, nCases, nCases + nControls);
      let spaCtx: PhewasSpa | null = null;
      if (firth !== 'always') {
        const used = nCases + nControls;
        const covIdx = keptCovariates(batch, ph);
        const q = 1 + covIdx.length;
        if (y.length < used) {
          y = new Float64Array(used);
          rows = new Int32Array(used);
        }
        if (z.length < used * q) z = new Float64Array(used * q);
        const Y = y.subarray(0, used);
        const Z = z.subarray(0, used * q);
        const R = rows.subarray(0, used);
        let r = 0;
        for (let i = 0; i < n; i++) {
          const st = status[i];
          if (st < 0 || g.missing?.[i]) continue;
          Y[r] = st;
          Z[r] = 1;
          for (let t = 0; t < covIdx.length; t++) Z[(1 + t) * used + r] = cov[covIdx[t] * n + i];
          R[r] = i;
          r++;
        }
        const init = new Float64Array(q);
        init[0] = Math.log(nCases / nControls);
        model = scoreNullModel(Y, Z, q, R, n, { init, reuse: model });
        nullOk = model.status === 'ok';
        if (useSpa) spaCtx = phewasSpa(model, Y, Z, R);
      }
      for (const p of g.members) {
        const { idx, val } = preds[p];
        // carriers and the predictor's range among cases (1) and controls (0), as the full fit
        const nCar = [0, 0];
        const lo = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
        const hi = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
        for (let t = 0; t < idx.length; t++) {
          const st = status[idx[t]];
          if (st < 0) continue;
          const v = val[t];
          nCar[st]++;
          if (v < lo[st]) lo[st] = v;
          if (v > hi[st]) hi[st] = v;
        }
        const nBy = [nControls, nCases];
        for (const s of [0, 1]) {
          if (nCar[s] < nBy[s]) {
            lo[s] = Math.min(lo[s], 0);
            hi[s] = Math.max(hi[s], 0);
          }
        }
        if (Math.min(lo[0], lo[1]) === Math.max(hi[0], hi[1])) {
          fits[p] = monomorphic(emptyFit(ph.index, nCases, nControls, n));
          continue;
        }
        // SPA result (undefined: SPA does not apply, or the fitter computes it itself when
        // firth = 'always' leaves no null fit here; null: no SPA model for this phecode)
        let spa: SpaResult | null | undefined;
        if (useSpa && firth !== 'always') {
          spa = null;
          if (spaCtx) {
            coded[p] ??= spaPredictor(xs[p]);
            spa = spaTestPredictor(spaCtx, coded[p], spaOut);
            if (spa && spa.status !== 'ok') {
              fits[p] = spaStatus(emptyFit(ph.index, nCases, nControls, n), spa.status);
              continue;
            }
          }
        }
        let row: PhecodeFit | null = null;
        // Separation by the predictor (no carrier on one side) does not force a refit by itself:
        // as in REGENIE and SAIGE, the score test decides, and a row whose score p reaches the
        // threshold is refitted (Firth, since it separates). `minCarriers` > 0 refits sparse rows too.
        if (nullOk && model && nCar[0] >= batch.minCarriers && nCar[1] >= batch.minCarriers) {
          const s = scoreTest(model, idx, val, work);
          if (s.reliable && s.p >= batch.scoreThreshold && !(spa && spa.p < batch.scoreThreshold)) {
            row = emptyFit(ph.index, nCases, nControls, n);
            if (spa) {
              fits[p] = spaRow(row, spa);
              continue;
            }
            row.test = 'score';
            row.beta = s.beta;
            row.se = s.se;
            row.odds_ratio = Math.exp(s.beta);
            row.ci_low = Math.exp(s.beta - Z_975 * s.se);
            row.ci_high = Math.exp(s.beta + Z_975 * s.se);
            row.p = s.p;
            row.neg_log10_p = s.mlog10p;
          }
        }
        if (!row) {
          row = refit(ph, xs[p], spa);
          refits++;
        }
        fits[p] = row;
      }
    }
    out.push({ index: ph.index, fits, refits });
    progress?.(k + 1);
  }
  return out;
}

/** Worker-thread side (engine/thread.ts): progress is the number of phecodes done in the batch. */
export async function threadMain(
  batch: ManyBatch,
  progress: (done: number) => void,
  signal: AbortSignal,
): Promise<PhecodeRows[]> {
  return scorePhecodes(batch, throttled(progress, 10), signal);
}
