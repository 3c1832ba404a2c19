/**
 * Logistic regression fits for one design matrix: maximum likelihood by Newton–Raphson / IRLS
 * (`logisticFit`) and Firth's penalised likelihood (`firthFit`), with Wald tests, odds ratios and
 * 95% confidence intervals. Used by the GWAS logistic test (logistic.ts) for its full fits and
 * directly by PheWAS (predictor + covariates per phecode).
 *
 * Model: logit P(y_i = 1) = x_iᵀβ, y_i ∈ {0, 1}; X is n×p, column-major, and must contain the
 * intercept column if one is wanted (`designMatrix` adds it).
 *
 * Maximum likelihood (Wald):
 *   ℓ(β) = Σ y_i η_i − log(1 + e^{η_i}),  U(β) = Xᵀ(y − μ),  I(β) = XᵀWX,  W = diag(μ(1−μ)).
 *   Newton step δ = I⁻¹U, halved (up to 20 times) while ℓ decreases. Converged when every
 *   |δ_j| ≤ tol·(1 + |β_j|) (tol 1e-8: Newton converges quadratically, so the error left after
 *   that step is ~1e-16; at most 25 iterations as R's glm). SE_j = √[(I⁻¹)_jj],
 *   z = β/SE, two-sided p from N(0, 1), OR = e^β, 95% CI e^{β ± 1.959964·SE}.
 *
 * Firth (1993), as in Heinze & Schemper (2002) and PLINK2's fallback:
 *   ℓ*(β) = ℓ(β) + ½ log det I(β);  modified score U*_j = Σ_i (y_i − μ_i + h_i(½ − μ_i)) x_ij with
 *   h_i the diagonal of the hat matrix W^{½}X(XᵀWX)⁻¹XᵀW^{½}. Newton steps δ = I⁻¹U*, capped at
 *   a maximum absolute step of 5 and halved until ℓ* strictly increases; converged when
 *   |δ_j| ≤ tol·(1+|β_j|) and |U*_j|/√I_jj ≤ 1e-7, or when no step increases ℓ* in double
 *   precision and |U*_j|/√I_jj ≤ 1e-5. Estimates are finite under separation. Wald SE from I(β̂)⁻¹ and normal p-value
 *   (as PLINK2 reports; R logistf's default profile-likelihood p is not used).
 *
 * Edge cases (status):
 *   - `collinear`: XᵀWX not positive definite at the start (a column is constant-zero or a
 *     combination of others);
 *   - `separation`: the ML fit did not converge and fitted probabilities approached 0 or 1
 *     (|η| > 15, μ < 3e-7, for some sample), or XᵀWX became singular after the first step because
 *     those weights collapsed — complete or quasi-complete separation (Albert & Anderson 1984);
 *   - `not_converged`: iterations exhausted otherwise;
 *   - `too_few_samples`: n ≤ p;  `too_few_cases`: no cases or no controls.
 *
 * References: McCullagh & Nelder (1989) Generalized Linear Models §4.4; Firth D. (1993)
 * Biometrika 80:27–38; Heinze G. & Schemper M. (2002) Stat Med 21:2409–2419; Albert A. &
 * Anderson J.A. (1984) Biometrika 71:1–10; R `glm.fit` (convergence conventions).
 */
import { mlog10PTwoSidedNormal, pTwoSidedNormal, Z_975 } from './distributions.js';
import { cholesky, choleskyInverse, choleskyLogDet, choleskySolve } from './linalg.js';
import {
  evaluate,
  firthScoreGeneric,
  firthScoreKernel,
  information,
  informationAndScore,
  MAX_FUSED_P,
} from './logistic-kernels.js';
import { newtonAscent, smallStep } from './newton.js';
import type { Status } from './status.js';

export {
  evaluateGeneric,
  firthScoreGeneric,
  fusedKernels,
  informationGeneric,
} from './logistic-kernels.js';

export interface LogisticFitOptions {
  /** maximum Newton iterations (default 25 for ML, 100 for Firth). */
  maxIter?: number;
  /** relative convergence tolerance on the coefficients (default 1e-8 ML, 1e-9 Firth). */
  tol?: number;
  /** starting coefficients (default 0, intercept-free). */
  init?: Float64Array;
  /**
   * A fixed offset o_i in the linear predictor, η_i = o_i + x_iᵀβ (length n): REGENIE's LOCO
   * prediction in step 2 (Mbatchou et al. 2021). Without it, o = 0.
   */
  offset?: Float64Array;
}

export interface LogisticFit {
  status: Status;
  test: 'wald' | 'firth';
  converged: boolean;
  iterations: number;
  n: number;
  p: number;
  /** coefficients, one per column of X (NaN unless status is ok). */
  beta: Float64Array;
  se: Float64Array;
  z: Float64Array;
  pValue: Float64Array;
  mlog10p: Float64Array;
  oddsRatio: Float64Array;
  orLower95: Float64Array;
  orUpper95: Float64Array;
  /** log-likelihood (unpenalised) at the estimate. */
  logLik: number;
  /** fitted probabilities μ_i (length n). */
  fitted: Float64Array;
}

/** Builds the n×(1+k) column-major design [1, columns…] (intercept first unless intercept=false). */
export function designMatrix(n: number, columns: readonly Float64Array[], intercept = true): Float64Array {
  const p = columns.length + (intercept ? 1 : 0);
  const x = new Float64Array(n * p);
  let j = 0;
  if (intercept) {
    x.fill(1, 0, n);
    j++;
  }
  for (const col of columns) {
    if (col.length !== n)
      throw new RangeError(`designMatrix: column ${j} has ${col.length} values, expected ${n}`);
    x.set(col, j * n);
    j++;
  }
  return x;
}

function emptyFit(n: number, p: number, status: Status, test: 'wald' | 'firth'): LogisticFit {
  const nan = () => new Float64Array(p).fill(Number.NaN);
  return {
    status,
    test,
    converged: false,
    iterations: 0,
    n,
    p,
    beta: nan(),
    se: nan(),
    z: nan(),
    pValue: nan(),
    mlog10p: nan(),
    oddsRatio: nan(),
    orLower95: nan(),
    orUpper95: nan(),
    logLik: Number.NaN,
    fitted: new Float64Array(n).fill(Number.NaN),
  };
}

function validate(y: Float64Array, x: Float64Array, p: number, name: string): Status | null {
  const n = y.length;
  if (x.length !== n * p) throw new RangeError(`${name}: X has ${x.length} values, expected n·p = ${n * p}`);
  let cases = 0;
  for (let i = 0; i < n; i++) {
    const v = y[i];
    if (v !== 0 && v !== 1) throw new RangeError(`${name}: y[${i}] = ${v}, expected 0 or 1`);
    cases += v;
  }
  for (let t = 0; t < x.length; t++) {
    if (!Number.isFinite(x[t]))
      throw new RangeError(`${name}: X column ${Math.floor(t / n)} is not finite at sample ${t % n}`);
  }
  if (n <= p) return 'too_few_samples';
  if (cases === 0 || cases === n) return 'too_few_cases';
  return null;
}

function finish(
  fit: LogisticFit,
  x: Float64Array,
  n: number,
  p: number,
  w: Float64Array,
  info: Float64Array,
): LogisticFit {
  information(x, n, p, w, info);
  if (!cholesky(info, p)) {
    return { ...emptyFit(n, p, 'collinear', fit.test), iterations: fit.iterations };
  }
  const inv = choleskyInverse(info, p);
  for (let j = 0; j < p; j++) {
    const b = fit.beta[j];
    const se = Math.sqrt(inv[j + j * p]);
    const z = b / se;
    fit.se[j] = se;
    fit.z[j] = z;
    fit.pValue[j] = pTwoSidedNormal(z);
    fit.mlog10p[j] = mlog10PTwoSidedNormal(z);
    fit.oddsRatio[j] = Math.exp(b);
    fit.orLower95[j] = Math.exp(b - Z_975 * se);
    fit.orUpper95[j] = Math.exp(b + Z_975 * se);
  }
  return fit;
}

/** The arrays one fit works in: β (from `init` or 0), η, μ, w (length n), XᵀWX, score, trial β. */
function workspace(n: number, p: number, init?: Float64Array) {
  return {
    beta: init ? Float64Array.from(init) : new Float64Array(p),
    eta: new Float64Array(n),
    mu: new Float64Array(n),
    w: new Float64Array(n),
    info: new Float64Array(p * p),
    score: new Float64Array(p),
    trial: new Float64Array(p),
  };
}

/**
 * The start of a fit: validate (an early fit with its status for too few samples or cases),
 * then the iteration limits from `options` or the method's defaults, and the workspace.
 */
function startFit(
  y: Float64Array,
  x: Float64Array,
  p: number,
  test: 'wald' | 'firth',
  options: LogisticFitOptions,
  defaults: { maxIter: number; tol: number },
): LogisticFit | { n: number; maxIter: number; tol: number; ws: ReturnType<typeof workspace> } {
  const n = y.length;
  if (options.offset && options.offset.length !== n)
    throw new RangeError(`offset has ${options.offset.length} values, expected n = ${n}`);
  const bad = validate(y, x, p, test === 'wald' ? 'logisticFit' : 'firthFit');
  if (bad) return emptyFit(n, p, bad, test);
  return {
    n,
    maxIter: options.maxIter ?? defaults.maxIter,
    tol: options.tol ?? defaults.tol,
    ws: workspace(n, p, options.init),
  };
}

/** A converged fit at β with its log-likelihood and fitted μ, completed with Wald statistics. */
function convergedFit(
  test: 'wald' | 'firth',
  iterations: number,
  ws: { beta: Float64Array; mu: Float64Array; w: Float64Array; info: Float64Array },
  ll: number,
  x: Float64Array,
  n: number,
  p: number,
): LogisticFit {
  const fit = emptyFit(n, p, 'ok', test);
  fit.converged = true;
  fit.iterations = iterations;
  fit.beta.set(ws.beta);
  fit.logLik = ll;
  fit.fitted.set(ws.mu);
  return finish(fit, x, n, p, ws.w, ws.info);
}

/**
 * Maximum-likelihood logistic regression of y (0/1) on the columns of X (n×p, column-major), with
 * Wald statistics for every coefficient. See the module comment for the algorithm and statuses.
 */
export function logisticFit(y: Float64Array, x: Float64Array, p: number, options: LogisticFitOptions = {}) {
  const start = startFit(y, x, p, 'wald', options, { maxIter: 25, tol: 1e-8 });
  if ('status' in start) return start;
  const { n, maxIter, tol } = start;
  const { beta, eta, mu, w, info, score, trial } = start.ws;
  // Newton–Raphson on ℓ; a step that lowers ℓ is halved, up to 20 times, and the last
  // trial is taken even if none raised ℓ (R glm's convention; non-convergence is caught below).
  const run = newtonAscent(beta, trial, evaluate(y, x, n, p, beta, eta, mu, w, options.offset), {
    maxIter,
    maxHalvings: 20,
    acceptUnimproved: true,
    stopWhenUnmoved: false,
    step() {
      informationAndScore(x, n, p, w, info, y, mu, score);
      if (!cholesky(info, p)) return null;
      const delta = Float64Array.from(score);
      choleskySolve(info, p, delta);
      return delta;
    },
    objective: (b) => evaluate(y, x, n, p, b, eta, mu, w, options.offset),
    improves: (next, current) => next >= current - 1e-12 * Math.abs(current),
    converged: (delta) => smallStep(delta, beta, tol),
  });
  const iter = run.iterations;
  const ll = run.objective;
  const converged = run.outcome === 'converged';
  if (run.outcome === 'singular') {
    // singular at the start: collinear design; later: the weights of the samples that a
    // column separates collapsed towards 0 as β diverged (separation)
    const status: Status = iter === 1 ? 'collinear' : 'separation';
    return { ...emptyFit(n, p, status, 'wald'), iterations: iter };
  }
  let extreme = false;
  for (let i = 0; i < n; i++) if (Math.abs(eta[i]) > 15) extreme = true;
  if (!converged) {
    return { ...emptyFit(n, p, extreme ? 'separation' : 'not_converged', 'wald'), iterations: iter };
  }
  return convergedFit('wald', iter, { beta, mu, w, info }, ll, x, n, p);
}

/**
 * Firth-penalised logistic regression (bias-reduced; finite under separation). Same inputs and
 * output as `logisticFit`, with `test: 'firth'`.
 */
export function firthFit(y: Float64Array, x: Float64Array, p: number, options: LogisticFitOptions = {}) {
  const start = startFit(y, x, p, 'firth', options, { maxIter: 100, tol: 1e-9 });
  if ('status' in start) return start;
  const { n, maxIter, tol } = start;
  const maxStep = 5;
  const { beta, eta, mu, w, info, score, trial } = start.ws;
  const v = new Float64Array(p);

  // penalised log-likelihood at the current evaluate() state; leaves the Cholesky factor in info
  const penalised = (ll: number): number => {
    information(x, n, p, w, info);
    if (!cholesky(info, p)) return Number.NaN;
    return ll + 0.5 * choleskyLogDet(info, p);
  };

  let ll = evaluate(y, x, n, p, beta, eta, mu, w, options.offset);
  const pll = penalised(ll);
  if (Number.isNaN(pll)) return emptyFit(n, p, 'collinear', 'firth');
  // score in standard-error units at the last step: |U*_j| / √I_jj (I_jj = Σ_k L_jk², info holds L)
  let maxScore = 0;
  let trialLl = Number.NaN;
  // Newton ascent on ℓ* with strict ascent: the step I⁻¹U* ignores ∂h/∂β and can overshoot
  // (e.g. a singleton carrier), oscillating around the optimum unless halved.
  const run = newtonAscent(beta, trial, pll, {
    maxIter,
    maxHalvings: 40,
    acceptUnimproved: false,
    // A step below half an ulp of every β_j leaves β unchanged, so ℓ* cannot increase, nor
    // can it for the smaller steps after: stop halving (the outcome is the same, sooner).
    stopWhenUnmoved: true,
    step() {
      // modified score with hat-matrix diagonal h_i = w_i ‖L⁻¹x_i‖² (info holds L here)
      if (p <= MAX_FUSED_P) firthScoreKernel(p)(x, n, y, mu, w, info, score);
      else firthScoreGeneric(x, n, p, y, mu, w, info, v, score);
      const delta = Float64Array.from(score);
      choleskySolve(info, p, delta);
      let maxAbs = 0;
      for (let j = 0; j < p; j++) maxAbs = Math.max(maxAbs, Math.abs(delta[j]));
      if (maxAbs > maxStep) for (let j = 0; j < p; j++) delta[j] *= maxStep / maxAbs;
      maxScore = 0;
      for (let j = 0; j < p; j++) {
        let ijj = 0;
        for (let k = 0; k <= j; k++) ijj += info[j + k * p] * info[j + k * p];
        maxScore = Math.max(maxScore, Math.abs(score[j]) / Math.sqrt(ijj));
      }
      return delta;
    },
    objective(b) {
      trialLl = evaluate(y, x, n, p, b, eta, mu, w, options.offset);
      return penalised(trialLl);
    },
    improves: (next, current, half) => next > current || (next === current && half === 0),
    converged: (delta) => smallStep(delta, beta, tol) && maxScore < 1e-7,
  });
  const iter = run.iterations;
  let converged = run.outcome === 'converged';
  if (run.outcome === 'stalled') {
    // No ascent left at double precision: β is the maximiser if the score is ~0.
    ll = evaluate(y, x, n, p, beta, eta, mu, w, options.offset);
    penalised(ll);
    converged = maxScore < 1e-5;
  } else ll = trialLl;
  if (!converged) return { ...emptyFit(n, p, 'not_converged', 'firth'), iterations: iter };
  return convergedFit('firth', iter, { beta, mu, w, info }, ll, x, n, p);
}

export type FirthMode = 'fallback' | 'never' | 'always';

/**
 * Wald fit with Firth fallback (PLINK2 `firth-fallback` semantics for one design): Firth is used
 * when `firth` is 'always', or when it is 'fallback' and the ML fit separated or did not converge.
 * `options` apply to the ML fit; Firth always starts from β = 0 with its own defaults.
 */
export function logisticFitWithFallback(
  y: Float64Array,
  x: Float64Array,
  p: number,
  firth: FirthMode = 'fallback',
  options: LogisticFitOptions = {},
): LogisticFit {
  const firthOptions = options.offset ? { offset: options.offset } : {};
  if (firth === 'always') return firthFit(y, x, p, firthOptions);
  const fit = logisticFit(y, x, p, options);
  if (firth === 'fallback' && (fit.status === 'separation' || fit.status === 'not_converged')) {
    const f = firthFit(y, x, p, firthOptions);
    return f.status === 'ok' ? f : { ...f, status: fit.status };
  }
  return fit;
}
