/**
 * The CPU part of `runPhewas` (activities/phewas.ts): for each phecode, the case / control
 * rows, the design [1, predictor, covariates] and the logistic fit (model and rules in
 * phewas.ts). Pure: typed arrays in, one result per phecode out, so a batch of phecodes can run
 * on a pooled worker thread (engine/thread.ts calls `threadMain`) or inline; either way the
 * numbers are the same.
 *
 * Input per phecode: its cases and excluded persons as sorted analysis-sample indexes (from the
 * phenome's bit strings). Scratch arrays (status, design, y) are allocated once per batch at the
 * largest size and reused across phecodes.
 *
 * Saddlepoint p-values (`spa: 'always'`, or `'auto'` when min(cases, controls)/(cases + controls)
 * of the phecode is below `spaCaseFraction`; `'never'` when unset, the study spec's default is
 * `'auto'`), as the GWAS does (stats/logistic.ts, step 5; Dey et al. 2017):
 *   - the null model phecode ~ covariates is fitted over the phecode's rows (the same cases and
 *     controls, with a predictor value, as the full fit; started, as the full fit, at the
 *     intercept-only estimate; stats/phewas-score.ts `scoreNullModel`, as many-fit.ts) and the
 *     predictor's covariate-adjusted score S, V gets its SPA p (stats/phewas-score.ts step 3:
 *     the normal p while |S|/√V < 2, else the saddlepoint with the fast split; minor-"allele"
 *     coding of dosages);
 *   - the Wald / Firth fit runs as without SPA; its β, SE, OR and 95 % CI are kept and p (and
 *     −log10 p) become the SPA ones; the row's test is `spa_wald` (ML fit) or `spa_firth` (Firth
 *     fit), naming where β and SE come from;
 *   - a fit that separates or does not converge (Firth off, or failing too) gives way to the
 *     score-based estimates β̂ = S/V, SE = |β̂|/z_p with z_p = Φ̄⁻¹(p/2) (so β̂/SE reproduces the SPA
 *     p), OR = e^β̂ and CI e^{β̂ ± 1.96·SE}; test `spa` (no fit's β/SE), status `ok`;
 *   - the SPA test's own statuses end the row without a fit: `collinear` (the predictor is a
 *     combination of the covariates over the phecode's rows, V ≤ 1e-8·Σwx²);
 *   - without an SPA null model (the null fit failed or a covariate separates the phecode,
 *     covariates collinear: stats/phewas-score.ts `phewasSpa`) the row keeps the fit's p and
 *     test (`wald` / `firth`).
 * The null fit is one more logistic fit per SPA phecode. The many-predictor path (many-fit.ts)
 * has the null fit already and passes its SPA result to the fitter instead (third argument), so
 * both paths give the same SPA rows.
 *
 * LOCO offset (`PhecodeSets.offset`, `gwas.relatedness: "loco"`): the phecode's leave-one-
 * chromosome-out polygenic prediction for the lead variant's chromosome (REGENIE step 1,
 * gwas/step1.ts), on the logit scale, enters every fit of the phecode as a fixed offset o_i, as
 * in REGENIE step 2 (Mbatchou et al. 2021, Nat Genet 53:1097–1103):
 * logit P(y_i = 1) = o_i + β₀ + x_i β + z_iᵀγ. The SPA null model (η = o + Zγ; the SPA uses its
 * fitted μ), the Wald fit and the Firth fit / fallback all use it, over the same rows (o is
 * subset with the cases and controls). The intercept-only start logit(cases / controls) stays a
 * start value only. Without an offset the fits are those of today, bit for bit. Offsets are
 * supported in the single-predictor PheWAS only: `assertNoOffsets` (for many-fit.ts) and a
 * fitter given a caller's SPA result throw on a phecode with one. A wrong length or a
 * non-finite offset value among the phecode's rows is an error.
 */

import type { PhecodeFit as PhecodeFitRow } from '../schemas/layouts.js';
import { Z_975 } from '../stats/distributions.js';
import { type SpaMode, spaApplies } from '../stats/logistic.js';
import {
  type FirthMode,
  firthFit,
  type LogisticFit,
  logisticFitWithFallback,
} from '../stats/logistic-fit.js';
import {
  phewasSpa,
  type ScoreNullModel,
  scoreNullModel,
  spaPredictor,
  spaTestPredictor,
} from '../stats/phewas-score.js';
import { newSpaResult, type SpaResult } from '../stats/spa.js';
import type { Status } from '../stats/status.js';
import { throttled } from './progress.js';

export interface PhecodeSets {
  /** position of the phecode in the activity's list (results are returned in input order). */
  index: number;
  /** 'M' | 'F' for a sex-restricted phecode (its sex covariates are dropped), else null. */
  sex: string | null;
  /** analysis-sample indexes of the cases and of the excluded persons. */
  cases: Int32Array;
  excluded: Int32Array;
  /**
   * The phecode's LOCO offset (module comment), logit scale, one value per analysis sample
   * (length n, the batch's sample order); absent or null: no offset.
   */
  offset?: Float64Array | null;
}

export interface PhewasBatch {
  /** analysis samples */
  n: number;
  /** predictor per sample (NaN = missing: the sample is dropped for every phecode). */
  x: Float64Array;
  /** covariates, column-major n × nCov. */
  cov: Float64Array;
  nCov: number;
  /** covariate columns that encode sex (dropped for sex-restricted phecodes). */
  sexCols: number[];
  minCases: number;
  minControls: number;
  firth: FirthMode;
  /** SPA p-values (module comment): 'always', 'auto' or 'never' (the default when unset). */
  spa?: SpaMode;
  /** `spa: 'auto'` threshold on min(cases, controls)/(cases + controls) (default 0.2). */
  spaCaseFraction?: number;
  phecodes: PhecodeSets[];
}

/**
 * One phecode's fit: the PheWAS row's statistics (schemas/layouts.ts), whose test may also be
 * `spa`, `spa_wald` or `spa_firth` (the results contract's ASSOCIATION_TESTS allow them).
 */
export type PhecodeFit = Omit<PhecodeFitRow, 'test'> & { test: PhecodeFitRow['test'] | 'spa' };

/** The model settings of a PheWAS fit (everything in a batch but the phecodes). */
export type FitSettings = Omit<PhewasBatch, 'phecodes' | 'x'>;

/**
 * Fits phecode `ph` for predictor `x` (NaN = missing: the sample is dropped). `spa`: the SPA
 * result of x against this phecode's null model when the caller has it (many-fit.ts), null when
 * the caller found no SPA null model, undefined to let the fitter compute it where SPA applies.
 */
export type PhecodeFitter = (ph: PhecodeSets, x: Float64Array, spa?: SpaResult | null) => PhecodeFit;

/** Throws when a phecode carries an offset: the many-predictor path (many-fit.ts) has none. */
export function assertNoOffsets(phecodes: readonly PhecodeSets[]): void {
  for (const ph of phecodes)
    if (ph.offset)
      throw new Error(
        `phecode ${ph.index}: LOCO offsets are supported in the single-predictor PheWAS only, not the many-predictor one`,
      );
}

/**
 * A fitter for one phecode at a time with scratch arrays (status, design, y, null design) kept
 * across calls.
 */
export function phecodeFitter(settings: FitSettings): PhecodeFitter {
  const { n, cov } = settings;
  const spaSettings = { spa: settings.spa ?? 'never', spaCaseFraction: settings.spaCaseFraction ?? 0.2 };
  const status = new Int8Array(n); // 1 case, 0 control, -1 excluded or no predictor
  let design = new Float64Array(0);
  let y = new Float64Array(0);
  let rows = new Int32Array(0);
  let offs = new Float64Array(0);
  let nullDesign = new Float64Array(0);
  let nullModel: ScoreNullModel | undefined;
  const spaOut = newSpaResult();
  return (ph, x, given) => {
    const offset = ph.offset ?? null;
    if (offset) {
      if (offset.length !== n)
        throw new RangeError(`phecode ${ph.index}: offset has ${offset.length} values, expected n = ${n}`);
      if (given !== undefined)
        throw new Error(
          `phecode ${ph.index}: LOCO offsets are supported in the single-predictor PheWAS only, not the many-predictor one`,
        );
    }
    for (let i = 0; i < n; i++) status[i] = Number.isNaN(x[i]) ? -1 : 0;
    // excluded overrides case, as in the phenome's rules (the two sets are disjoint there)
    for (const i of ph.cases) if (status[i] === 0) status[i] = 1;
    for (const i of ph.excluded) status[i] = -1;
    let nCases = 0;
    let nControls = 0;
    for (let i = 0; i < n; i++) {
      if (status[i] === 1) nCases++;
      else if (status[i] === 0) nControls++;
    }
    const row = emptyFit(ph.index, nCases, nControls, n);
    if (nCases < settings.minCases) return tooFew(row, 'cases', settings.minCases);
    if (nControls < settings.minControls) return tooFew(row, 'controls', settings.minControls);
    const used = nCases + nControls;
    const covIdx = keptCovariates(settings, ph);
    const pcols = 2 + covIdx.length;
    if (design.length < used * pcols) design = new Float64Array(used * pcols);
    if (y.length < used) {
      y = new Float64Array(used);
      rows = new Int32Array(used);
    }
    if (offset && offs.length < used) offs = new Float64Array(used);
    const X = design.subarray(0, used * pcols);
    const Y = y.subarray(0, used);
    const R = rows.subarray(0, used);
    // the offset over the rows used (O[r] = offset[R[r]]), undefined without one
    const O = offset ? offs.subarray(0, used) : undefined;
    let r = 0;
    // predictor range among cases (1) and controls (0)
    const lo = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    const hi = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (let i = 0; i < n; i++) {
      const st = status[i];
      if (st < 0) continue;
      const xi = x[i];
      Y[r] = st;
      R[r] = i;
      if (O) {
        const o = (offset as Float64Array)[i];
        if (!Number.isFinite(o))
          throw new RangeError(`phecode ${ph.index}: offset is not finite at sample ${i}`);
        O[r] = o;
      }
      X[r] = 1;
      X[used + r] = xi;
      if (xi < lo[st]) lo[st] = xi;
      if (xi > hi[st]) hi[st] = xi;
      for (let t = 0; t < covIdx.length; t++) X[(2 + t) * used + r] = cov[covIdx[t] * n + i];
      r++;
    }
    if (Math.min(lo[0], lo[1]) === Math.max(hi[0], hi[1])) return monomorphic(row);
    let spa: SpaResult | null = null;
    if (spaApplies(spaSettings, nCases, used)) {
      if (given !== undefined) spa = given;
      else {
        // the null design [1, covariates]: X without the predictor's column
        const q = pcols - 1;
        if (nullDesign.length < used * q) nullDesign = new Float64Array(used * q);
        const Z = nullDesign.subarray(0, used * q);
        Z.set(X.subarray(0, used));
        Z.set(X.subarray(2 * used, pcols * used), used);
        const init = new Float64Array(q);
        init[0] = Math.log(nCases / nControls);
        nullModel = scoreNullModel(Y, Z, q, R, n, { init, reuse: nullModel, offset: O });
        const ctx = phewasSpa(nullModel, Y, Z, R);
        if (ctx) spa = spaTestPredictor(ctx, spaPredictor(x), spaOut);
      }
      if (spa && spa.status !== 'ok') return spaStatus(row, spa.status);
    }
    // The predictor alone separates cases from controls (e.g. no carrier among the cases):
    // quasi-complete separation, so the ML fit cannot converge (β → ±∞) and the fallback would
    // end in Firth after 25 wasted Newton steps. Go straight to the same Firth fit.
    const separated = hi[1] <= lo[0] || lo[1] >= hi[0];
    let fit: LogisticFit;
    if (separated && settings.firth === 'fallback') {
      fit = firthFit(Y, X, pcols, O ? { offset: O } : {});
      if (fit.status !== 'ok') fit = { ...fit, status: 'separation' };
    } else {
      // Start at the intercept-only estimate, logit(cases / controls), rather than β = 0: the
      // same maximum, reached in about half the Newton steps for rare phecodes (β = 0 puts every
      // μ at ½, far from a prevalence of 0.1 %). Estimates agree with the β = 0 start to ~1e-11.
      const init = new Float64Array(pcols);
      init[0] = Math.log(nCases / nControls);
      fit = logisticFitWithFallback(Y, X, pcols, settings.firth, O ? { init, offset: O } : { init });
    }
    row.test = fit.test;
    if (fit.status !== 'ok') {
      if (spa && (fit.status === 'separation' || fit.status === 'not_converged')) return spaRow(row, spa);
      row.status = fit.status;
      row.reason = `logistic fit: ${fit.status}`;
      return row;
    }
    row.beta = fit.beta[1];
    row.se = fit.se[1];
    row.odds_ratio = fit.oddsRatio[1];
    row.ci_low = fit.orLower95[1];
    row.ci_high = fit.orUpper95[1];
    row.p = fit.pValue[1];
    row.neg_log10_p = fit.mlog10p[1];
    if (spa) {
      // β, SE and CI of the fit (named by the test), the SPA p
      row.p = spa.p;
      row.neg_log10_p = spa.mlog10p;
      row.test = fit.test === 'firth' ? 'spa_firth' : 'spa_wald';
    }
    return row;
  };
}

/**
 * A row without a fit from an SPA result: p of the SPA, β̂ = S/V, SE = |β̂|/z_p, OR = e^β̂ and
 * CI e^{β̂ ± 1.96·SE}; test `spa` (β/SE from the score, not a fit).
 */
export function spaRow(row: PhecodeFit, spa: SpaResult): PhecodeFit {
  row.status = 'ok';
  row.reason = null;
  row.test = 'spa';
  row.beta = spa.beta;
  row.se = spa.se;
  row.odds_ratio = Math.exp(spa.beta);
  row.ci_low = Math.exp(spa.beta - Z_975 * spa.se);
  row.ci_high = Math.exp(spa.beta + Z_975 * spa.se);
  row.p = spa.p;
  row.neg_log10_p = spa.mlog10p;
  return row;
}

/** An untested row with the SPA test's status (e.g. `collinear`). */
export function spaStatus(row: PhecodeFit, status: Status): PhecodeFit {
  row.status = status;
  row.reason = `SPA score test: ${status}`;
  return row;
}

/** Covariate columns kept for phecode `ph` (the sex columns are dropped when it is sex-restricted). */
export function keptCovariates(settings: Pick<FitSettings, 'nCov' | 'sexCols'>, ph: PhecodeSets): number[] {
  const covIdx: number[] = [];
  for (let j = 0; j < settings.nCov; j++) if (!(ph.sex && settings.sexCols.includes(j))) covIdx.push(j);
  return covIdx;
}

/** An untested row with the phecode's counts (n_excluded: every sample not a case or control). */
export function emptyFit(index: number, nCases: number, nControls: number, n: number): PhecodeFit {
  return {
    index,
    n_cases: nCases,
    n_controls: nControls,
    n_excluded: n - nCases - nControls,
    beta: null,
    se: null,
    odds_ratio: null,
    ci_low: null,
    ci_high: null,
    p: null,
    neg_log10_p: null,
    test: null,
    status: 'ok',
    reason: null,
  };
}

export function tooFew(row: PhecodeFit, what: 'cases' | 'controls', min: number): PhecodeFit {
  const n = what === 'cases' ? row.n_cases : row.n_controls;
  row.status = `too_few_${what}`;
  row.reason = `${n} ${what} < min${what === 'cases' ? 'Cases' : 'Controls'} ${min}`;
  return row;
}

export function monomorphic(row: PhecodeFit): PhecodeFit {
  row.status = 'monomorphic';
  row.reason = 'the predictor is constant among cases and controls';
  return row;
}

/** Fit every phecode of the batch, in order. `progress(k)` after each phecode; stops when aborted. */
export function fitPhecodes(
  batch: PhewasBatch,
  progress?: (done: number) => void,
  signal?: AbortSignal,
): PhecodeFit[] {
  const fitOne = phecodeFitter(batch);
  const out: PhecodeFit[] = [];
  for (let k = 0; k < batch.phecodes.length; k++) {
    if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    out.push(fitOne(batch.phecodes[k], batch.x));
    progress?.(k + 1);
  }
  return out;
}

/** Worker-thread side (engine/thread.ts): progress is the number of phecodes done in the batch. */
export async function threadMain(
  batch: PhewasBatch,
  progress: (done: number) => void,
  signal: AbortSignal,
): Promise<PhecodeFit[]> {
  return fitPhecodes(batch, throttled(progress, 25), signal);
}
