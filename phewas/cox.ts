/**
 * The CPU part of the time-to-event PheWAS (`phewas.model: "cox"`): per phecode, the survival
 * outcome built from the timeline, the design [predictor, covariates] and the Cox fit
 * (stats/cox.ts documents the partial likelihood, the tests and their references). Pure: typed
 * arrays in, one row per phecode out, so a batch of phecodes runs on a pooled worker thread
 * (engine/thread.ts calls `threadMain`) or inline with the same numbers. The many-predictor path
 * is phewas/cox-many.ts.
 *
 * Outcome of phecode P over the analysis samples i, in this order (times in years from the
 * timeline's origin; `first` is the first code date of P, `event` the date P's case rule
 * (`minCodeCount` distinct dates) is first met):
 *   1. left out: excluded for P by the phenome, entry or exit missing (no follow-up), exit ≤ entry
 *      (no time at risk), or a missing predictor; a case without an onset (first or event NaN:
 *      should not happen) is left out too;
 *   2. prevalent: a case with first ≤ entry: left out of the incident analysis, counted
 *      `n_prevalent`;
 *   3. event: a case with entry < event ≤ exit: (start, stop, δ) = (entry, event, 1);
 *   4. a case diagnosed after its exit (event > exit, e.g. after the release cut-off): censored,
 *      (entry, exit, 0);
 *   5. a control: (entry, exit, 0).
 * n_events counts 3, n_censored 4 + 5, n_at_risk = n_events + n_censored (the persons in the
 * model), n_excluded every other analysis sample but the prevalent ones (so n_events + n_censored
 * + n_prevalent + n_excluded = n), person_years = Σ (stop − start) over the model. An onset whose
 * event date precedes its first date is an input error (thrown).
 *
 * Model: λ_i(t) = λ₀(t) exp(β x_i + γᵀ z_i) over (start, stop], z the covariates (sex columns
 * dropped for a sex-restricted phecode, as in phewas/fit.ts), Efron ties unless the timeline's
 * settings say Breslow. The risk sets are built once per phecode (`coxRiskSets`, the only
 * O(n log n) step) and shared by the fit, the score test and the PH check.
 *   - Too few: n_events < `minCases` → `too_few_events`; n_censored < `minControls` →
 *     `too_few_controls` (no fit; β, SE, p NULL).
 *   - Fit: `coxFit` with Firth as `phewas.firth` says ('never', 'fallback': refit with Firth's
 *     penalised partial likelihood after monotone likelihood or non-convergence, 'always'). The
 *     row's test is `cox` (ML, Wald p) or `cox_firth` (Firth estimate, Wald p from the
 *     unpenalised information at it); p = p_wald; HR = e^β, 95 % CI e^{β ± 1.96·SE}.
 *   - Score test (p_score): of β = 0 against the covariates-only null fit on the same risk sets
 *     (Rao; R's `coxph(…, init = c(0, γ̂))` score statistic); NULL where its own status is not ok.
 *   - Statuses of the fit pass through: `monomorphic` (the predictor takes one value among the
 *     persons at risk at an event time), `collinear` (a covariate constant there, or collinear),
 *     `monotone_likelihood` (β → ±∞ and no Firth allowed), `not_converged`. Such rows carry the
 *     counts only (every statistic NULL).
 *   - Proportional hazards (`coxZph`, R's `cox.zph`, KM transform; Grambsch & Therneau 1994) for
 *     ML rows with p < 0.05 (nominal): zph_p of the predictor, zph_global_p of the whole model;
 *     NULL for other rows, for Firth rows (the test is a score test at the ML maximum, which a
 *     Firth row does not have) and where the test itself is singular (a single event time).
 *
 * Inputs: `attachOnsets` aligns the timeline's onsets of each phecode with its cases
 * (`CoxPhecodeSets`). The timeline type is declared here until phenotype/timeline.ts lands.
 */

import type { Timeline } from '../phenotype/timeline.js';
import type { CoxPhecodeFit } from '../schemas/layouts.js';
import {
  type CoxFirthMode,
  type CoxFit,
  type CoxNullModel,
  type CoxRiskSets,
  type CoxTies,
  coxFit,
  coxRiskSets,
  coxZph,
} from '../stats/cox.js';
import { Z_975 } from '../stats/distributions.js';
import { keptCovariates, type PhecodeSets } from './fit.js';
import { throttled } from './progress.js';

export type { CoxPhecodeFit } from '../schemas/layouts.js';

export type { Timeline };

/** A phecode's sets with the onset times of its cases (aligned with `cases`; NaN: no onset). */
export interface CoxPhecodeSets extends PhecodeSets {
  first: Float64Array;
  event: Float64Array;
}

/**
 * The cases' first-code and event times of each phecode (`phecodes[set.index].phecode`), from the
 * timeline's onsets (both sorted by sample: one merge per phecode). A case without an onset row
 * gets NaN (left out of that phecode).
 */
export function attachOnsets(
  sets: PhecodeSets[],
  phecodes: { phecode: string }[],
  timeline: Timeline,
): CoxPhecodeSets[] {
  return sets.map((s) => {
    const info = phecodes[s.index];
    if (!info) throw new RangeError(`attachOnsets: no phecode at index ${s.index}`);
    const on = timeline.onsets.get(info.phecode);
    const first = new Float64Array(s.cases.length).fill(Number.NaN);
    const event = new Float64Array(s.cases.length).fill(Number.NaN);
    if (on) {
      let k = 0;
      for (let j = 0; j < s.cases.length; j++) {
        const i = s.cases[j];
        while (k < on.samples.length && on.samples[k] < i) k++;
        if (k < on.samples.length && on.samples[k] === i) {
          first[j] = on.first[k];
          event[j] = on.event[k];
        }
      }
    }
    return { ...s, first, event };
  });
}

/** Everything a Cox PheWAS batch needs but the phecodes and the predictor. */
export interface CoxSettings {
  /** analysis samples */
  n: number;
  /** covariates, column-major n × nCov. */
  cov: Float64Array;
  nCov: number;
  /** covariate columns that encode sex (dropped for sex-restricted phecodes). */
  sexCols: number[];
  /** timeline entry / exit per analysis sample (years; NaN = no follow-up). */
  entry: Float64Array;
  exit: Float64Array;
  /** fewest events (`phewas.minCases`) and censored persons (`phewas.minControls`). */
  minCases: number;
  minControls: number;
  firth: CoxFirthMode;
  ties: CoxTies;
}

export interface CoxBatch extends CoxSettings {
  /** predictor per sample (NaN = missing: the sample is left out of every phecode). */
  x: Float64Array;
  phecodes: CoxPhecodeSets[];
}

/** One phecode's survival outcome over the persons in the model (sample order). */
export interface CoxOutcome {
  /** analysis-sample index of each person in the model. */
  rows: Int32Array;
  start: Float64Array;
  stop: Float64Array;
  event: Uint8Array;
  nEvents: number;
  nCensored: number;
  nPrevalent: number;
  nExcluded: number;
  personYears: number;
}

const LEFT_OUT = -1;
const PREVALENT = -2;
const CONTROL = 0;
const EVENT = 1;
const CASE_CENSORED = 2;

/**
 * The outcome of phecode `ph` (module comment, rules 1–5). `x`: the predictor (its missing
 * samples are left out), or null to ignore it (the many-predictor path's null model).
 * `status` is scratch of length n.
 */
export function coxOutcome(
  s: Pick<CoxSettings, 'n' | 'entry' | 'exit'>,
  ph: CoxPhecodeSets,
  x: Float64Array | null,
  status: Int8Array = new Int8Array(s.n),
): CoxOutcome {
  const { n, entry, exit } = s;
  if (entry.length !== n || exit.length !== n)
    throw new RangeError(
      `phecode ${ph.index}: entry/exit have ${entry.length}/${exit.length} values, expected ${n}`,
    );
  if (ph.first.length !== ph.cases.length || ph.event.length !== ph.cases.length)
    throw new RangeError(`phecode ${ph.index}: onset times are not aligned with the cases`);
  for (let i = 0; i < n; i++) {
    const a = entry[i];
    const b = exit[i];
    status[i] =
      Number.isNaN(a) || Number.isNaN(b) || !(b > a) || (x && Number.isNaN(x[i])) ? LEFT_OUT : CONTROL;
  }
  for (const i of ph.excluded) status[i] = LEFT_OUT;
  const stopOf = new Map<number, number>();
  for (let j = 0; j < ph.cases.length; j++) {
    const i = ph.cases[j];
    if (status[i] === LEFT_OUT) continue;
    const f = ph.first[j];
    const e = ph.event[j];
    if (Number.isNaN(f) || Number.isNaN(e)) status[i] = LEFT_OUT;
    else if (e < f)
      throw new RangeError(
        `phecode ${ph.index}: sample ${i} has its event time ${e} before its first code ${f}`,
      );
    else if (f <= entry[i]) status[i] = PREVALENT;
    else if (e <= exit[i]) {
      status[i] = EVENT;
      stopOf.set(i, e);
    } else status[i] = CASE_CENSORED;
  }
  let m = 0;
  let nEvents = 0;
  let nPrevalent = 0;
  for (let i = 0; i < n; i++) {
    const st = status[i];
    if (st >= 0) m++;
    if (st === EVENT) nEvents++;
    else if (st === PREVALENT) nPrevalent++;
  }
  const rows = new Int32Array(m);
  const start = new Float64Array(m);
  const stop = new Float64Array(m);
  const event = new Uint8Array(m);
  let personYears = 0;
  for (let i = 0, r = 0; i < n; i++) {
    const st = status[i];
    if (st < 0) continue;
    rows[r] = i;
    start[r] = entry[i];
    if (st === EVENT) {
      stop[r] = stopOf.get(i) as number;
      event[r] = 1;
    } else stop[r] = exit[i];
    personYears += stop[r] - start[r];
    r++;
  }
  return {
    rows,
    start,
    stop,
    event,
    nEvents,
    nCensored: m - nEvents,
    nPrevalent,
    nExcluded: n - m - nPrevalent,
    personYears,
  };
}

/** A phecode's outcome with its risk sets and covariates over the persons in the model. */
export interface PreparedPhecode {
  ph: CoxPhecodeSets;
  outcome: CoxOutcome;
  /** null when the phecode has too few events or censored persons (no fit). */
  rs: CoxRiskSets | null;
  /** kept covariates over the model's persons, m × c column-major. */
  cov: Float64Array;
  c: number;
}

/** The outcome, and (when there are enough events and censored persons) its risk sets and design. */
export function preparePhecode(
  s: CoxSettings,
  ph: CoxPhecodeSets,
  x: Float64Array | null,
  status?: Int8Array,
): PreparedPhecode {
  const outcome = coxOutcome(s, ph, x, status);
  const covIdx = keptCovariates(s, ph);
  const c = covIdx.length;
  if (outcome.nEvents < s.minCases || outcome.nCensored < s.minControls)
    return { ph, outcome, rs: null, cov: new Float64Array(0), c };
  const { rows } = outcome;
  const m = rows.length;
  const cov = new Float64Array(m * c);
  for (let t = 0; t < c; t++) {
    const col = s.cov.subarray(covIdx[t] * s.n, (covIdx[t] + 1) * s.n);
    const out = cov.subarray(t * m, (t + 1) * m);
    for (let r = 0; r < m; r++) out[r] = col[rows[r]];
  }
  const rs = coxRiskSets({ start: outcome.start, stop: outcome.stop, event: outcome.event });
  return { ph, outcome, rs, cov, c };
}

/** The predictor over the model's persons. */
export function compactPredictor(prep: PreparedPhecode, x: Float64Array): Float64Array {
  const { rows } = prep.outcome;
  const xc = new Float64Array(rows.length);
  for (let r = 0; r < rows.length; r++) xc[r] = x[rows[r]];
  return xc;
}

/** An untested row with the phecode's counts. */
export function emptyCoxRow(prep: PreparedPhecode): CoxPhecodeFit {
  const o = prep.outcome;
  return {
    index: prep.ph.index,
    n_events: o.nEvents,
    n_censored: o.nCensored,
    n_prevalent: o.nPrevalent,
    n_excluded: o.nExcluded,
    n_at_risk: o.nEvents + o.nCensored,
    person_years: o.personYears,
    beta: null,
    se: null,
    hazard_ratio: null,
    ci_low: null,
    ci_high: null,
    p: null,
    neg_log10_p: null,
    p_wald: null,
    p_score: null,
    test: null,
    zph_p: null,
    zph_global_p: null,
    status: 'ok',
    reason: null,
  };
}

/** The `too_few_events` / `too_few_controls` row of a phecode without risk sets. */
export function tooFewRow(
  s: Pick<CoxSettings, 'minCases' | 'minControls'>,
  prep: PreparedPhecode,
): CoxPhecodeFit {
  const row = emptyCoxRow(prep);
  const o = prep.outcome;
  if (o.nEvents < s.minCases) {
    row.status = 'too_few_events';
    row.reason = `${o.nEvents} events < minCases ${s.minCases}`;
  } else {
    row.status = 'too_few_controls';
    row.reason = `${o.nCensored} censored < minControls ${s.minControls}`;
  }
  return row;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Nominal p below which the proportional-hazards check runs. */
export const ZPH_P = 0.05;

/**
 * Fits a prepared phecode (risk sets present) for predictor `x` (length n, no missing value among
 * the model's persons). `nullModel`: the phecode's covariates-only fit on the same risk sets, to
 * reuse for the score test (else it is fitted here).
 */
export function fitPrepared(
  s: Pick<CoxSettings, 'firth' | 'ties'>,
  prep: PreparedPhecode,
  x: Float64Array,
  nullModel?: CoxNullModel,
): CoxPhecodeFit {
  const rs = prep.rs;
  if (!rs) throw new Error(`phecode ${prep.ph.index}: no risk sets (too few events or censored persons)`);
  const row = emptyCoxRow(prep);
  const data = { surv: rs, x: compactPredictor(prep, x), covariates: prep.cov, c: prep.c };
  // The null fit first (`init: 'null'`; on the covariate columns of the full design, built
  // once): its γ̂ serves the score test and starts the ML fit at (0, γ̂), a few Newton steps
  // from the maximum (the estimate is the same to ~1e-12).
  const fit: CoxFit = coxFit(data, {
    ties: s.ties,
    firth: s.firth,
    scoreTest: nullModel ?? true,
    init: 'null',
  });
  if (fit.status !== 'ok') {
    row.status = fit.status;
    row.reason =
      fit.mlStatus && fit.mlStatus !== fit.status
        ? `Cox fit: ${fit.mlStatus}; Firth fit: ${fit.status}`
        : `${fit.test === 'firth' ? 'Firth ' : ''}Cox fit: ${fit.status}`;
    return row;
  }
  row.test = fit.test === 'firth' ? 'cox_firth' : 'cox';
  row.beta = fit.beta[0];
  row.se = fit.se[0];
  row.hazard_ratio = finite(fit.hr[0]);
  row.ci_low = finite(fit.hrLower95[0]);
  row.ci_high = finite(fit.hrUpper95[0]);
  row.p_wald = fit.pValue[0];
  row.p = fit.pValue[0];
  row.neg_log10_p = fit.mlog10p[0];
  if (fit.score && fit.score.status === 'ok') row.p_score = fit.score.p;
  if (row.test === 'cox' && row.p < ZPH_P) {
    const z = coxZph(data, fit);
    if (z.status === 'ok') {
      row.zph_p = finite(z.p[0]);
      row.zph_global_p = finite(z.globalP);
    }
  }
  return row;
}

/** A score-test row of the many-predictor path: β = U/V, SE = 1/√V, p of the score test. */
export function scoreRow(
  prep: PreparedPhecode,
  score: { beta: number; se: number; p: number; mlog10p: number },
): CoxPhecodeFit {
  const row = emptyCoxRow(prep);
  row.test = 'cox_score';
  row.beta = score.beta;
  row.se = score.se;
  row.hazard_ratio = finite(Math.exp(score.beta));
  row.ci_low = finite(Math.exp(score.beta - Z_975 * score.se));
  row.ci_high = finite(Math.exp(score.beta + Z_975 * score.se));
  row.p = score.p;
  row.neg_log10_p = score.mlog10p;
  row.p_score = score.p;
  return row;
}

/** A fitter for one phecode at a time (scratch kept across calls). */
export function coxPhecodeFitter(s: CoxSettings): (ph: CoxPhecodeSets, x: Float64Array) => CoxPhecodeFit {
  const status = new Int8Array(s.n);
  return (ph, x) => {
    if (x.length !== s.n)
      throw new RangeError(`phecode ${ph.index}: x has ${x.length} values, expected ${s.n}`);
    const prep = preparePhecode(s, ph, x, status);
    if (!prep.rs) return tooFewRow(s, prep);
    return fitPrepared(s, prep, x);
  };
}

/** Fit every phecode of the batch, in order. `progress(k)` after each phecode; stops when aborted. */
export function fitCoxPhecodes(
  batch: CoxBatch,
  progress?: (done: number) => void,
  signal?: AbortSignal,
): CoxPhecodeFit[] {
  const fitOne = coxPhecodeFitter(batch);
  const out: CoxPhecodeFit[] = [];
  for (let k = 0; k < batch.phecodes.length; k++) {
    if (signal?.aborted) throw signal.reason ?? new Error('cancelled');
    out.push(fitOne(batch.phecodes[k], batch.x));
    progress?.(k + 1);
  }
  return out;
}

/** Worker-thread side (engine/thread.ts): progress is the number of phecodes done in the batch. */
export async function threadMain(
  batch: CoxBatch,
  progress: (done: number) => void,
  signal: AbortSignal,
): Promise<CoxPhecodeFit[]> {
  return fitCoxPhecodes(batch, throttled(progress, 25), signal);
}
