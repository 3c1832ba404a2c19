/**
 * Newton–Raphson maximisation of the Cox partial likelihood and of Firth's penalised partial
 * likelihood on a prepared design (stats/cox-core.ts); stats/cox.ts documents the formulas, the
 * convergence rules and the statuses, and wraps these into the public `coxFit`.
 */
import { type CoxModel, evaluate, infoCholesky, newtonStep, personSums } from './cox-core.js';
import { choleskyInverse, choleskyLogDet, choleskySolve } from './linalg.js';
import { newtonAscent, smallStep } from './newton.js';

export type CoxStatus =
  | 'ok'
  /** the predictor takes one value among the persons at risk at an event time. */
  | 'monomorphic'
  /** the information matrix is singular at the start: a covariate (or the predictor) is constant
   * among the persons at risk, or a linear combination of the others. */
  | 'collinear'
  /** fewer events than the minimum (default 1). */
  | 'too_few_events'
  /** the partial likelihood has no finite maximum: a linear combination of the columns ranks
   * every event first in its risk set (Heinze & Schemper 2001); β diverges. */
  | 'monotone_likelihood'
  /** iterations exhausted otherwise. */
  | 'not_converged';

export interface NewtonResult {
  status: CoxStatus;
  iterations: number;
  beta: Float64Array;
  /** log PL at the starting β. */
  logLikInit: number;
  /** ℓ + ½ log|I| at β̂ (Firth only; NaN for ML). */
  penalised: number;
}

/** Re-evaluates the model at β unless its state already is there. */
function ensureAt(m: CoxModel, at: Float64Array, beta: Float64Array): void {
  let same = true;
  for (let j = 0; j < beta.length; j++) if (at[j] !== beta[j]) same = false;
  if (!same) evaluate(m, beta);
}

/** max_j |U_j| / √I_jj at the current state (the score in standard-error units). */
function scaledScore(m: CoxModel, u: Float64Array): number {
  let s = 0;
  for (let j = 0; j < m.p; j++) s = Math.max(s, Math.abs(u[j]) / Math.sqrt(m.info[j * m.p + j]));
  return s;
}

/**
 * Maximum partial likelihood by Newton–Raphson from `init` (default 0). Step halving (up to 20
 * times) while ℓ decreases; converged when every |δ_j| ≤ tol·(1 + |β_j|). Leaves the model
 * state at the returned β when the status is ok.
 */
export function coxNewton(m: CoxModel, init: Float64Array | undefined, maxIter: number, tol: number) {
  const p = m.p;
  const beta = init ? Float64Array.from(init) : new Float64Array(p);
  const at = Float64Array.from(beta);
  const logLikInit = evaluate(m, beta);
  const result = (status: CoxStatus, iterations: number): NewtonResult => ({
    status,
    iterations,
    beta,
    logLikInit,
    penalised: Number.NaN,
  });
  if (!Number.isFinite(logLikInit)) return result('not_converged', 0);
  if (p === 0) return result('ok', 0);
  if (!infoCholesky(m)) return result('collinear', 0);
  let gain = Number.POSITIVE_INFINITY;
  let plateau = 0;
  let move = 0;
  let monotone = false;
  const run = newtonAscent(beta, new Float64Array(p), logLikInit, {
    maxIter,
    maxHalvings: 20,
    acceptUnimproved: false,
    stopWhenUnmoved: false,
    step() {
      // the full Newton step in linear-predictor SD units, max_j |δ_j| (unit-SD columns)
      const delta = newtonStep(m);
      move = 0;
      if (delta) for (let j = 0; j < p; j++) move = Math.max(move, Math.abs(delta[j]));
      return delta;
    },
    objective(b) {
      at.set(b);
      return evaluate(m, b);
    },
    improves(next, current) {
      gain = next - current;
      return next >= current - 1e-12 * Math.abs(current);
    },
    converged(delta) {
      if (smallStep(delta, beta, tol)) return true;
      // ℓ no longer moves while the full Newton steps of the linear predictor stay large: a
      // monotone likelihood (a regular maximum is reached quadratically, with steps that shrink
      // with the gain, so this cannot last three iterations there)
      plateau = gain <= 1e-10 * (1 + Math.abs(m.loglik)) && move > 1e-3 ? plateau + 1 : 0;
      if (plateau >= 3) monotone = true;
      return monotone;
    },
  });
  const iter = run.iterations;
  if (monotone || run.outcome === 'singular') return result('monotone_likelihood', iter);
  if (run.outcome === 'converged') {
    ensureAt(m, at, beta);
    return result('ok', iter);
  }
  ensureAt(m, at, beta);
  // no step improves ℓ at double precision: converged if the score is ~0 and the step tiny
  const flat = Number.isFinite(m.loglik) && infoCholesky(m) !== null && scaledScore(m, m.score) < 1e-6;
  if (run.outcome === 'stalled' && flat && move <= 1e-3) return result('ok', iter);
  // exhausted (or stalled away from a maximum): diverging if ℓ had stopped improving
  const diverging = gain <= 1e-6 * (1 + Math.abs(m.loglik)) && move > 1e-3;
  return result(diverging ? 'monotone_likelihood' : 'not_converged', iter);
}

/**
 * Firth's modified score (Heinze & Schemper 2001, eq. 2): U*_j = U_j + ½ tr(I⁻¹ ∂I/∂β_j), at
 * the model's current state, with A = I⁻¹. ∂I/∂β_j = Σ_r E_r[y yᵀ y_j] (third central moments,
 * y = x − x̄_r), so with q = xᵀAx and v_r = A x̄_r:
 *   tr(A ∂I/∂β_j) = Σ_r E_r[q x_j] − 2 (E_r[x xᵀ] v_r)_j + 2 (x̄_rᵀ v_r) x̄_rj − x̄_rj E_r[q],
 * each Σ_r E_r[·] evaluated by per-person sums (cox-core.ts `personSums`): O(n p² + d p²).
 */
export function firthScore(m: CoxModel, a: Float64Array): Float64Array {
  const { p, x, w, xbar, rs, lambda } = m;
  const nr = rs.persons.length;
  const d = rs.events;
  const q = new Float64Array(nr);
  const t1 = new Float64Array(p);
  const ax = new Float64Array(p);
  for (let r = 0; r < nr; r++) {
    const base = r * p;
    let qi = 0;
    for (let i = 0; i < p; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += a[i * p + j] * x[base + j];
      ax[i] = s;
      qi += x[base + i] * s;
    }
    q[r] = qi;
    const c = w[r] * lambda[r] * qi;
    for (let j = 0; j < p; j++) t1[j] += c * x[base + j];
  }
  const v = new Float64Array(d * p);
  const t3 = new Float64Array(p);
  for (let r = 0; r < d; r++) {
    const base = r * p;
    let dot = 0;
    for (let i = 0; i < p; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += a[i * p + j] * xbar[base + j];
      v[base + i] = s;
      dot += xbar[base + i] * s;
    }
    for (let j = 0; j < p; j++) t3[j] += 2 * dot * xbar[base + j];
  }
  const gam = new Float64Array(nr * p);
  const psi = new Float64Array(nr * p);
  personSums(m, v, null, p, gam);
  personSums(m, xbar, null, p, psi);
  const t2 = new Float64Array(p);
  const t4 = new Float64Array(p);
  for (let r = 0; r < nr; r++) {
    const base = r * p;
    let xg = 0;
    for (let j = 0; j < p; j++) xg += x[base + j] * gam[base + j];
    const c2 = w[r] * xg;
    const c4 = w[r] * q[r];
    for (let j = 0; j < p; j++) {
      t2[j] += c2 * x[base + j];
      t4[j] += c4 * psi[base + j];
    }
  }
  const u = Float64Array.from(m.score);
  for (let j = 0; j < p; j++) u[j] += 0.5 * (t1[j] - 2 * t2[j] + t3[j] - t4[j]);
  return u;
}

/**
 * Firth-penalised fit: Newton ascent on ℓ*(β) = ℓ(β) + ½ log|I(β)| with steps δ = I⁻¹U*
 * (U* the modified score; I, not the Hessian of ℓ*, as Heinze & Schemper and logistf), the
 * largest |δ_j| capped at 2 SDs of its column, halved until ℓ* strictly increases. Converged when every
 * |δ_j| ≤ tol·(1 + |β_j|) and max_j |U*_j|/√I_jj ≤ 1e-7, or when no step increases ℓ* in double
 * precision and that scaled score is ≤ 1e-5.
 */
export function coxFirthNewton(m: CoxModel, maxIter: number, tol: number): NewtonResult {
  const p = m.p;
  const beta = new Float64Array(p);
  const at = Float64Array.from(beta);
  const maxStep = 2; // in SD units of the (unit-SD) columns
  let chol: Float64Array | null = null;
  const penalised = (b: Float64Array): number => {
    at.set(b);
    const ll = evaluate(m, b);
    chol = Number.isFinite(ll) ? infoCholesky(m) : null;
    return chol ? ll + 0.5 * choleskyLogDet(chol, p) : Number.NaN;
  };
  const start = penalised(beta);
  const logLikInit = m.loglik;
  const result = (status: CoxStatus, iterations: number, pen: number): NewtonResult => ({
    status,
    iterations,
    beta,
    logLikInit,
    penalised: pen,
  });
  if (Number.isNaN(start))
    return result(Number.isFinite(logLikInit) ? 'collinear' : 'not_converged', 0, start);
  let maxScore = Number.POSITIVE_INFINITY;
  const run = newtonAscent(beta, new Float64Array(p), start, {
    maxIter,
    maxHalvings: 40,
    acceptUnimproved: false,
    stopWhenUnmoved: true,
    step() {
      const l = chol as Float64Array | null;
      if (!l) return null;
      const u = firthScore(m, choleskyInverse(l, p));
      maxScore = scaledScore(m, u);
      const delta = Float64Array.from(u);
      choleskySolve(l, p, delta);
      let maxAbs = 0;
      for (let j = 0; j < p; j++) maxAbs = Math.max(maxAbs, Math.abs(delta[j]));
      if (maxAbs > maxStep) for (let j = 0; j < p; j++) delta[j] *= maxStep / maxAbs;
      return delta;
    },
    objective: penalised,
    improves: (next, current, half) => next > current || (next === current && half === 0),
    converged: (delta) => smallStep(delta, beta, tol) && maxScore < 1e-7,
  });
  let converged = run.outcome === 'converged';
  let pen = run.objective;
  if (run.outcome === 'stalled') {
    pen = penalised(beta);
    const l = chol as Float64Array | null;
    converged = l !== null && scaledScore(m, firthScore(m, choleskyInverse(l, p))) < 1e-5;
  } else ensureAt(m, at, beta);
  return result(converged ? 'ok' : 'not_converged', run.iterations, pen);
}
