/**
 * Cox proportional hazards regression for time-to-event PheWAS: maximum partial likelihood with
 * Efron or Breslow ties, Wald and score tests, Firth's penalised partial likelihood, and the
 * scaled-Schoenfeld-residual test of proportional hazards (R `cox.zph`).
 *
 * Data (counting-process form). Person i is at risk on (a_i, b_i] — entry a_i (left truncation,
 * e.g. the age at enrolment on an age time scale; 0 when `start` is omitted) and exit b_i — with
 * δ_i = 1 for an event at b_i, 0 for censoring. x_i = (predictor, covariates…) ∈ ℝ^p,
 * η_i = x_iᵀβ, w_i = e^{η_i}. At each distinct event time t with the m events D(t) and the risk
 * set R(t) = {j : a_j < t ≤ b_j}: S0 = Σ_{R} w_j, S1 = Σ_{R} w_j x_j, and for the events alone
 * S0_D, S1_D. No missing values: the caller drops persons with any missing input (a NaN throws).
 *
 * Log partial likelihood, score U = ∂ℓ/∂β and information I = −∂²ℓ/∂β∂βᵀ (Cox 1972):
 *   Breslow (1974):  ℓ = Σ_t [Σ_{i∈D} η_i − m log S0],
 *   Efron (1977):    ℓ = Σ_t [Σ_{i∈D} η_i − Σ_{r=0}^{m−1} log(S0 − (r/m) S0_D)].
 * Both are sums over sub-steps r with s0_r = S0 − f_r S0_D, s1_r = S1 − f_r S1_D, f_r = r/m
 * (Efron) or 0 (Breslow, each of the m sub-steps identical): with x̄_r = s1_r/s0_r,
 *   U = Σ_events x_i − Σ_r x̄_r,   I = Σ_r Cov_r(x),  Cov_r = Σ_j π_jr (x_j − x̄_r)(x_j − x̄_r)ᵀ,
 * π_jr = w_j c_jr / s0_r, c_jr = 1 − f_r for a person dying at r's time, else 1 (R's coxph:
 * Therneau & Grambsch 2000, §3.3). Computation (stats/cox-core.ts): event times sorted once per
 * outcome; risk-set sums S0, S1 at every event time from backward cumulative sums over entry and
 * exit (O(n p)); Σ_r Cov_r = Σ_i w_iΛ_i x_i x_iᵀ − Σ_r x̄_r x̄_rᵀ with Λ_i = Σ_{r ∋ i} c_ir/s0_r
 * (the person's cumulative hazard, O(n p²)). No loop over persons inside a loop over events:
 * O(n log n) once, then O(n p² + d p²) per Newton iteration — the cost of one IRLS iteration of
 * a logistic fit with the same p.
 *
 * Maximum likelihood (`coxFit`): Newton–Raphson from β = 0, δ = I⁻¹U, halved (≤ 20 times) while ℓ
 * decreases; converged when every |δ_j| ≤ tol·(1 + |β_j|) (tol 1e-9, β_j in SD units of its
 * column; Newton converges quadratically, so the β left is ~1e-18 from the maximum), at most 30
 * iterations (R: 20, with a relative change in ℓ ≤ 1e-9). SE_j = √[(I⁻¹)_jj] at β̂,
 * z = β/SE, two-sided normal p, HR = e^β, 95 % CI e^{β ± 1.959964·SE} — R's `summary(coxph)`
 * coefficients and `exp(confint())`.
 *
 * Score test (`coxScoreTest`, and `score` of `coxFit`): of H0: β_x = 0 for the predictor x, from
 * the covariates-only null fit γ̂ (Rao 1948). With the weights w_i = e^{c_iᵀγ̂} of the null fit,
 *   U = Σ_events x_i − Σ_r x̄_r(x),  I_xx = Σ_r Var_r(x),  I_xc = Σ_r Cov_r(x, c),
 *   V = I_xx − I_xcᵀ I_cc⁻¹ I_xc (the efficient information), U_eff = U − I_xcᵀ I_cc⁻¹ U_c
 *   (U_c, the null score, is 0 at convergence), χ² = U_eff²/V ~ χ²(1), β̃ = U_eff/V, SE = 1/√V.
 * This is R's score statistic of `coxph(Surv(…) ~ x + covariates, init = c(0, γ̂))` — its `score`
 * (printed as `summary()$sctest`; df = p but all of it is x's, the covariates' score being 0) —
 * and, without covariates, exactly `summary(coxph(Surv(…) ~ x))$sctest` (test/stats/cox.test.ts
 * checks both). `coxNullModel` fits the covariates once per outcome; each predictor then costs
 * O(n c + d c): the many-predictor PheWAS path (one null fit per phecode, a score test per
 * predictor, full fits where it matters).
 *
 * Firth (`firth: 'always' | 'fallback'`; Firth 1993, for Cox Heinze & Schemper 2001): maximise
 *   ℓ*(β) = ℓ(β) + ½ log|I(β)|,  U*_j = U_j + ½ tr(I⁻¹ ∂I/∂β_j),  ∂I/∂β_j = Σ_r E_r[y yᵀ y_j]
 * (third central moments of the risk-set distributions π_r, y = x − x̄_r; stats/cox-fit.ts
 * expands them into per-person sums, O(n p²)). Newton steps δ = I⁻¹U*, the largest |δ_j|
 * capped at 2 SDs of its column, halved until ℓ* increases; converged when |δ_j| ≤
 * 1e-9·(1+|β_j|) and max_j |U*_j|/√I_jj ≤ 1e-7. The estimate is finite under monotone
 * likelihood. Inference is Wald from I(β̂)⁻¹, the unpenalised information at the penalised
 * estimate (as PLINK2 and our logistic Firth report);
 * Heinze & Schemper's profile penalised-likelihood intervals are not computed. `fallback` refits
 * with Firth when the ML fit reports `monotone_likelihood` or `not_converged`.
 *
 * Proportional hazards (`coxZph`; Grambsch & Therneau 1994, as R survival ≥ 3.0 `cox.zph` with
 * its default transform "km"): the score test, at θ = 0 and β = β̂, of the time-varying model
 * β_j + θ_j g(t) with g(t) = 1 − S_KM(t−) (the left-continuous Kaplan–Meier of the same data,
 * risk sets as above), centred over the events. Per event time t with slot information
 * I_t = Σ_{r∈t} Cov_r: U_θ = Σ_t g(t) Σ_{r∈t} (x_dead(r) − x̄_r), I_ββ = I, I_βθ = Σ_t g(t) I_t,
 * I_θθ = Σ_t g(t)² I_t; per coefficient χ²_j = U_θj² / (I_θθ − I_θβ I_ββ⁻¹ I_βθ)_jj (1 df; R's
 * `cox.zph(fit)$table` row), globally U_θᵀ (I_θθ − I_θβ I_ββ⁻¹ I_βθ)⁻¹ U_θ (p df, row GLOBAL).
 *
 * Edge cases (status; β/SE/p are NaN unless `ok`):
 *   - no events, or fewer than `minEvents`: `too_few_events`;
 *   - a predictor with one value over the persons ever at risk at an event time (the others
 *     never enter a risk set and are dropped): `monomorphic`; a covariate constant there, or a
 *     column collinear with the others (I singular at β = 0, Cholesky pivot < 1e-10 of the
 *     largest on the unit-SD design): `collinear`;
 *   - monotone likelihood (e.g. every event is a carrier: β → ∞; Bryson & Johnson 1981): ℓ stops
 *     increasing while the Newton steps do not shrink (three iterations with a gain ≤ 1e-10·|ℓ|
 *     and a full step still moving the linear predictor by > 1e-3 SD), or I becomes singular as
 *     the weights of the non-maximal persons vanish: `monotone_likelihood`; the score test stays
 *     valid, and Firth gives a finite estimate;
 *   - all events tied at one time: Efron's sub-steps handle it exactly (test checks against R);
 *   - left truncation with empty or tiny risk sets: an event's own person is always at risk, so
 *     no event has an empty risk set; entries after the last event time are dropped, and a risk
 *     set that the backward difference would lose to round-off is summed directly;
 *   - not converged otherwise: `not_converged`;
 *   - cox.zph with a single event time (g ≡ 0; R's cox.zph stops with a singular system):
 *     `collinear`.
 *
 * Units: the design is centred and scaled to unit SD internally (cox-core.ts), so the rank
 * tolerance, the step cap and the monotone-likelihood rule do not depend on the units of the
 * columns; β, SE, the covariance and ℓ* are reported in the input's units.
 *
 * References: Cox D.R. (1972) JRSS B 34:187–220; Breslow N. (1974) Biometrics 30:89–99; Efron B.
 * (1977) JASA 72:557–565; Rao C.R. (1948) Proc Camb Phil Soc 44:50–57; Firth D. (1993)
 * Biometrika 80:27–38; Heinze G. & Schemper M. (2001) Biometrics 57:114–119; Bryson M.C. &
 * Johnson M.E. (1981) Technometrics 23:381–383; Grambsch P.M. & Therneau T.M. (1994) Biometrika
 * 81:515–526; Therneau T.M. & Grambsch P.M. (2000) Modeling Survival Data, Springer; R package
 * survival 3.x (`coxph`, agfit4.c; `cox.zph`, zph2.c) for the conventions matched.
 */
import {
  type CoxModel,
  type CoxRiskSets,
  type CoxSurvival,
  type CoxTies,
  coxModel,
  coxRiskSets,
  coxSubModel,
} from './cox-core.js';
import { type CoxStatus, coxFirthNewton, coxNewton, type NewtonResult } from './cox-fit.js';
import {
  buildNullModel,
  type CoxNullModel,
  type CoxScoreResult,
  nullScoreTest,
  scoreResult,
} from './cox-score.js';
import { type CoxZph, emptyZph, zphTest } from './cox-zph.js';
import { mlog10PTwoSidedNormal, pTwoSidedNormal, Z_975 } from './distributions.js';
import { spdInverse } from './linalg.js';

export type { CoxRiskSets, CoxSurvival, CoxTies } from './cox-core.js';
export { coxRiskSets } from './cox-core.js';
export type { CoxStatus } from './cox-fit.js';
export type { CoxNullModel, CoxScoreResult } from './cox-score.js';
export type { CoxZph } from './cox-zph.js';

/** One outcome's survival data (raw, or risk sets prepared once by `coxRiskSets`) and the design. */
export interface CoxData {
  surv: CoxSurvival | CoxRiskSets;
  /** the predictor (length n): dosage, burden score, any column. */
  x: Float64Array;
  /** covariates, n × c column-major (optional). */
  covariates?: Float64Array;
  /** number of covariate columns (default covariates.length / n). */
  c?: number;
}

export type CoxFirthMode = 'never' | 'fallback' | 'always';

export interface CoxFitOptions {
  /** ties method (default 'efron', as R). */
  ties?: CoxTies;
  /** Firth penalty: never (default), as a fallback after monotone likelihood / non-convergence,
   * or always. */
  firth?: CoxFirthMode;
  /** Newton iterations (default 30 ML, 100 Firth). */
  maxIter?: number;
  /** relative step tolerance (default 1e-9). */
  tol?: number;
  /** starting coefficients for ML (default 0), or 'null': (0, γ̂) from the covariates-only null
   * fit (the `scoreTest` model when given, else fitted here on the covariate columns of the full
   * design, which is built once), a few Newton steps from the maximum for a small effect. */
  init?: Float64Array | 'null';
  /** fewest events for a fit (default 1). */
  minEvents?: number;
  /** score test of the predictor: true (default) fits the covariates-only null model, or pass
   * the outcome's `coxNullModel` (same data, covariates and ties) to reuse it; false skips it. */
  scoreTest?: boolean | CoxNullModel;
}

export interface CoxFit {
  status: CoxStatus;
  test: 'wald' | 'firth';
  /** when Firth was a fallback: the ML fit's status. */
  mlStatus: CoxStatus | null;
  ties: CoxTies;
  converged: boolean;
  iterations: number;
  /** persons in the analysis. */
  n: number;
  /** persons at risk at one event time or more. */
  nAtRisk: number;
  events: number;
  /** Σ (stop − start). */
  personYears: number;
  /** coefficients: predictor first, then the covariates. */
  p: number;
  beta: Float64Array;
  se: Float64Array;
  z: Float64Array;
  pValue: Float64Array;
  mlog10p: Float64Array;
  hr: Float64Array;
  hrLower95: Float64Array;
  hrUpper95: Float64Array;
  /** I(β̂)⁻¹, p × p. */
  vcov: Float64Array;
  /** log partial likelihood at β̂ and at the start (β = 0 unless `init`). */
  logLik: number;
  logLikInit: number;
  /** ℓ + ½ log|I| at β̂ (Firth; NaN for ML). */
  penalisedLogLik: number;
  /** score test of the predictor given the covariates (null when not requested). */
  score: CoxScoreResult | null;
}

function toRiskSets(surv: CoxSurvival | CoxRiskSets): CoxRiskSets {
  return 'kind' in surv ? surv : coxRiskSets(surv);
}

function covariateColumns(n: number, covariates?: Float64Array, c?: number): Float64Array[] {
  if (!covariates) return [];
  const k = c ?? (n > 0 ? covariates.length / n : 0);
  if (!Number.isInteger(k) || covariates.length !== n * k)
    throw new RangeError(`coxFit: covariates have ${covariates.length} values, not n·c (n = ${n})`);
  return Array.from({ length: k }, (_, j) => covariates.subarray(j * n, (j + 1) * n));
}

function emptyFit(rs: CoxRiskSets, p: number, ties: CoxTies, status: CoxStatus): CoxFit {
  const nan = () => new Float64Array(p).fill(Number.NaN);
  return {
    status,
    test: 'wald',
    mlStatus: null,
    ties,
    converged: false,
    iterations: 0,
    n: rs.n,
    nAtRisk: rs.persons.length,
    events: rs.events,
    personYears: rs.personYears,
    p,
    beta: nan(),
    se: nan(),
    z: nan(),
    pValue: nan(),
    mlog10p: nan(),
    hr: nan(),
    hrLower95: nan(),
    hrUpper95: nan(),
    vcov: new Float64Array(p * p).fill(Number.NaN),
    logLik: Number.NaN,
    logLikInit: Number.NaN,
    penalisedLogLik: Number.NaN,
    score: null,
  };
}

/** The fit's Wald statistics from the model state at β̂. */
function finishFit(m: CoxModel, run: NewtonResult, test: 'wald' | 'firth'): CoxFit {
  const { rs, p } = m;
  const fit = emptyFit(rs, p, m.ties, run.status);
  fit.test = test;
  fit.iterations = run.iterations;
  fit.logLikInit = run.logLikInit;
  if (run.status !== 'ok') return fit;
  const vcov = spdInverse(m.info, p);
  if (!vcov) return { ...fit, status: 'collinear' };
  // back from the unit-SD design: β_j = β̃_j / s_j, Cov(β)_jk = Cov(β̃)_jk / (s_j s_k), and
  // I = D Ĩ D (D = diag(s)), so log|I| = log|Ĩ| + 2 Σ log s_j
  const s = m.scale;
  for (let j = 0; j < p; j++) for (let k = 0; k < p; k++) vcov[j * p + k] /= s[j] * s[k];
  fit.converged = true;
  fit.logLik = m.loglik;
  let logScale = 0;
  for (let j = 0; j < p; j++) logScale += Math.log(s[j]);
  fit.penalisedLogLik = run.penalised + logScale;
  fit.vcov = vcov;
  for (let j = 0; j < p; j++) {
    const b = run.beta[j] / s[j];
    const se = Math.sqrt(vcov[j * p + j]);
    fit.beta[j] = b;
    fit.se[j] = se;
    fit.z[j] = b / se;
    fit.pValue[j] = pTwoSidedNormal(b / se);
    fit.mlog10p[j] = mlog10PTwoSidedNormal(b / se);
    fit.hr[j] = Math.exp(b);
    fit.hrLower95[j] = Math.exp(b - Z_975 * se);
    fit.hrUpper95[j] = Math.exp(b + Z_975 * se);
  }
  return fit;
}

function constantColumn(m: CoxModel, j: number): boolean {
  const { x, p } = m;
  for (let r = 1; r < m.rs.persons.length; r++) if (x[r * p + j] !== x[j]) return false;
  return true;
}

/**
 * Cox regression of the outcome on the predictor and covariates (see the module comment): ML
 * with Wald statistics, optionally Firth, plus the score test of the predictor.
 */
export function coxFit(data: CoxData, options: CoxFitOptions = {}): CoxFit {
  const ties = options.ties ?? 'efron';
  const rs = toRiskSets(data.surv);
  const covs = covariateColumns(rs.n, data.covariates, data.c);
  const p = 1 + covs.length;
  const minEvents = Math.max(1, options.minEvents ?? 1);
  const tol = options.tol ?? 1e-9;
  if (data.x.length !== rs.n) throw new RangeError(`coxFit: x has ${data.x.length} values, expected ${rs.n}`);
  const early = (status: CoxStatus): CoxFit => ({
    ...emptyFit(rs, p, ties, status),
    score: options.scoreTest === false ? null : scoreResult(status),
  });
  if (rs.events < minEvents) return early('too_few_events');
  const m = coxModel(rs, [data.x, ...covs], ties);
  if (constantColumn(m, 0)) return early('monomorphic');
  const firth = options.firth ?? 'never';
  // the null model (score test, init 'null'): given, or fitted on the full design's covariate columns
  let nm: CoxNullModel | null = typeof options.scoreTest === 'object' ? options.scoreTest : null;
  if (!nm && (options.scoreTest !== false || options.init === 'null'))
    nm = buildNullModel(
      rs,
      coxSubModel(
        m,
        covs.map((_, j) => j + 1),
      ),
      ties,
      30,
      tol,
      minEvents,
    );
  if (nm && nm.rs !== rs && nm.rs.n !== rs.n) throw new RangeError('coxFit: the null model is of other data');
  let fit: CoxFit;
  if (firth === 'always') {
    fit = finishFit(m, coxFirthNewton(m, options.maxIter ?? 100, tol), 'firth');
  } else {
    let init: Float64Array | undefined;
    if (options.init === 'null') {
      // γ̂ in the null design's unit-SD units, the full design's (same columns, same scaling)
      const model = (nm as CoxNullModel).model;
      if ((nm as CoxNullModel).status === 'ok')
        init = Float64Array.from([
          0,
          ...(nm as CoxNullModel).gamma.map((g, j) => (g / model.scale[j]) * m.scale[j + 1]),
        ]);
    } else if (options.init) init = Float64Array.from(options.init, (b, j) => b * m.scale[j]);
    fit = finishFit(m, coxNewton(m, init, options.maxIter ?? 30, tol), 'wald');
    if (firth === 'fallback' && (fit.status === 'monotone_likelihood' || fit.status === 'not_converged')) {
      const f = finishFit(m, coxFirthNewton(m, 100, tol), 'firth');
      fit = { ...f, mlStatus: fit.status };
    }
  }
  if (options.scoreTest !== false) fit.score = nullScoreTest(nm as CoxNullModel, data.x);
  return fit;
}

export interface CoxNullOptions {
  ties?: CoxTies;
  maxIter?: number;
  tol?: number;
  minEvents?: number;
}

/**
 * The covariates-only null fit of one outcome (covariates n × c column-major; none for an
 * unadjusted test), for `coxScoreTest` of many predictors and for `coxFit`'s `scoreTest`.
 */
export function coxNullModel(
  surv: CoxSurvival | CoxRiskSets,
  covariates?: Float64Array,
  c?: number,
  options: CoxNullOptions = {},
): CoxNullModel {
  const rs = toRiskSets(surv);
  return buildNullModel(
    rs,
    covariateColumns(rs.n, covariates, c),
    options.ties ?? 'efron',
    options.maxIter ?? 30,
    options.tol ?? 1e-9,
    options.minEvents ?? 1,
  );
}

/** Score test of H0: β_x = 0 for the predictor x (length n) against the null model. */
export function coxScoreTest(nullModel: CoxNullModel, x: Float64Array): CoxScoreResult {
  return nullScoreTest(nullModel, x);
}

/**
 * Proportional-hazards test (R `cox.zph`, transform "km") of a converged fit on the same data:
 * per coefficient (predictor first) and global χ² and p. Returns `collinear` for a fit that is
 * not ok.
 */
export function coxZph(data: CoxData, fit: CoxFit): CoxZph {
  const rs = toRiskSets(data.surv);
  const covs = covariateColumns(rs.n, data.covariates, data.c);
  if (fit.status !== 'ok') return emptyZph(fit.p, fit.status);
  const m = coxModel(rs, [data.x, ...covs], fit.ties);
  if (m.p !== fit.p) throw new RangeError(`coxZph: the fit has ${fit.p} coefficients, the data ${m.p}`);
  return zphTest(
    m,
    Float64Array.from(fit.beta, (b, j) => b * m.scale[j]),
  );
}
