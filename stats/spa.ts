/**
 * Saddlepoint-approximated (SPA) score test of one variant against a fitted logistic null model,
 * for binary traits with unbalanced case:control ratios, after Dey, Schmidt, Abecasis & Lee (2017)
 * and its "fast SPA" for sparse genotypes; the method SAIGE and REGENIE `--spa` use.
 *
 * Model: logit P(y_i = 1) = x_iᵀγ + g_i β, H0: β = 0, with X (n × q) the null design including
 * the intercept, μ̂_i the null fitted probabilities and w_i = μ̂_i(1 − μ̂_i).
 *
 * 1. Covariate adjustment. `spaNullModel` builds once a W-orthonormal basis B of X (BᵀWB = I,
 *    rows b_i), so the projection X(XᵀWX)⁻¹XᵀW equals BBᵀW. Per variant, from the nonzero entries
 *    of g only:
 *      c = Σ_i w_i g_i b_i,   G̃_i = g_i − b_iᵀc,
 *      S = Σ G̃_i (y_i − μ̂_i) = Σ g_i r_i − cᵀ(Bᵀr)        (Bᵀr = 0 at the null MLE),
 *      V = Σ w_i G̃_i² = Σ w_i g_i² − ‖c‖²,   z = S/√V.
 *    So the caller passes the raw genotype (allele count or dosage, as `idx`/`val` nonzero entries)
 *    and the module needs no per-call allocation: every buffer lives in the model, and the result
 *    is written into a caller-owned `SpaResult` (`newSpaResult()` once, reused).
 * 2. Normal approximation (the plain score test): p = 2Φ̄(|z|). Used when |z| < `cutoff`
 *    (default 2, as SAIGE and SPAtest; values below 0.1 are raised to 0.1 as SPAtest does, because
 *    the Lugannani–Rice formula has a removable singularity at s = 0 where it loses precision).
 * 3. Saddlepoint approximation. Under H0 the y_i are independent Bernoulli(μ̂_i), so S has the
 *    cumulant generating function (CGF)
 *      K(t) = Σ_i [log(1 − μ̂_i + μ̂_i e^{tG̃_i}) − t G̃_i μ̂_i],
 *      K′(t) = Σ G̃_i (p_i(t) − μ̂_i),   K″(t) = Σ G̃_i² p_i(t)(1 − p_i(t)),
 *    with p_i(t) = μ̂_i e^{tG̃_i}/(1 − μ̂_i + μ̂_i e^{tG̃_i}) (evaluated with expm1/log1p so that
 *    neither overflow nor cancellation occurs for any t). The saddlepoint ζ solves K′(ζ) = s
 *    (K′ is increasing with K′(0) = 0, so ζ has the sign of s); it is found by Newton's method
 *    safeguarded by a bracket (bisection when a Newton step leaves it). Then (Lugannani & Rice
 *    1980, in the Barndorff-Nielsen form the paper uses)
 *      w = sign(ζ)√(2(ζs − K(ζ))),  v = ζ√K″(ζ),  u = w + log(v/w)/w,
 *      P(S ≥ s) ≈ Φ̄(u) for s > 0,   P(S ≤ s) ≈ Φ(u) for s < 0,
 *    and the two-sided p = P(S ≥ |s|) + P(S ≤ −|s|), each tail from its own saddlepoint. The sum
 *    is formed in log space (ln Φ̄ from the scaled erfc), so −log10 p stays finite far below 1e-300;
 *    p itself is e^{ln p} and underflows to 0 there. p is capped at 1.
 * 4. Fast SPA (Dey et al. 2017, "partially normal approximation"; SPAtest `fastSPA`): with N₀ the
 *    samples whose genotype g_i is 0, the CGF is split as K(t) = Σ_{i∉N₀} K_i(t) + t²σ₀²/2, the
 *    carriers' terms exact and the non-carriers' sum (whose G̃_i = −b_iᵀc are small and similar)
 *    approximated by the normal N(0, σ₀²), σ₀² = Σ_{i∈N₀} w_i G̃_i² = ‖c‖² − Σ_{i∉N₀} w_i (b_iᵀc)².
 *    The centred terms have mean 0, so no linear term appears. As in SPAtest, the split is used when
 *    at least half of the model's samples are non-carriers; otherwise (and with `fast: false`) every
 *    sample's term is exact. Cost per variant: O(carriers · q) for the score, plus
 *    O(carriers) per Newton step for the SPA. Callers should pass minor-allele-coded genotypes
 *    (2 − g when the ALT allele is the major one, negating β afterwards) so that the carriers are
 *    few; the p-value is valid either way.
 * 5. Effect size and standard error, the way REGENIE reports score/SPA rows (Mbatchou et al.
 *    2021, Nat Genet 53:1097–1103; REGENIE documentation, `--spa`, `--firth-se`): the one-step
 *    estimate from the null, β̂ = S/V (first Newton step for β with the covariates profiled out),
 *    and SE chosen so that β̂/SE reproduces the reported p-value's z:
 *      SE = |β̂| / z_p,  z_p = Φ̄⁻¹(p/2)  (from ln p by Newton's method, exact for any p).
 *    For normal-approximation rows this is exactly SE = 1/√V. When p = 1 (z_p = 0) SE is Infinity.
 *
 * Edge cases (`status`, `method`):
 *   - no carrier among the model's samples (Σ w g² = 0), or g constant over them: `monomorphic`,
 *     every statistic NaN, method `none`;
 *   - g collinear with the covariates (V ≤ 1e-8 · Σ w g², a weighted VIF above 10⁸): `collinear`;
 *   - |z| < cutoff: method `normal` (p = score test p);
 *   - the saddlepoint equation has no root in range: possible only when the CGF has no normal part
 *     (full SPA, or σ₀² = 0) and s lies at (or, by rounding, beyond) the edge of the support of S,
 *     sup K′ = Σ_{G̃>0} G̃(1 − μ̂) + Σ_{G̃<0} |G̃|μ̂ (every carrier a case, say); or Newton/bisection
 *     did not converge in 200 steps; or ζs − K(ζ) ≤ 0 by rounding. Then the normal p is reported
 *     with method `normal_fallback` (the flag; the normal p can be far off there: the exact tail
 *     at the edge of the support is the probability of that single extreme outcome, e.g. Π μ̂_i
 *     over the carriers when every carrier is a case and only carriers have G̃ > 0);
 *   - extreme p (< 1e-300): −log10 p from ln p, finite; p underflows to 0.
 * Missing genotypes are not handled here: the caller imputes them (e.g. with the mean) or tests
 * the called subset with its own null model. SPAtest's refinement of re-running with a doubled
 * cutoff when the normal p exceeds the SPA p 1000-fold is not used.
 *
 * References: Dey R., Schmidt E.M., Abecasis G.R., Lee S. (2017) A fast and accurate algorithm to
 * test for binary phenotypes and its application to PheWAS. Am J Hum Genet 101:37–49;
 * Lugannani R. & Rice S. (1980) Adv Appl Probab 12:475–490; Barndorff-Nielsen O.E. (1990)
 * Biometrika 77:733–748; Daniels H.E. (1954) Ann Math Stat 25:631–650; Zhou W. et al. (2018)
 * Nat Genet 50:1335–1341 (SAIGE); Mbatchou J. et al. (2021) Nat Genet 53:1097–1103 (REGENIE).
 */
import erfc from '@stdlib/math-base-special-erfc';
import erfcx from '@stdlib/math-base-special-erfcx';
import { orthonormalBasis } from './linalg.js';
import type { Status } from './status.js';

/** Options of one SPA test. */
export interface SpaOptions {
  /** use the normal approximation when |S/√V| is below this (default 2; raised to at least 0.1). */
  cutoff?: number;
  /** split the CGF into exact carrier terms and a normal remainder (default true). */
  fast?: boolean;
}

/** How the p-value of a row was obtained. */
export type SpaMethod = 'none' | 'normal' | 'spa' | 'normal_fallback';

export interface SpaNullModel {
  /** 'ok', or `collinear` when the null design X is rank-deficient in the W metric. */
  status: Status;
  /** number of samples in the model and columns of X. */
  n: number;
  q: number;
  /** size of the index space the per-sample arrays cover (genotype positions). */
  nAll: number;
  /** outer index of each model sample. */
  rows: Int32Array;
  /** μ̂_i, w_i = μ̂_i(1 − μ̂_i), r_i = y_i − μ̂_i at each outer index (0 outside the model). */
  mu: Float64Array;
  w: Float64Array;
  r: Float64Array;
  /** rows b_i of the W-orthonormal basis of X, sample-major (nAll × q; 0 outside the model). */
  b: Float64Array;
  /** Bᵀr (≈ 0 at the converged null fit; kept so S is exact for any μ̂). */
  br: Float64Array;
  work: SpaWork;
}

interface SpaWork {
  c: Float64Array;
  /** exact-CGF entries: G̃, μ̂ and w of each (length n). */
  gt: Float64Array;
  mu: Float64Array;
  w: Float64Array;
  /** dense → sparse gathering for `spaScoreTestDense` (length nAll). */
  idx: Int32Array;
  val: Float64Array;
  /** dense G̃ scatter for the full SPA (length nAll). */
  dense: Float64Array;
}

export interface SpaResult {
  status: Status;
  method: SpaMethod;
  /** efficient score S, its variance V and z = S/√V. */
  s: number;
  v: number;
  z: number;
  /** the reported p (SPA, or normal when method is normal/normal_fallback) and −log10 p. */
  p: number;
  mlog10p: number;
  /** the plain score test's (normal) p and −log10 p. */
  pScore: number;
  mlog10pScore: number;
  /** one-step β̂ = S/V and SE = |β̂|/Φ̄⁻¹(p/2). */
  beta: number;
  se: number;
  /** saddlepoints of the upper (K′ = |s|) and lower (K′ = −|s|) tails; NaN unless SPA ran. */
  zetaUpper: number;
  zetaLower: number;
  /** entries whose CGF term was evaluated exactly (carriers in fast mode, else all samples). */
  nExact: number;
  /** variance of the normal remainder σ₀² (0 in full mode). */
  vRest: number;
}

export function newSpaResult(): SpaResult {
  return {
    status: 'ok',
    method: 'none',
    s: Number.NaN,
    v: Number.NaN,
    z: Number.NaN,
    p: Number.NaN,
    mlog10p: Number.NaN,
    pScore: Number.NaN,
    mlog10pScore: Number.NaN,
    beta: Number.NaN,
    se: Number.NaN,
    zetaUpper: Number.NaN,
    zetaLower: Number.NaN,
    nExact: 0,
    vRest: 0,
  };
}

const DEFAULT_OPTIONS: Required<SpaOptions> = { cutoff: 2, fast: true };
/** SPAtest's floor on the cutoff (the LR formula is 0/0 at s = 0). */
const MIN_CUTOFF = 0.1;
const LN10 = Math.LN10;
const LN2 = Math.LN2;
const MAX_ROOT_STEPS = 200;

/**
 * Prepares the null model for SPA tests.
 * @param y 0/1 trait over the n model samples.
 * @param mu fitted null probabilities μ̂ (e.g. `logisticFit(y, x, q).fitted`).
 * @param x n×q column-major null design, including the intercept column.
 * @param opts.rows outer index of each model sample (default 0..n−1), in a space of size `nAll`
 *   (default n): genotype vectors are indexed there, and entries outside the model are ignored.
 */
export function spaNullModel(
  y: Float64Array,
  mu: Float64Array,
  x: Float64Array,
  q: number,
  opts: { rows?: Int32Array; nAll?: number } = {},
): SpaNullModel {
  const n = y.length;
  if (mu.length !== n || x.length !== n * q)
    throw new RangeError(`spaNullModel: ${n} trait values, ${mu.length} fitted values, X has ${x.length}`);
  const rows = opts.rows ? Int32Array.from(opts.rows) : Int32Array.from({ length: n }, (_, i) => i);
  const nAll = opts.nAll ?? n;
  if (rows.length !== n) throw new RangeError(`spaNullModel: rows has ${rows.length} entries, expected ${n}`);
  const model: SpaNullModel = {
    status: 'ok',
    n,
    q,
    nAll,
    rows,
    mu: new Float64Array(nAll),
    w: new Float64Array(nAll),
    r: new Float64Array(nAll),
    b: new Float64Array(nAll * q),
    br: new Float64Array(q),
    work: {
      c: new Float64Array(q),
      gt: new Float64Array(n),
      mu: new Float64Array(n),
      w: new Float64Array(n),
      idx: new Int32Array(nAll),
      val: new Float64Array(nAll),
      dense: new Float64Array(nAll),
    },
  };
  const sqrtW = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const m = mu[k];
    if (!(m > 0 && m < 1))
      throw new RangeError(`spaNullModel: fitted value ${m} at row ${k} is not in (0, 1)`);
    sqrtW[k] = Math.sqrt(m * (1 - m));
  }
  const basis = orthonormalBasis(x, n, q, 1e-8, sqrtW);
  if (basis.rank < q) {
    model.status = 'collinear';
    return model;
  }
  for (let k = 0; k < n; k++) {
    const i = rows[k];
    if (i < 0 || i >= nAll) throw new RangeError(`spaNullModel: row ${k} maps to ${i}, outside [0, ${nAll})`);
    if (model.w[i] !== 0) throw new RangeError(`spaNullModel: rows repeats outer index ${i}`);
    const m = mu[k];
    const r = y[k] - m;
    model.mu[i] = m;
    model.w[i] = m * (1 - m);
    model.r[i] = r;
    for (let j = 0; j < q; j++) {
      const bij = basis.q[j * n + k] / sqrtW[k];
      model.b[i * q + j] = bij;
      model.br[j] += bij * r;
    }
  }
  return model;
}

/**
 * SPA score test of one variant given by its nonzero genotype entries (`idx` outer indexes,
 * `val` values, as many as `count`, default idx.length). Writes into and returns `out`.
 */
export function spaScoreTest(
  model: SpaNullModel,
  idx: Int32Array,
  val: Float64Array,
  options: SpaOptions = DEFAULT_OPTIONS,
  out: SpaResult = newSpaResult(),
  count: number = idx.length,
): SpaResult {
  if (model.status !== 'ok') throw new Error(`spaScoreTest: the null model is ${model.status}`);
  const { q, w, r, b, br } = model;
  const c = model.work.c.fill(0);
  let sgg = 0;
  let sgr = 0;
  let carriers = 0;
  let gMin = Number.POSITIVE_INFINITY;
  let gMax = Number.NEGATIVE_INFINITY;
  for (let t = 0; t < count; t++) {
    const i = idx[t];
    const wi = w[i];
    const g = val[t];
    if (wi === 0 || g === 0) continue;
    if (Number.isNaN(g)) throw new RangeError(`spaScoreTest: missing genotype at position ${i}`);
    carriers++;
    if (g < gMin) gMin = g;
    if (g > gMax) gMax = g;
    sgg += wi * g * g;
    sgr += g * r[i];
    const o = i * q;
    for (let j = 0; j < q; j++) c[j] += wi * g * b[o + j];
  }
  resetResult(out);
  if (carriers === 0 || (carriers === model.n && gMin === gMax)) {
    out.status = 'monomorphic';
    return out;
  }
  let cc = 0;
  let cbr = 0;
  for (let j = 0; j < q; j++) {
    cc += c[j] * c[j];
    cbr += c[j] * br[j];
  }
  const v = sgg - cc;
  const s = sgr - cbr;
  if (!(v > 1e-8 * sgg)) {
    out.status = 'collinear';
    return out;
  }
  const z = s / Math.sqrt(v);
  out.s = s;
  out.v = v;
  out.z = z;
  out.beta = s / v;
  const lnPScore = lnTwoSidedNormal(z);
  out.pScore = Math.exp(lnPScore);
  out.mlog10pScore = -lnPScore / LN10;
  const cutoff = Math.max(options.cutoff ?? DEFAULT_OPTIONS.cutoff, MIN_CUTOFF);
  if (Math.abs(z) < cutoff) return normalRow(out, 'normal');
  const fast = (options.fast ?? DEFAULT_OPTIONS.fast) && 2 * carriers <= model.n;
  const m = fast ? exactCarriers(model, idx, val, count, cc, out) : exactAll(model, idx, val, count, out);
  out.nExact = m;
  const lnP = saddlepointLnP(model.work, m, out.vRest, s, v, out);
  if (Number.isNaN(lnP)) return normalRow(out, 'normal_fallback');
  const lnPc = Math.min(lnP, 0);
  out.method = 'spa';
  out.p = Math.exp(lnPc);
  out.mlog10p = -lnPc / LN10;
  const zp = zFromLnTwoSidedP(lnPc);
  out.se = Math.abs(out.beta) / zp;
  return out;
}

/**
 * SPA score test of a dense genotype vector over the outer index space (length nAll; no missing
 * values). Gathers the nonzero entries into the model's work buffers, then runs `spaScoreTest`.
 */
export function spaScoreTestDense(
  model: SpaNullModel,
  g: ArrayLike<number>,
  options: SpaOptions = DEFAULT_OPTIONS,
  out: SpaResult = newSpaResult(),
): SpaResult {
  if (g.length !== model.nAll)
    throw new RangeError(`spaScoreTestDense: genotype has ${g.length} entries, expected ${model.nAll}`);
  const { idx, val } = model.work;
  let k = 0;
  for (let i = 0; i < g.length; i++) {
    const x = g[i];
    if (x !== 0) {
      if (Number.isNaN(x)) throw new RangeError(`spaScoreTestDense: missing genotype at position ${i}`);
      idx[k] = i;
      val[k++] = x;
    }
  }
  return spaScoreTest(model, idx, val, options, out, k);
}

/**
 * The result `spaScoreTest` gives when |S/√V| is below the cutoff (method `normal`: p = 2Φ̄(|z|),
 * β̂ = S/V, SE = 1/√V), from an S and V the caller already has (e.g. from its own genotype
 * scan), so that it can skip gathering the genotype for the ≈95 % of null variants below the
 * cutoff. The caller checks |z| against the cutoff and the monomorphic/collinear conditions.
 */
export function spaNormalResult(s: number, v: number, out: SpaResult = newSpaResult()): SpaResult {
  resetResult(out);
  const z = s / Math.sqrt(v);
  out.s = s;
  out.v = v;
  out.z = z;
  out.beta = s / v;
  const lnPScore = lnTwoSidedNormal(z);
  out.pScore = Math.exp(lnPScore);
  out.mlog10pScore = -lnPScore / LN10;
  return normalRow(out, 'normal');
}

function resetResult(out: SpaResult): void {
  out.status = 'ok';
  out.method = 'none';
  out.s = out.v = out.z = Number.NaN;
  out.p = out.mlog10p = out.pScore = out.mlog10pScore = Number.NaN;
  out.beta = out.se = out.zetaUpper = out.zetaLower = Number.NaN;
  out.nExact = 0;
  out.vRest = 0;
}

/** Normal-approximation row: p from the score z, SE = 1/√V. */
function normalRow(out: SpaResult, method: SpaMethod): SpaResult {
  out.method = method;
  out.p = out.pScore;
  out.mlog10p = out.mlog10pScore;
  out.se = 1 / Math.sqrt(out.v);
  return out;
}

/**
 * Fast SPA: the carriers' G̃ into the exact buffers, and σ₀² = ‖c‖² − Σ_carriers w (b_iᵀc)² (the
 * non-carriers' Σ w G̃², without the cancellation of V − Σ_carriers w G̃²). Returns the count.
 */
function exactCarriers(
  model: SpaNullModel,
  idx: Int32Array,
  val: Float64Array,
  count: number,
  cc: number,
  out: SpaResult,
): number {
  const { q, w, b, mu } = model;
  const { c, gt, mu: muEx, w: wEx } = model.work;
  let m = 0;
  let carrierProj = 0;
  for (let t = 0; t < count; t++) {
    const i = idx[t];
    const wi = w[i];
    const g = val[t];
    if (wi === 0 || g === 0) continue;
    const o = i * q;
    let bc = 0;
    for (let j = 0; j < q; j++) bc += b[o + j] * c[j];
    carrierProj += wi * bc * bc;
    gt[m] = g - bc;
    muEx[m] = mu[i];
    wEx[m++] = wi;
  }
  out.vRest = Math.max(0, cc - carrierProj);
  return m;
}

/** Full SPA: every model sample's G̃ into the exact buffers (σ₀² = 0). */
function exactAll(
  model: SpaNullModel,
  idx: Int32Array,
  val: Float64Array,
  count: number,
  out: SpaResult,
): number {
  const { q, w, b, mu, rows, n } = model;
  const { c, gt, mu: muEx, w: wEx, dense } = model.work;
  for (let t = 0; t < count; t++) if (w[idx[t]] !== 0) dense[idx[t]] += val[t];
  for (let k = 0; k < n; k++) {
    const i = rows[k];
    const o = i * q;
    let bc = 0;
    for (let j = 0; j < q; j++) bc += b[o + j] * c[j];
    gt[k] = dense[i] - bc;
    dense[i] = 0;
    muEx[k] = mu[i];
    wEx[k] = w[i];
  }
  out.vRest = 0;
  return n;
}

/** K′(t) and K″(t) of the last `derivatives` call (module scratch: no allocation per step). */
let K1 = 0;
let K2 = 0;

/**
 * K′(t) and K″(t) over the m exact entries plus the normal remainder σ₀². With a = tG̃,
 * e = expm1(a) for a ≤ 0:  p − μ = w·e/(1 + μe),  p(1 − p) = w(1 + e)/(1 + μe)²;
 * f = e^{−a}, em = expm1(−a) for a > 0:  p − μ = w·(−em)/d,  p(1 − p) = w·f/d², d = 1 + (1 − μ)em.
 */
function derivatives(work: SpaWork, m: number, vRest: number, t: number): void {
  const { gt, mu, w } = work;
  let k1 = vRest * t;
  let k2 = vRest;
  for (let k = 0; k < m; k++) {
    const g = gt[k];
    const a = t * g;
    const gw = g * w[k];
    if (a <= 0) {
      const e = Math.expm1(a);
      const d = 1 + mu[k] * e;
      k1 += (gw * e) / d;
      k2 += (g * gw * (1 + e)) / (d * d);
    } else {
      const em = Math.expm1(-a);
      const d = 1 + (1 - mu[k]) * em;
      k1 -= (gw * em) / d;
      k2 += (g * gw * (1 + em)) / (d * d);
    }
  }
  K1 = k1;
  K2 = k2;
}

/**
 * K(t) = Σ [log(1 − μ + μe^a) − aμ] + σ₀²t²/2, with log(1 − μ + μe^a) = log1p(μ·expm1(a)) for
 * a ≤ 0 and a + log1p((1 − μ)·expm1(−a)) for a > 0.
 */
function cgf(work: SpaWork, m: number, vRest: number, t: number): number {
  const { gt, mu } = work;
  let k0 = 0.5 * vRest * t * t;
  for (let k = 0; k < m; k++) {
    const a = t * gt[k];
    const mk = mu[k];
    if (a <= 0) k0 += Math.log1p(mk * Math.expm1(a)) - a * mk;
    else k0 += a * (1 - mk) + Math.log1p((1 - mk) * Math.expm1(-a));
  }
  return k0;
}

/**
 * Root ζ of K′(ζ) = s (s ≠ 0): Newton's method from ζ₀ = s/V (the step from 0, K″(0) = V),
 * inside the bracket [lo, hi] that every evaluation narrows (K′ is increasing and K′(0) = 0, so
 * 0 bounds ζ on one side); a Newton step that leaves the bracket is replaced by bisection, or by
 * doubling while the far side is still unbounded. NaN when s is outside the range of K′ (bounded
 * support: no normal remainder) or no convergence in MAX_ROOT_STEPS steps.
 */
function solveSaddlepoint(work: SpaWork, m: number, vRest: number, s: number, v: number): number {
  if (vRest === 0 && !insideSupport(work, m, s)) return Number.NaN;
  let lo = s > 0 ? 0 : Number.NEGATIVE_INFINITY;
  let hi = s > 0 ? Number.POSITIVE_INFINITY : 0;
  let t = s / v;
  for (let step = 0; step < MAX_ROOT_STEPS; step++) {
    derivatives(work, m, vRest, t);
    const f = K1 - s;
    if (f === 0) return t;
    if (f < 0) lo = t;
    else hi = t;
    let next = t - f / K2;
    if (!(next > lo && next < hi)) {
      if (Number.isFinite(lo) && Number.isFinite(hi)) next = 0.5 * (lo + hi);
      else next = 2 * t;
    }
    if (Math.abs(next - t) <= 1e-13 * Math.abs(t) || hi - lo <= 4e-16 * Math.abs(t)) return next;
    t = next;
  }
  return Number.NaN;
}

/**
 * Whether s lies inside (inf K′, sup K′) when the CGF has no normal part, by more than 1e-9
 * relative (closer, ζ → ∞ and ζs − K(ζ) is lost to rounding).
 */
function insideSupport(work: SpaWork, m: number, s: number): boolean {
  const { gt, mu } = work;
  let edge = 0;
  for (let k = 0; k < m; k++) {
    const g = gt[k];
    // s > 0: sup K′ = Σ_{G̃>0} G̃(1 − μ) − Σ_{G̃<0} G̃μ;  s < 0: inf K′ = −Σ_{G̃>0} G̃μ + Σ_{G̃<0} G̃(1 − μ)
    if (s > 0) edge += g > 0 ? g * (1 - mu[k]) : -g * mu[k];
    else edge += g > 0 ? -g * mu[k] : g * (1 - mu[k]);
  }
  const margin = 1e-9 * Math.abs(edge);
  return s > 0 ? s < edge - margin : s > edge + margin;
}

/**
 * ln of one Lugannani–Rice tail at s (upper for s > 0, lower for s < 0); sets the saddlepoint.
 * NaN when there is no usable saddlepoint.
 */
function lnTail(work: SpaWork, m: number, vRest: number, s: number, v: number, out: SpaResult): number {
  const zeta = solveSaddlepoint(work, m, vRest, s, v);
  if (s > 0) out.zetaUpper = zeta;
  else out.zetaLower = zeta;
  if (Number.isNaN(zeta)) return Number.NaN;
  const half = zeta * s - cgf(work, m, vRest, zeta);
  derivatives(work, m, vRest, zeta);
  if (!(half > 0) || !(K2 > 0)) return Number.NaN;
  const w = Math.sign(zeta) * Math.sqrt(2 * half);
  const u = w + Math.log((zeta * Math.sqrt(K2)) / w) / w;
  if (!Number.isFinite(u)) return Number.NaN;
  return lnUpperNormal(s > 0 ? u : -u);
}

/** ln p of the two-sided SPA p = P(S ≥ |s|) + P(S ≤ −|s|), or NaN (fall back to normal). */
function saddlepointLnP(
  work: SpaWork,
  m: number,
  vRest: number,
  s: number,
  v: number,
  out: SpaResult,
): number {
  const a = Math.abs(s);
  const upper = lnTail(work, m, vRest, a, v, out);
  const lower = lnTail(work, m, vRest, -a, v, out);
  if (Number.isNaN(upper) || Number.isNaN(lower)) return Number.NaN;
  const hi = Math.max(upper, lower);
  return hi + Math.log1p(Math.exp(Math.min(upper, lower) - hi));
}

/** ln Φ̄(x) = ln(erfc(x/√2)/2), through the scaled erfcx beyond x = 5 (finite for any finite x). */
export function lnUpperNormal(x: number): number {
  if (x < 5) return Math.log(0.5 * erfc(x / Math.SQRT2));
  const y = x / Math.SQRT2;
  return Math.log(erfcx(y)) - y * y - LN2;
}

/** ln of the two-sided normal p-value 2Φ̄(|z|). */
function lnTwoSidedNormal(z: number): number {
  return lnUpperNormal(Math.abs(z)) + LN2;
}

const LN_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * z ≥ 0 with 2Φ̄(z) = p, from ln p (valid for any p, also far below 1e-300): start from
 * Abramowitz & Stegun 26.2.23 (|error| < 4.5e-4) with t = √(−2 ln(p/2)), then Newton's method on
 * ln Φ̄(z) = ln p − ln 2 (d/dz ln Φ̄(z) = −φ(z)/Φ̄(z); ln Φ̄ is concave, so the steps converge).
 * Not the library quantile: `@stdlib/stats-base-dists-normal-quantile` computes √2·erfinv(2p − 1),
 * which loses all precision below p ≈ 1e-13 and returns −∞ below 1e-17.
 */
export function zFromLnTwoSidedP(lnp: number): number {
  if (!(lnp < 0)) return lnp === 0 ? 0 : Number.NaN;
  const target = lnp - LN2;
  const t = Math.sqrt(-2 * target);
  let z = Math.max(
    0,
    t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))),
  );
  for (let it = 0; it < 50; it++) {
    const lnQ = lnUpperNormal(z);
    const slope = -Math.exp(-0.5 * z * z - LN_SQRT_2PI - lnQ);
    const dz = (lnQ - target) / slope;
    z -= dz;
    if (Math.abs(dz) <= 1e-15 * (1 + z)) break;
  }
  return z;
}
