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
 */

import type { PhecodeFit } from '../schemas/layouts.js';
import {
  type FirthMode,
  firthFit,
  type LogisticFit,
  logisticFitWithFallback,
} from '../stats/logistic-fit.js';
import { throttled } from './progress.js';

export interface PhecodeSets {
  /** position of the phecode in the activity's list (results are returned in input order). */
  index: number;
  /** 'M' | 'F' for a sex-restricted phecode (its sex covariates are dropped), else null. */
  sex: string | null;
  /** analysis-sample indexes of the cases and of the excluded persons. */
  cases: Int32Array;
  excluded: Int32Array;
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
  phecodes: PhecodeSets[];
}

/** One phecode's fit: the PheWAS row's statistics (schemas/layouts.ts). */
export type { PhecodeFit } from '../schemas/layouts.js';

/** The model settings of a PheWAS fit (everything in a batch but the phecodes). */
export type FitSettings = Omit<PhewasBatch, 'phecodes' | 'x'>;

/**
 * A fitter for one phecode at a time with scratch arrays (status, design, y) kept across calls:
 * `fit(ph, x)` fits phecode `ph` for predictor `x` (NaN = missing: the sample is dropped).
 */
export function phecodeFitter(settings: FitSettings): (ph: PhecodeSets, x: Float64Array) => PhecodeFit {
  const { n, cov } = settings;
  const status = new Int8Array(n); // 1 case, 0 control, -1 excluded or no predictor
  let design = new Float64Array(0);
  let y = new Float64Array(0);
  return (ph, x) => {
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
    if (y.length < used) y = new Float64Array(used);
    const X = design.subarray(0, used * pcols);
    const Y = y.subarray(0, used);
    let r = 0;
    // predictor range among cases (1) and controls (0)
    const lo = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    const hi = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (let i = 0; i < n; i++) {
      const st = status[i];
      if (st < 0) continue;
      const xi = x[i];
      Y[r] = st;
      X[r] = 1;
      X[used + r] = xi;
      if (xi < lo[st]) lo[st] = xi;
      if (xi > hi[st]) hi[st] = xi;
      for (let t = 0; t < covIdx.length; t++) X[(2 + t) * used + r] = cov[covIdx[t] * n + i];
      r++;
    }
    if (Math.min(lo[0], lo[1]) === Math.max(hi[0], hi[1])) return monomorphic(row);
    // The predictor alone separates cases from controls (e.g. no carrier among the cases):
    // quasi-complete separation, so the ML fit cannot converge (β → ±∞) and the fallback would
    // end in Firth after 25 wasted Newton steps. Go straight to the same Firth fit.
    const separated = hi[1] <= lo[0] || lo[1] >= hi[0];
    let fit: LogisticFit;
    if (separated && settings.firth === 'fallback') {
      fit = firthFit(Y, X, pcols);
      if (fit.status !== 'ok') fit = { ...fit, status: 'separation' };
    } else {
      // Start at the intercept-only estimate, logit(cases / controls), rather than β = 0: the
      // same maximum, reached in about half the Newton steps for rare phecodes (β = 0 puts every
      // μ at ½, far from a prevalence of 0.1 %). Estimates agree with the β = 0 start to ~1e-11.
      const init = new Float64Array(pcols);
      init[0] = Math.log(nCases / nControls);
      fit = logisticFitWithFallback(Y, X, pcols, settings.firth, { init });
    }
    row.test = fit.test;
    if (fit.status !== 'ok') {
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
    return row;
  };
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
