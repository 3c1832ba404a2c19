/**
 * Cox score test of one predictor against a covariates-only null fit, for many predictors per
 * outcome (one null fit per phecode, O(n·c + d·c) per predictor). stats/cox.ts documents the
 * statistic; this file holds the null model and the per-predictor pass.
 */
import {
  type CoxModel,
  type CoxRiskSets,
  type CoxTies,
  coxModel,
  infoCholesky,
  riskSums,
} from './cox-core.js';
import { type CoxStatus, coxNewton } from './cox-fit.js';
import { mlog10PChiSq1, pChiSq1 } from './distributions.js';
import { choleskySolve } from './linalg.js';

export interface CoxNullModel {
  /** 'ok', or why no score test is possible (the null fit's status). */
  status: CoxStatus;
  ties: CoxTies;
  rs: CoxRiskSets;
  /** covariate columns. */
  c: number;
  /** null estimates γ̂ (length c). */
  gamma: Float64Array;
  /** null log partial likelihood. */
  logLik: number;
  iterations: number;
  /** the null design and its state at γ̂ (w, s0_r, x̄_r = covariate means per sub-step, Λ). */
  model: CoxModel;
  /** w_iΛ_i per contributing person. */
  wLam: Float64Array;
  /** w_iΛ_i c_i (nr × c row-major). */
  wLamC: Float64Array;
  /** Cholesky factor of I_γγ (c × c). */
  chol: Float64Array;
}

export interface CoxScoreResult {
  /** 'ok', the null model's status, `monomorphic` (x constant among the persons at risk) or
   * `collinear` (nothing left of x after the covariates: V ≤ 1e-8·I_xx). */
  status: CoxStatus;
  /** efficient score U (after the covariates) and its variance V. */
  u: number;
  v: number;
  chi2: number;
  p: number;
  mlog10p: number;
  /** one-step estimates U/V and 1/√V. */
  beta: number;
  se: number;
}

/** A score test result; NaN statistics unless status is ok. */
export function scoreResult(status: CoxStatus, u = Number.NaN, v = Number.NaN): CoxScoreResult {
  const ok = status === 'ok';
  const chi2 = ok ? (u * u) / v : Number.NaN;
  return {
    status,
    u: ok ? u : Number.NaN,
    v: ok ? v : Number.NaN,
    chi2,
    p: ok ? pChiSq1(chi2) : Number.NaN,
    mlog10p: ok ? mlog10PChiSq1(chi2) : Number.NaN,
    beta: ok ? u / v : Number.NaN,
    se: ok ? 1 / Math.sqrt(v) : Number.NaN,
  };
}

/**
 * Null fit of the covariates (columns, each length n; or their design already built on `rs`,
 * e.g. `coxSubModel` of a full design) and the per-person terms of the test.
 */
export function buildNullModel(
  rs: CoxRiskSets,
  columns: readonly Float64Array[] | CoxModel,
  ties: CoxTies,
  maxIter: number,
  tol: number,
  minEvents: number,
): CoxNullModel {
  const model = Array.isArray(columns) ? coxModel(rs, columns, ties) : (columns as CoxModel);
  if (model.rs !== rs || model.ties !== ties)
    throw new RangeError('buildNullModel: the design is of other risk sets or ties');
  const c = model.p;
  const nr = rs.persons.length;
  const base = {
    ties,
    rs,
    c,
    model,
    wLam: new Float64Array(nr),
    wLamC: new Float64Array(nr * c),
    chol: new Float64Array(c * c),
  };
  if (rs.events < Math.max(1, minEvents))
    return {
      ...base,
      status: 'too_few_events',
      gamma: new Float64Array(c).fill(Number.NaN),
      logLik: Number.NaN,
      iterations: 0,
    };
  const fit = coxNewton(model, undefined, maxIter, tol);
  const gamma = fit.beta;
  const out: CoxNullModel = {
    ...base,
    status: fit.status,
    gamma,
    logLik: model.loglik,
    iterations: fit.iterations,
  };
  if (fit.status !== 'ok') return out;
  const chol = infoCholesky(model);
  if (!chol) return { ...out, status: 'collinear' };
  out.chol = chol;
  const { w, lambda, x } = model;
  for (let r = 0; r < nr; r++) {
    const wl = w[r] * lambda[r];
    out.wLam[r] = wl;
    for (let j = 0; j < c; j++) out.wLamC[r * c + j] = wl * x[r * c + j];
  }
  return out;
}

/**
 * Efficient score test of H0: β_x = 0 with γ at the null estimate:
 *   U = Σ_events x_i − Σ_r x̄_r(x),  I_xx = Σ_r Var_r(x),  I_xc = Σ_r Cov_r(x, c),
 *   V = I_xx − I_xcᵀ I_cc⁻¹ I_xc,  U_eff = U − I_xcᵀ I_cc⁻¹ U_c (U_c ≈ 0 at γ̂),  χ² = U_eff²/V.
 */
export function nullScoreTest(nm: CoxNullModel, x: Float64Array): CoxScoreResult {
  if (nm.status !== 'ok') return scoreResult(nm.status);
  const { rs, c, model } = nm;
  if (x.length !== rs.n) throw new RangeError(`coxScoreTest: x has ${x.length} values, expected ${rs.n}`);
  const nr = rs.persons.length;
  const xr = new Float64Array(nr);
  let mean = 0;
  for (let r = 0; r < nr; r++) {
    const v = x[rs.persons[r]];
    if (!Number.isFinite(v)) throw new RangeError(`coxScoreTest: x is not finite at person ${rs.persons[r]}`);
    xr[r] = v;
    mean += v;
  }
  mean /= nr;
  let constant = true;
  for (let r = 0; r < nr; r++) {
    if (xr[r] !== xr[0]) constant = false;
    xr[r] -= mean;
  }
  if (constant) return scoreResult('monomorphic');
  const T = rs.times.length;
  const S = new Float64Array(T * 2);
  riskSums(rs, model.w, xr, 1, S, new Float64Array(T * 2));
  let u = 0;
  let ixx = 0;
  const ixc = new Float64Array(c);
  for (let r = 0; r < nr; r++) {
    const xv = xr[r];
    const wl = nm.wLam[r];
    ixx += wl * xv * xv;
    for (let j = 0; j < c; j++) ixc[j] += nm.wLamC[r * c + j] * xv;
  }
  const { s0, frac, xbar, w } = model;
  for (let k = 0; k < T; k++) {
    const r0 = rs.stepStart[k];
    const r1 = rs.stepStart[k + 1];
    let d1 = 0;
    for (let r = r0; r < r1; r++) {
      const i = rs.deadIdx[r];
      u += xr[i];
      d1 += w[i] * xr[i];
    }
    for (let r = r0; r < r1; r++) {
      const xb = (S[2 * k + 1] - frac[r] * d1) / s0[r];
      u -= xb;
      ixx -= xb * xb;
      for (let j = 0; j < c; j++) ixc[j] -= xb * xbar[r * c + j];
    }
  }
  let v = ixx;
  let uEff = u;
  if (c > 0) {
    const z = Float64Array.from(ixc);
    choleskySolve(nm.chol, c, z);
    for (let j = 0; j < c; j++) {
      v -= ixc[j] * z[j];
      uEff -= z[j] * model.score[j];
    }
  }
  if (!(ixx > 0)) return scoreResult('monomorphic');
  if (!(v > 1e-8 * ixx)) return scoreResult('collinear');
  return scoreResult('ok', uEff, v);
}
