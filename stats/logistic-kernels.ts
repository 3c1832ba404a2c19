/**
 * Fused one-pass kernels, generated per p (≤ MAX_FUSED_P) and cached: the generic loops below
 * make one pass over the samples per coefficient (η) or per pair of columns (XᵀWX), and each
 * sum is one serial chain of dependent adds; the fused kernels read each sample once and keep
 * the p(p+1)/2 + p sums in independent registers. Every sum still adds the same terms in the
 * same sample order, so the results are bitwise identical to the generic loops (which remain
 * for larger p and as the reference; test/stats checks the two agree exactly).
 */
export const MAX_FUSED_P = 12;

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

type F64 = Float64Array;
/** (x, n, y, μ, w, Cholesky factor, score out) → writes Firth's modified score. */
type FirthScoreKernel = (x: F64, n: number, y: F64, mu: F64, w: F64, chol: F64, score: F64) => void;
const firthScoreKernels = new Map<number, FirthScoreKernel>();

/** Firth's modified score with the Cholesky factor's entries held in locals (see firthScoreGeneric). */
export function firthScoreKernel(p: number): FirthScoreKernel {
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
export function firthScoreGeneric(
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
export function evaluate(
  y: Float64Array,
  x: Float64Array,
  n: number,
  p: number,
  beta: Float64Array,
  eta: Float64Array,
  mu: Float64Array,
  w: Float64Array,
  offset?: Float64Array,
): number {
  if (offset) return evaluateGeneric(y, x, n, p, beta, eta, mu, w, offset);
  if (p <= MAX_FUSED_P) return evaluateKernel(p)(y, x, n, beta, eta, mu, w);
  return evaluateGeneric(y, x, n, p, beta, eta, mu, w);
}

/** XᵀWX into info (p×p, full symmetric). */
export function information(
  x: Float64Array,
  n: number,
  p: number,
  w: Float64Array,
  info: Float64Array,
): void {
  if (p <= MAX_FUSED_P) crossKernel(p, false)(x, n, w, info, null, null, null);
  else informationGeneric(x, n, p, w, info);
}

/** XᵀWX into info and the score Xᵀ(y − μ) into score, in one pass when p is small. */
export function informationAndScore(
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

/**
 * The generic (one pass per coefficient) η, μ, w and ℓ: the reference for the fused kernel, and
 * the path of fits with an offset (η = offset + Xβ; REGENIE's LOCO predictions, logistic-fit.ts).
 */
export function evaluateGeneric(
  y: Float64Array,
  x: Float64Array,
  n: number,
  p: number,
  beta: Float64Array,
  eta: Float64Array,
  mu: Float64Array,
  w: Float64Array,
  offset?: Float64Array,
): number {
  if (offset) eta.set(offset.subarray(0, n));
  else eta.fill(0);
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
