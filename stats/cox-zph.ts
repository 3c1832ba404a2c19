/**
 * The proportional-hazards check of a Cox fit: the score test for time-varying coefficients
 * β_j + θ_j g(t) at θ = 0 (Grambsch & Therneau 1994), as R survival ≥ 3.0 `cox.zph` computes it.
 * stats/cox.ts documents the statistic.
 */
import { type CoxModel, evaluate, infoCholesky, momentSum, personSums } from './cox-core.js';
import type { CoxStatus } from './cox-fit.js';
import { pChiSq, pChiSq1 } from './distributions.js';
import { cholesky, choleskySolve } from './linalg.js';

export interface CoxZph {
  /** 'ok', or `collinear` when the information (or its Schur complement) is singular. */
  status: CoxStatus;
  /** R's default time transform: g(t) = 1 − S_KM(t−), centred over the events. */
  transform: 'km';
  /** per coefficient (1 df each): χ² and p. */
  chi2: Float64Array;
  p: Float64Array;
  /** all coefficients jointly (df = number of coefficients). */
  globalChi2: number;
  globalDf: number;
  globalP: number;
}

/** g(τ_k) = 1 − S_KM(τ_k−), centred at its mean over the events. */
function kmTransform(m: CoxModel): Float64Array {
  const { rs } = m;
  const T = rs.times.length;
  const g = new Float64Array(T);
  let surv = 1;
  let mean = 0;
  for (let k = 0; k < T; k++) {
    const deaths = rs.stepStart[k + 1] - rs.stepStart[k];
    g[k] = 1 - surv;
    mean += deaths * g[k];
    surv *= 1 - deaths / rs.nRisk[k];
  }
  mean /= rs.events;
  for (let k = 0; k < T; k++) g[k] -= mean;
  return g;
}

/** A test that could not be done (NaN statistics) for p coefficients. */
export function emptyZph(p: number, status: CoxStatus = 'collinear'): CoxZph {
  return {
    status,
    transform: 'km',
    chi2: new Float64Array(p).fill(Number.NaN),
    p: new Float64Array(p).fill(Number.NaN),
    globalChi2: Number.NaN,
    globalDf: p,
    globalP: Number.NaN,
  };
}

/** The cox.zph test at β (the fit's estimate) on the fit's design. */
export function zphTest(m: CoxModel, beta: Float64Array): CoxZph {
  const p = m.p;
  const nan = () => emptyZph(p);
  evaluate(m, beta);
  const l11 = infoCholesky(m);
  if (!l11 || p === 0) return nan();
  const { rs, x, xbar } = m;
  const T = rs.times.length;
  const g = kmTransform(m);
  // U2_j = Σ_k g_k Σ_{r ∈ k} (x_{dead(r) j} − x̄_rj)
  const u2 = new Float64Array(p);
  for (let k = 0; k < T; k++) {
    for (let r = rs.stepStart[k]; r < rs.stepStart[k + 1]; r++) {
      const i = rs.deadIdx[r];
      for (let j = 0; j < p; j++) u2[j] += g[k] * (x[i * p + j] - xbar[r * p + j]);
    }
  }
  const g2 = Float64Array.from(g, (v) => v * v);
  const nr = rs.persons.length;
  const lam = new Float64Array(nr);
  const i12 = new Float64Array(p * p);
  const i22 = new Float64Array(p * p);
  personSums(m, null, g, 1, lam);
  momentSum(m, lam, g, i12);
  personSums(m, null, g2, 1, lam);
  momentSum(m, lam, g2, i22);
  // Schur complement S = I22 − I21 I11⁻¹ I12 (I12 is symmetric: I21 = I12)
  const schur = Float64Array.from(i22);
  const col = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    col.set(i12.subarray(j * p, (j + 1) * p));
    choleskySolve(l11, p, col);
    for (let a = 0; a < p; a++) {
      let s = 0;
      for (let b = 0; b < p; b++) s += i12[a * p + b] * col[b];
      schur[j * p + a] -= s;
    }
  }
  const out = nan();
  for (let j = 0; j < p; j++) {
    const sjj = schur[j * p + j];
    if (!(sjj > 0)) return out;
    out.chi2[j] = (u2[j] * u2[j]) / sjj;
    out.p[j] = pChiSq1(out.chi2[j]);
  }
  if (!cholesky(schur, p)) return out;
  const z = Float64Array.from(u2);
  choleskySolve(schur, p, z);
  let chi2 = 0;
  for (let j = 0; j < p; j++) chi2 += u2[j] * z[j];
  out.status = 'ok';
  out.globalChi2 = chi2;
  out.globalP = pChiSq(chi2, p);
  return out;
}
