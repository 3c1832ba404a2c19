/**
 * GWAS linear regression of quantitative traits on one variant at a time, with covariates, as
 * PLINK2 `--glm` (no interaction terms) computes it.
 *
 * Model (per variant, per trait k):
 *     y_k = α + C γ + g β + ε,   ε ~ N(0, σ² I)
 * with C the n×c covariate matrix, g the ALT-allele count (0/1/2) or dosage. Let Z = [1, C]
 * (q = rank(Z) columns, normally c + 1). The test of H0: β = 0 uses
 *     t = β̂ / SE(β̂) ~ Student t with df = n − q − 1
 * where n is the number of samples with a call for the variant: df = n − (c + 1) − 1, i.e.
 * n − k − 1 with k = c + 1 non-intercept predictors (covariates plus the genotype).
 *
 * Computation (Frisch–Waugh–Lovell): an orthonormal basis Q of Z is computed once (Gram–Schmidt),
 * together with the residualised traits ỹ_k = y_k − Q Qᵀ y_k. Per variant one scan of the
 * genotypes gives Qᵀg, gᵀỹ_k, gᵀg, Σg; then
 *     β̂ = gᵀỹ / (gᵀg − ‖Qᵀg‖²),   RSS = ỹᵀỹ − β̂ · gᵀỹ,   SE = √(RSS/df / (gᵀg − ‖Qᵀg‖²)).
 * Cost: one pass over the genotype bytes per variant (kernel.ts: q + K + 1 multiply–adds per
 * call, or per non-reference call for rare variants); K traits that share the same sample set are
 * tested in the same pass. Σg and Σg² come from the intercept column Q_0 = 1/√n.
 *
 * Missing genotype calls:
 *   - `missing: 'drop'` (default, as PLINK2): samples without a call are removed for that variant
 *     and the regression is exact on the remaining subset S. The full-sample sums are corrected
 *     with the few missing samples M: QᵀQ over S = I − Σ_M q_i q_iᵀ, Qᵀỹ over S = −Σ_M q_i ỹ_i,
 *     ỹᵀỹ over S = ỹᵀỹ − Σ_M ỹ_i², and the genotype term is partialled out with the q×q system
 *     A = QᵀQ_S (cost O(|M| q² + q³), no second pass). df = |S| − q − 1.
 *   - `missing: 'mean'`: a missing call is replaced by the mean of the called genotypes of that
 *     variant (among samples in the analysis); all samples are kept, df = n − q − 1.
 *
 * Edge cases give a status (see status.ts), never a NaN row without reason:
 *   - `all_missing`: no called sample;  `monomorphic`: all called genotypes equal;
 *   - `collinear`: covariates linearly dependent (detected once, every row gets it), or the
 *     covariate matrix on the called subset becomes singular, or the genotype's variance
 *     inflation factor VIF = Σ(g−ḡ)² / (gᵀg − gᵀQ A⁻¹ Qᵀg) exceeds `maxVif` (default 50, PLINK2's
 *     `--vif` default);
 *   - `too_few_samples`: df < 1;  `perfect_fit`: RSS ≤ 0.
 *
 * Input: traits and covariates as Float64Array without NaN (select complete cases first; traits
 * tested together must share the sample set). Genotypes are indexed by the release's sample_idx;
 * `sampleIdx[j]` maps analysis sample j to its genotype position.
 *
 * References: Frisch & Waugh (1933), Lovell (1963) for the partialling-out identity; Chang et al.
 * (2015) GigaScience 4:7 (PLINK 2); Hail `linear_regression_rows` (hail.methods.statgen).
 */
import { mlog10PTwoSidedT, pTwoSidedT } from './distributions.js';
import { makeScratch, PAD, type ScanScratch, scanCodes, scanDosages, scanPacked } from './kernel.js';
import { cholesky, choleskySolve, orthonormalBasis } from './linalg.js';
import { PackedCalls } from './packed.js';
import { type AssocColumns, allocAssocColumns, STATUS_CODE, setStatusRow, TEST_CODE } from './status.js';

/**
 * One variant's genotypes by genotype position: hard-call codes (0/1/2, 255 missing), hard calls
 * packed 2 bits per sample (`PackedCalls`, as stored), or dosages (NaN missing).
 */
export type Genotypes = Uint8Array | PackedCalls | Float32Array;
export type MissingPolicy = 'drop' | 'mean';

export interface LinearOptions {
  /** How missing genotype calls are handled (default 'drop', as PLINK2). */
  missing?: MissingPolicy;
  /** Maximum variance inflation factor of the genotype given the covariates (default 50). */
  maxVif?: number;
}

export interface LinearModel {
  /** number of genotype positions (release samples). */
  nGeno: number;
  /** number of analysis samples. */
  n: number;
  /** rank of Z = [1, C]. */
  q: number;
  /** number of traits. */
  K: number;
  /** row length: [Q_0..Q_{q-1}, ỹ_0..ỹ_{K-1}]; Q_0 = 1/√n marks the analysis samples. */
  m: number;
  /** per-genotype-position rows (nGeno × m, sample-major, + PAD). Rows outside the analysis are 0. */
  rows: Float64Array;
  /** the constant value of Q_0 (1/√n) on analysis samples. */
  q0: number;
  /** ỹ_kᵀỹ_k. */
  yy: Float64Array;
  /** covariate columns dropped as collinear (indices into C); non-empty ⇒ every row `collinear`. */
  collinearCovariates: number[];
  missing: MissingPolicy;
  maxVif: number;
  scratch: ScanScratch;
  /** q×q work matrix, q-vectors etc. for the missing-call correction. */
  work: {
    a: Float64Array;
    qg: Float64Array;
    qy: Float64Array;
    yyS: Float64Array;
    sol: Float64Array;
    tmp: Float64Array;
    gy: Float64Array;
  };
}

/**
 * Prepares the null model (residualised traits and orthonormal covariate basis) for K traits.
 * @param traits K arrays of length n (analysis samples), no NaN.
 * @param covariates n×c column-major, no NaN; the intercept is added here (do not include it).
 * @param c number of covariate columns.
 * @param nGeno length of the genotype vectors (release sample count).
 * @param sampleIdx analysis sample j → genotype position; default identity (n must equal nGeno).
 */
export function prepareLinear(
  traits: Float64Array[],
  covariates: Float64Array,
  c: number,
  nGeno: number,
  sampleIdx?: Int32Array,
  options: LinearOptions = {},
): LinearModel {
  const K = traits.length;
  if (K === 0) throw new RangeError('prepareLinear: found no traits');
  const n = traits[0].length;
  for (let k = 0; k < K; k++) {
    if (traits[k].length !== n)
      throw new RangeError(`prepareLinear: trait ${k} has ${traits[k].length} values, expected ${n}`);
    const bad = traits[k].findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new RangeError(`prepareLinear: trait ${k} is not finite at sample ${bad}`);
  }
  if (covariates.length !== n * c)
    throw new RangeError(
      `prepareLinear: covariates has ${covariates.length} values, expected n·c = ${n * c}`,
    );
  const badC = covariates.findIndex((v) => !Number.isFinite(v));
  if (badC >= 0)
    throw new RangeError(
      `prepareLinear: covariate ${Math.floor(badC / n)} is not finite at sample ${badC % n}`,
    );
  if (sampleIdx) {
    if (sampleIdx.length !== n)
      throw new RangeError(`prepareLinear: sampleIdx has ${sampleIdx.length} entries, expected ${n}`);
    for (let j = 0; j < n; j++) {
      if (!(sampleIdx[j] >= 0 && sampleIdx[j] < nGeno))
        throw new RangeError(`prepareLinear: sampleIdx[${j}] = ${sampleIdx[j]} outside 0..${nGeno - 1}`);
    }
  } else if (n !== nGeno) {
    throw new RangeError(`prepareLinear: ${n} trait values but ${nGeno} genotype positions and no sampleIdx`);
  }
  // Z = [1, C]
  const z = new Float64Array(n * (c + 1));
  z.fill(1, 0, n);
  z.set(covariates, n);
  const basis = orthonormalBasis(z, n, c + 1);
  const collinearCovariates = basis.dropped.map((j) => j - 1);
  const q = basis.rank;
  const m = q + K;
  const rows = new Float64Array(nGeno * m + PAD);
  const q0 = basis.q[0];
  const yy = new Float64Array(K);
  const qy = new Float64Array(q);
  for (let k = 0; k < K; k++) {
    const y = traits[k];
    for (let j = 0; j < q; j++) {
      let s = 0;
      const off = j * n;
      for (let i = 0; i < n; i++) s += basis.q[off + i] * y[i];
      qy[j] = s;
    }
    let ss = 0;
    for (let i = 0; i < n; i++) {
      let r = y[i];
      for (let j = 0; j < q; j++) r -= basis.q[j * n + i] * qy[j];
      const pos = sampleIdx ? sampleIdx[i] : i;
      rows[pos * m + q + k] = r;
      ss += r * r;
    }
    yy[k] = ss;
  }
  for (let i = 0; i < n; i++) {
    const pos = sampleIdx ? sampleIdx[i] : i;
    if (rows[pos * m] !== 0)
      throw new RangeError(`prepareLinear: sampleIdx repeats genotype position ${pos}`);
    for (let j = 0; j < q; j++) rows[pos * m + j] = basis.q[j * n + i];
  }
  return {
    nGeno,
    n,
    q,
    K,
    m,
    rows,
    q0,
    yy,
    collinearCovariates,
    missing: options.missing ?? 'drop',
    maxVif: options.maxVif ?? 50,
    scratch: makeScratch(nGeno, m),
    work: {
      a: new Float64Array(q * q),
      qg: new Float64Array(q),
      qy: new Float64Array(q * K),
      yyS: new Float64Array(K),
      sol: new Float64Array(q),
      tmp: new Float64Array(q),
      gy: new Float64Array(K),
    },
  };
}

/**
 * Tests one variant against the model's K traits, writing rows `variant·K … variant·K+K−1` of
 * `out`. `g` is a Uint8Array of codes (0/1/2, 255 missing) or Float32Array dosages (NaN missing),
 * indexed by genotype position (length nGeno).
 */
export function linearTestVariant(
  model: LinearModel,
  g: Genotypes,
  out: AssocColumns,
  variant: number,
): void {
  const { q, K, m, rows, scratch: sc } = model;
  const r0 = variant * K;
  if (g.length !== model.nGeno)
    throw new RangeError(
      `linearTestVariant: genotype vector has ${g.length} entries, expected ${model.nGeno}`,
    );
  if (model.collinearCovariates.length > 0) {
    for (let k = 0; k < K; k++) setStatusRow(out, r0 + k, 'collinear', 0);
    return;
  }
  const { a, qg, qy, yyS, sol, tmp, gy } = model.work;
  if (g instanceof Uint8Array) scanCodes(g, rows, m, sc);
  else if (g instanceof PackedCalls) scanPacked(g, rows, m, sc);
  else scanDosages(g, rows, m, sc);
  // column 0 is Q_0 = q0 on analysis samples: Σg = Σ g·Q_0 / q0
  let sg = sc.sum[0] / model.q0;
  let sgg = sc.dd / model.q0;
  for (let j = 0; j < q; j++) qg[j] = sc.sum[j];
  const gyOff = q;
  // missing calls among analysis samples
  let nMiss = 0;
  for (let t = 0; t < sc.nMiss; t++) {
    if (rows[sc.miss[t] * m] !== 0) sc.miss[nMiss++] = sc.miss[t];
  }
  let nObs = model.n - nMiss;
  if (nObs === 0) {
    for (let k = 0; k < K; k++) setStatusRow(out, r0 + k, 'all_missing', 0);
    return;
  }
  // centred sum of squares of the called genotypes (monomorphic check uses the called values)
  const ssCalled = sgg - (sg * sg) / nObs;
  const monoTol = 1e-9 * Math.max(1, sgg);
  if (!(ssCalled > monoTol)) {
    for (let k = 0; k < K; k++) setStatusRow(out, r0 + k, 'monomorphic', nObs);
    return;
  }
  let useSubset = false;
  for (let k = 0; k < K; k++) gy[k] = sc.sum[gyOff + k];
  if (nMiss > 0) {
    if (model.missing === 'mean') {
      const mean = sg / nObs;
      for (let t = 0; t < nMiss; t++) {
        const o = sc.miss[t] * m;
        for (let j = 0; j < q; j++) qg[j] += mean * rows[o + j];
        for (let k = 0; k < K; k++) gy[k] += mean * rows[o + gyOff + k];
      }
      sgg += nMiss * mean * mean;
      sg += nMiss * mean;
      nObs = model.n;
    } else {
      useSubset = true;
      a.fill(0);
      qy.fill(0);
      for (let k = 0; k < K; k++) yyS[k] = model.yy[k];
      for (let j = 0; j < q; j++) a[j + j * q] = 1;
      for (let t = 0; t < nMiss; t++) {
        const o = sc.miss[t] * m;
        for (let j = 0; j < q; j++) {
          const qj = rows[o + j];
          for (let l = 0; l <= j; l++) a[j + l * q] -= qj * rows[o + l];
          for (let k = 0; k < K; k++) qy[j + k * q] -= qj * rows[o + gyOff + k];
        }
        for (let k = 0; k < K; k++) {
          const yk = rows[o + gyOff + k];
          yyS[k] -= yk * yk;
        }
      }
      if (!cholesky(a, q)) {
        for (let k = 0; k < K; k++) setStatusRow(out, r0 + k, 'collinear', nObs);
        return;
      }
    }
  }
  const df = nObs - q - 1;
  if (df < 1) {
    for (let k = 0; k < K; k++) setStatusRow(out, r0 + k, 'too_few_samples', nObs);
    return;
  }
  // denominator gᵀg − gᵀQ A⁻¹ Qᵀg (A = I without missing calls)
  let denom: number;
  if (useSubset) {
    sol.set(qg);
    choleskySolve(a, q, sol);
    let s = 0;
    for (let j = 0; j < q; j++) s += qg[j] * sol[j];
    denom = sgg - s;
  } else {
    let s = 0;
    for (let j = 0; j < q; j++) s += qg[j] * qg[j];
    denom = sgg - s;
  }
  const ssCentred = sgg - (sg * sg) / nObs;
  if (!(denom > 0) || ssCentred / denom > model.maxVif) {
    for (let k = 0; k < K; k++) setStatusRow(out, r0 + k, 'collinear', nObs);
    return;
  }
  for (let k = 0; k < K; k++) {
    const r = r0 + k;
    let num = gy[k];
    let yyk = model.yy[k];
    if (useSubset) {
      // sol = A⁻¹ Qᵀg; num −= (Qᵀy_S)ᵀ A⁻¹ Qᵀg; yy −= (Qᵀy_S)ᵀ A⁻¹ (Qᵀy_S)
      let cross = 0;
      for (let j = 0; j < q; j++) cross += qy[j + k * q] * sol[j];
      num -= cross;
      for (let j = 0; j < q; j++) tmp[j] = qy[j + k * q];
      choleskySolve(a, q, tmp);
      let quad = 0;
      for (let j = 0; j < q; j++) quad += qy[j + k * q] * tmp[j];
      yyk = yyS[k] - quad;
    }
    const beta = num / denom;
    const rss = yyk - beta * num;
    if (!(rss > 1e-14 * Math.max(yyk, 1e-300))) {
      setStatusRow(out, r, 'perfect_fit', nObs);
      continue;
    }
    const se = Math.sqrt(rss / df / denom);
    const t = beta / se;
    out.beta[r] = beta;
    out.se[r] = se;
    out.stat[r] = t;
    const p = pTwoSidedT(t, df);
    out.p[r] = p;
    out.mlog10p[r] = p >= 1e-290 ? -Math.log10(p) : mlog10PTwoSidedT(t, df);
    out.nObs[r] = nObs;
    out.status[r] = STATUS_CODE.ok;
    out.test[r] = TEST_CODE.linear;
  }
}

/** Convenience: tests every variant in `genotypes` and returns the result columns (rows v·K + k). */
export function linearGwas(model: LinearModel, genotypes: readonly Genotypes[]): AssocColumns {
  const out = allocAssocColumns(genotypes.length * model.K);
  for (let v = 0; v < genotypes.length; v++) linearTestVariant(model, genotypes[v], out, v);
  return out;
}
