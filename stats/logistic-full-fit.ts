/**
 * The full fit of one variant in the logistic GWAS (step 3–4 of logistic.ts): an ML fit of y on
 * [Z, g] over the called samples, or Firth's penalised fit, after a VIF check of the genotype.
 */
import { spdSolve } from './linalg.js';
import type { LogisticModel } from './logistic.js';
import { firthFit, type LogisticFit, logisticFit } from './logistic-fit.js';
import { type AssocColumns, STATUS_CODE, setStatusRow, TEST_CODE } from './status.js';

/** ML fit (or Firth) of y on [Z, g] over the called samples, starting from the null estimates. */
export function fullFit(
  model: LogisticModel,
  g: Uint8Array | Float32Array,
  out: AssocColumns,
  r: number,
  subset: boolean,
  mean: number,
  nObs: number,
  zeroCell: boolean,
): void {
  const { q, n, pos, opts } = model;
  const p = q + 1;
  const keep = new Int32Array(nObs);
  let t = 0;
  for (let i = 0; i < n; i++) {
    const gi = g[pos[i]];
    const missing = g instanceof Uint8Array ? gi === 255 : Number.isNaN(gi);
    if (missing && subset) continue;
    keep[t++] = i;
  }
  const ns = t;
  const y = new Float64Array(ns);
  const x = new Float64Array(ns * p);
  const offset = opts.offset ? new Float64Array(ns) : undefined;
  let gSum = 0;
  let gSq = 0;
  // Qᵀg over the kept samples and A = QᵀQ over them (I minus the dropped samples' outer products),
  // for the genotype's residual sum of squares after the covariates: gᵀg − (Qᵀg)ᵀA⁻¹(Qᵀg)
  const qb = model.zBasis;
  const qg = new Float64Array(q);
  for (let s = 0; s < ns; s++) {
    const i = keep[s];
    y[s] = model.y[i];
    if (offset) offset[s] = (opts.offset as Float64Array)[i];
    for (let j = 0; j < q; j++) x[j * ns + s] = model.z[j * n + i];
    const gi = g[pos[i]];
    const val = g instanceof Uint8Array ? (gi === 255 ? mean : gi) : Number.isNaN(gi) ? mean : gi;
    x[q * ns + s] = val;
    gSum += val;
    gSq += val * val;
    for (let j = 0; j < q; j++) qg[j] += qb[j * n + i] * val;
  }
  const a = new Float64Array(q * q);
  for (let j = 0; j < q; j++) a[j + j * q] = 1;
  if (ns < n) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      if (s < ns && keep[s] === i) {
        s++;
        continue;
      }
      for (let j = 0; j < q; j++) for (let l = 0; l < q; l++) a[j + l * q] -= qb[j * n + i] * qb[l * n + i];
    }
  }
  // VIF of the genotype given the covariates (same rule as the linear test)
  const sol = spdSolve(a, q, qg);
  let resid = Number.NaN;
  if (sol) {
    resid = gSq;
    for (let j = 0; j < q; j++) resid -= qg[j] * sol[j];
  }
  const ssC = gSq - (gSum * gSum) / ns;
  if (!(resid > 1e-9 * gSq) || ssC / resid > opts.maxVif) {
    setStatusRow(out, r, 'collinear', nObs);
    return;
  }
  const init = new Float64Array(p);
  init.set(model.nullFit.beta.subarray(0, q));
  const options = offset ? { init, offset } : { init };
  let fit: LogisticFit;
  if (opts.firth === 'always' || (zeroCell && opts.firth === 'fallback')) {
    fit = firthFit(y, x, p, options);
  } else {
    fit = logisticFit(y, x, p, options);
    if (opts.firth === 'fallback' && (fit.status === 'separation' || fit.status === 'not_converged')) {
      const f = firthFit(y, x, p, options);
      fit = f.status === 'ok' ? f : { ...f, status: fit.status };
    }
  }
  if (fit.status !== 'ok') {
    setStatusRow(out, r, fit.status, nObs);
    return;
  }
  out.beta[r] = fit.beta[q];
  out.se[r] = fit.se[q];
  out.stat[r] = fit.z[q];
  out.p[r] = fit.pValue[q];
  out.mlog10p[r] = fit.mlog10p[q];
  out.nObs[r] = nObs;
  out.status[r] = STATUS_CODE.ok;
  out.test[r] = fit.test === 'firth' ? TEST_CODE.firth : TEST_CODE.wald;
}
