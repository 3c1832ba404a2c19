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
import type { Status } from './status.js';

export interface LogisticFitOptions {
  /** maximum Newton iterations (default 25 for ML, 100 for Firth). */
  maxIter?: number;
  /** relative convergence tolerance on the coefficients (default 1e-8 ML, 1e-9 Firth). */
  tol?: number;
  /** starting coefficients (default 0, intercept-free). */
  init?: Float64Array;
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

/**
 * Fused one-pass kernels, generated per p (≤ MAX_FUSED_P) and cached: the generic loops below
 * make one pass over the samples per coefficient (η) or per pair of columns (XᵀWX), and each
 * sum is one serial chain of dependent adds; the fused kernels read each sample once and keep
 * the p(p+1)/2 + p sums in independent registers. Every sum still adds the same terms in the
 * same sample order, so the results are bitwise identical to the generic loops (which remain
 * for larger p and as the reference; test/stats checks the two agree exactly).
 */
const MAX_FUSED_P = 12;

type EvaluateKernel = (
  y: Float64Array,
  x: Float64Array,
  n: number,
  beta: Float64Array,
  eta: Float64Array,
  mu: Float64Array,
  w: Float64Array,
) => number;
type CrossKernel = (
  x: Float64Array,
  n: number,
  w: Float64Array,
  info: Float64Array,
  y: Float64Array | null,
  mu: Float64Array | null,
  score: Float64Array | null,
) => void;

const evaluateKernels = new Map<number, EvaluateKernel>();
const crossKernels = new Map<string, CrossKernel>();
/** A generated function with a name (so that CPU profiles tell the kernels apart). */
function named(name: string, params: string[], body: string): unknown {
  return new Function(`return function ${name}(${params.join(', ')}) {${body}\n};`)();
}
const range = (p: number) => Array.from({ length: p }, (_, j) => j);

function evaluateKernel(p: number): EvaluateKernel {
  let k = evaluateKernels.get(p);
  if (k) return k;
  const js = range(p);
  // e accumulates b_j·x_ij in column order from +0, as the generic loop's η[i] does (a zero
  // coefficient's term is ±0 there and changes nothing: the generic loop may skip it).
  const body = `
    ${js.map((j) => `const b${j} = beta[${j}], o${j} = ${j} * n;`).join(' ')}
    let ll = 0;
    for (let i = 0; i < n; i++) {
      let e = 0;
      ${js.map((j) => `e += b${j} * x[o${j} + i];`).join(' ')}
      eta[i] = e;
      const t = Math.exp(-Math.abs(e));
      const m = e >= 0 ? 1 / (1 + t) : t / (1 + t);
      mu[i] = m;
      w[i] = m * (1 - m);
      ll += y[i] * e - (Math.max(e, 0) + Math.log1p(t));
    }
    return ll;`;
  k = named(`evaluate_p${p}`, ['y', 'x', 'n', 'beta', 'eta', 'mu', 'w'], body) as EvaluateKernel;
  evaluateKernels.set(p, k);
  return k;
}

function crossKernel(p: number, withScore: boolean): CrossKernel {
  const key = `${p}:${withScore}`;
  let k = crossKernels.get(key);
  if (k) return k;
  const js = range(p);
  const pairs = js.flatMap((j) => range(j + 1).map((l) => [j, l] as const));
  // s_jl = Σ (w_i·x_ij)·x_il (the generic loop's w[i] * x[oj + i] * x[ol + i]);
  // u_j = Σ x_ij·(y_i − μ_i)
  const body = `
    ${js.map((j) => `const o${j} = ${j} * n;`).join(' ')}
    ${pairs.map(([j, l]) => `let s${j}_${l} = 0;`).join(' ')}
    ${withScore ? js.map((j) => `let u${j} = 0;`).join(' ') : ''}
    for (let i = 0; i < n; i++) {
      const wi = w[i];
      ${js.map((j) => `const x${j} = x[o${j} + i]; const t${j} = wi * x${j};`).join(' ')}
      ${pairs.map(([j, l]) => `s${j}_${l} += t${j} * x${l};`).join(' ')}
      ${withScore ? `const r = y[i] - mu[i]; ${js.map((j) => `u${j} += x${j} * r;`).join(' ')}` : ''}
    }
    ${pairs.map(([j, l]) => `info[${j + l * p}] = s${j}_${l}; info[${l + j * p}] = s${j}_${l};`).join(' ')}
    ${withScore ? js.map((j) => `score[${j}] = u${j};`).join(' ') : ''}`;
  k = named(
    `cross_p${p}${withScore ? '_score' : ''}`,
    ['x', 'n', 'w', 'info', 'y', 'mu', 'score'],
    body,
  ) as CrossKernel;
  crossKernels.set(key, k);
  return k;
}

type FirthScoreKernel = (
  x: Float64Array,
  n: number,
  y: Float64Array,
  mu: Float64Array,
  w: Float64Array,
  chol: Float64Array,
  score: Float64Array,
) => void;
const firthScoreKernels = new Map<number, FirthScoreKernel>();

/** Firth's modified score with the Cholesky factor's entries held in locals (see firthScoreGeneric). */
function firthScoreKernel(p: number): FirthScoreKernel {
  let k = firthScoreKernels.get(p);
  if (k) return k;
  const js = range(p);
  const body = `
    ${js
      .map((j) =>
        range(j + 1)
          .map((l) => `const L${j}_${l} = chol[${j + l * p}];`)
          .join(' '),
      )
      .join(' ')}
    ${js.map((j) => `const o${j} = ${j} * n; let u${j} = 0;`).join(' ')}
    for (let i = 0; i < n; i++) {
      ${js
        .map(
          (j) =>
            `const x${j} = x[o${j} + i]; let s${j} = x${j}; ${range(j)
              .map((l) => `s${j} -= L${j}_${l} * v${l};`)
              .join(' ')} const v${j} = s${j} / L${j}_${j};`,
        )
        .join(' ')}
      let h = 0;
      ${js.map((j) => `h += v${j} * v${j};`).join(' ')}
      h *= w[i];
      const m = mu[i];
      const resid = y[i] - m + h * (0.5 - m);
      ${js.map((j) => `u${j} += resid * x${j};`).join(' ')}
    }
    ${js.map((j) => `score[${j}] = u${j};`).join(' ')}`;
  k = named(`firthScore_p${p}`, ['x', 'n', 'y', 'mu', 'w', 'chol', 'score'], body) as FirthScoreKernel;
  firthScoreKernels.set(p, k);
  return k;
}

/**
 * Firth's modified score U*_j = Σ_i (y_i − μ_i + h_i(½ − μ_i)) x_ij, with the hat-matrix
 * diagonal h_i = w_i ‖L⁻¹x_i‖² (`chol` holds the Cholesky factor L of XᵀWX).
 */
function firthScoreGeneric(
  x: Float64Array,
  n: number,
  p: number,
  y: Float64Array,
  mu: Float64Array,
  w: Float64Array,
  chol: Float64Array,
  v: Float64Array,
  score: Float64Array,
): void {
  score.fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) {
      let s = x[j * n + i];
      for (let k = 0; k < j; k++) s -= chol[j + k * p] * v[k];
      v[j] = s / chol[j + j * p];
    }
    let h = 0;
    for (let j = 0; j < p; j++) h += v[j] * v[j];
    h *= w[i];
    const resid = y[i] - mu[i] + h * (0.5 - mu[i]);
    for (let j = 0; j < p; j++) score[j] += resid * x[j * n + i];
  }
}

/** η = Xβ, μ, w and ℓ; returns ℓ. */
function evaluate(
  y: Float64Array,
  x: Float64Array,
  n: number,
  p: number,
  beta: Float64Array,
  eta: Float64Array,
  mu: Float64Array,
  w: Float64Array,
): number {
  if (p <= MAX_FUSED_P) return evaluateKernel(p)(y, x, n, beta, eta, mu, w);
  return evaluateGeneric(y, x, n, p, beta, eta, mu, w);
}

/** XᵀWX into info (p×p, full symmetric). */
function information(x: Float64Array, n: number, p: number, w: Float64Array, info: Float64Array): void {
  if (p <= MAX_FUSED_P) crossKernel(p, false)(x, n, w, info, null, null, null);
  else informationGeneric(x, n, p, w, info);
}

/** XᵀWX into info and the score Xᵀ(y − μ) into score, in one pass when p is small. */
function informationAndScore(
  x: Float64Array,
  n: number,
  p: number,
  w: Float64Array,
  info: Float64Array,
  y: Float64Array,
  mu: Float64Array,
  score: Float64Array,
): void {
  if (p <= MAX_FUSED_P) {
    crossKernel(p, true)(x, n, w, info, y, mu, score);
    return;
  }
  informationGeneric(x, n, p, w, info);
  scoreGeneric(x, n, p, y, mu, score);
}

/** The generic (one pass per coefficient) η, μ, w and ℓ: the reference for the fused kernel. */
export function evaluateGeneric(
  y: Float64Array,
  x: Float64Array,
  n: number,
  p: number,
  beta: Float64Array,
  eta: Float64Array,
  mu: Float64Array,
  w: Float64Array,
): number {
  eta.fill(0);
  for (let j = 0; j < p; j++) {
    const b = beta[j];
    if (b === 0) continue;
    const off = j * n;
    for (let i = 0; i < n; i++) eta[i] += b * x[off + i];
  }
  let ll = 0;
  for (let i = 0; i < n; i++) {
    // one exp per sample: t = e^{−|η|} ∈ (0, 1]; μ and log(1 + e^η) from t without overflow
    const e = eta[i];
    const t = Math.exp(-Math.abs(e));
    const m = e >= 0 ? 1 / (1 + t) : t / (1 + t);
    mu[i] = m;
    w[i] = m * (1 - m);
    ll += y[i] * e - (Math.max(e, 0) + Math.log1p(t));
  }
  return ll;
}

/** The generic (one pass per pair of columns) XᵀWX: the reference for the fused kernel. */
export function informationGeneric(
  x: Float64Array,
  n: number,
  p: number,
  w: Float64Array,
  info: Float64Array,
): void {
  for (let j = 0; j < p; j++) {
    const oj = j * n;
    for (let l = 0; l <= j; l++) {
      const ol = l * n;
      let s = 0;
      for (let i = 0; i < n; i++) s += w[i] * x[oj + i] * x[ol + i];
      info[j + l * p] = s;
      info[l + j * p] = s;
    }
  }
}

function scoreGeneric(
  x: Float64Array,
  n: number,
  p: number,
  y: Float64Array,
  mu: Float64Array,
  score: Float64Array,
): void {
  for (let j = 0; j < p; j++) {
    const off = j * n;
    let s = 0;
    for (let i = 0; i < n; i++) s += x[off + i] * (y[i] - mu[i]);
    score[j] = s;
  }
}

/** The fused kernels of `evaluate` and `information`, exported for the exactness test. */
export const fusedKernels = {
  evaluate: (
    y: Float64Array,
    x: Float64Array,
    n: number,
    p: number,
    beta: Float64Array,
    eta: Float64Array,
    mu: Float64Array,
    w: Float64Array,
  ) => evaluateKernel(p)(y, x, n, beta, eta, mu, w),
  informationAndScore: (
    x: Float64Array,
    n: number,
    p: number,
    w: Float64Array,
    info: Float64Array,
    y: Float64Array,
    mu: Float64Array,
    score: Float64Array,
  ) => crossKernel(p, true)(x, n, w, info, y, mu, score),
  firthScore: (
    x: Float64Array,
    n: number,
    p: number,
    y: Float64Array,
    mu: Float64Array,
    w: Float64Array,
    chol: Float64Array,
    score: Float64Array,
  ) => firthScoreKernel(p)(x, n, y, mu, w, chol, score),
  maxP: MAX_FUSED_P,
};
export { firthScoreGeneric };

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

/**
 * Maximum-likelihood logistic regression of y (0/1) on the columns of X (n×p, column-major), with
 * Wald statistics for every coefficient. See the module comment for the algorithm and statuses.
 */
export function logisticFit(
  y: Float64Array,
  x: Float64Array,
  p: number,
  options: LogisticFitOptions = {},
): LogisticFit {
  const n = y.length;
  const bad = validate(y, x, p, 'logisticFit');
  if (bad) return emptyFit(n, p, bad, 'wald');
  const maxIter = options.maxIter ?? 25;
  const tol = options.tol ?? 1e-8;
  const beta = options.init ? Float64Array.from(options.init) : new Float64Array(p);
  const eta = new Float64Array(n);
  const mu = new Float64Array(n);
  const w = new Float64Array(n);
  const info = new Float64Array(p * p);
  const score = new Float64Array(p);
  const trial = new Float64Array(p);
  let ll = evaluate(y, x, n, p, beta, eta, mu, w);
  let converged = false;
  let iter = 0;
  while (iter < maxIter) {
    iter++;
    informationAndScore(x, n, p, w, info, y, mu, score);
    if (!cholesky(info, p)) {
      // singular at the start: collinear design; later: the weights of the samples that a
      // column separates collapsed towards 0 as β diverged (separation)
      const status: Status = iter === 1 ? 'collinear' : 'separation';
      return { ...emptyFit(n, p, status, 'wald'), iterations: iter };
    }
    const delta = Float64Array.from(score);
    choleskySolve(info, p, delta);
    let llNew = Number.NEGATIVE_INFINITY;
    for (let half = 0; half <= 20; half++) {
      for (let j = 0; j < p; j++) trial[j] = beta[j] + delta[j];
      llNew = evaluate(y, x, n, p, trial, eta, mu, w);
      if (llNew >= ll - 1e-12 * Math.abs(ll)) break;
      for (let j = 0; j < p; j++) delta[j] /= 2;
    }
    beta.set(trial);
    ll = llNew;
    let small = true;
    for (let j = 0; j < p; j++) if (Math.abs(delta[j]) > tol * (1 + Math.abs(beta[j]))) small = false;
    if (small) {
      converged = true;
      break;
    }
  }
  let extreme = false;
  for (let i = 0; i < n; i++) if (Math.abs(eta[i]) > 15) extreme = true;
  if (!converged) {
    return { ...emptyFit(n, p, extreme ? 'separation' : 'not_converged', 'wald'), iterations: iter };
  }
  const fit = emptyFit(n, p, 'ok', 'wald');
  fit.converged = true;
  fit.iterations = iter;
  fit.beta.set(beta);
  fit.logLik = ll;
  fit.fitted.set(mu);
  return finish(fit, x, n, p, w, info);
}

/**
 * Firth-penalised logistic regression (bias-reduced; finite under separation). Same inputs and
 * output as `logisticFit`, with `test: 'firth'`.
 */
export function firthFit(
  y: Float64Array,
  x: Float64Array,
  p: number,
  options: LogisticFitOptions = {},
): LogisticFit {
  const n = y.length;
  const bad = validate(y, x, p, 'firthFit');
  if (bad) return emptyFit(n, p, bad, 'firth');
  const maxIter = options.maxIter ?? 100;
  const tol = options.tol ?? 1e-9;
  const maxStep = 5;
  const beta = options.init ? Float64Array.from(options.init) : new Float64Array(p);
  const eta = new Float64Array(n);
  const mu = new Float64Array(n);
  const w = new Float64Array(n);
  const info = new Float64Array(p * p);
  const trial = new Float64Array(p);
  const v = new Float64Array(p);
  const score = new Float64Array(p);

  // penalised log-likelihood at the current evaluate() state; leaves the Cholesky factor in info
  const penalised = (ll: number): number => {
    information(x, n, p, w, info);
    if (!cholesky(info, p)) return Number.NaN;
    return ll + 0.5 * choleskyLogDet(info, p);
  };

  let ll = evaluate(y, x, n, p, beta, eta, mu, w);
  let pll = penalised(ll);
  if (Number.isNaN(pll)) return emptyFit(n, p, 'collinear', 'firth');
  let converged = false;
  let iter = 0;
  while (iter < maxIter) {
    iter++;
    // modified score with hat-matrix diagonal h_i = w_i ‖L⁻¹x_i‖² (info holds L here)
    if (p <= MAX_FUSED_P) firthScoreKernel(p)(x, n, y, mu, w, info, score);
    else firthScoreGeneric(x, n, p, y, mu, w, info, v, score);
    const delta = Float64Array.from(score);
    choleskySolve(info, p, delta);
    let maxAbs = 0;
    for (let j = 0; j < p; j++) maxAbs = Math.max(maxAbs, Math.abs(delta[j]));
    if (maxAbs > maxStep) for (let j = 0; j < p; j++) delta[j] *= maxStep / maxAbs;
    // score in standard-error units: |U*_j| / √I_jj (I_jj = Σ_k L_jk², info holds L)
    let maxScore = 0;
    for (let j = 0; j < p; j++) {
      let ijj = 0;
      for (let k = 0; k <= j; k++) ijj += info[j + k * p] * info[j + k * p];
      maxScore = Math.max(maxScore, Math.abs(score[j]) / Math.sqrt(ijj));
    }
    // Step-halving on ℓ* with strict ascent: the step I⁻¹U* ignores ∂h/∂β and can overshoot
    // (e.g. a singleton carrier), oscillating around the optimum unless halved.
    let pllNew = Number.NaN;
    let llNew = Number.NaN;
    let improved = false;
    for (let half = 0; half <= 40; half++) {
      let moved = false;
      for (let j = 0; j < p; j++) {
        trial[j] = beta[j] + delta[j];
        if (trial[j] !== beta[j]) moved = true;
      }
      // A step below half an ulp of every β_j leaves β unchanged, so ℓ* cannot increase, nor
      // can it for the smaller steps after: stop halving (the outcome is the same, sooner).
      if (!moved && half > 0) break;
      llNew = evaluate(y, x, n, p, trial, eta, mu, w);
      pllNew = penalised(llNew);
      if (pllNew > pll || (pllNew === pll && half === 0)) {
        improved = true;
        break;
      }
      for (let j = 0; j < p; j++) delta[j] /= 2;
    }
    if (!improved) {
      // No ascent left at double precision: β is the maximiser if the score is ~0.
      evaluate(y, x, n, p, beta, eta, mu, w);
      penalised(ll);
      converged = maxScore < 1e-5;
      break;
    }
    beta.set(trial);
    ll = llNew;
    pll = pllNew;
    let small = true;
    for (let j = 0; j < p; j++) if (Math.abs(delta[j]) > tol * (1 + Math.abs(beta[j]))) small = false;
    if (small && maxScore < 1e-7) {
      converged = true;
      break;
    }
  }
  if (!converged) return { ...emptyFit(n, p, 'not_converged', 'firth'), iterations: iter };
  const fit = emptyFit(n, p, 'ok', 'firth');
  fit.converged = true;
  fit.iterations = iter;
  fit.beta.set(beta);
  fit.logLik = ll;
  fit.fitted.set(mu);
  return finish(fit, x, n, p, w, info);
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
  if (firth === 'always') return firthFit(y, x, p);
  const fit = logisticFit(y, x, p, options);
  if (firth === 'fallback' && (fit.status === 'separation' || fit.status === 'not_converged')) {
    const f = firthFit(y, x, p);
    return f.status === 'ok' ? f : { ...f, status: fit.status };
  }
  return fit;
}
