/**
 * Logistic score test of many predictors against one null model: the scalable PheWAS path
 * (phecode status ~ covariates fitted once per phecode, then one cheap test per predictor), as
 * GWAS tools do for variants (REGENIE step 2 and SAIGE test every variant by a score statistic
 * against one null fit and refit only where it matters; stats/logistic.ts is this engine's GWAS
 * version). Which rows get a full fit afterwards is the caller's rule (phewas/many-fit.ts).
 *
 * Model: logit P(y_i = 1) = z_iᵀγ + x_i β, H0: β = 0, with Z = [1, covariates] (m × q).
 *
 * 1. Null fit (`scoreNullModel`, once per phecode and sample set): ML logistic fit of y on Z
 *    (stats/logistic-fit.ts) → μ̂_i, w_i = μ̂_i(1 − μ̂_i), r_i = y_i − μ̂_i, and the Cholesky
 *    factor of I_γγ = ZᵀWZ. With a fixed offset o (option `offset`: a LOCO polygenic
 *    prediction, REGENIE step 2, Mbatchou et al. 2021) the null model is η_i = o_i + z_iᵀγ;
 *    μ̂, w, r and everything below (score test, SPA) then come from that fit unchanged.
 * 2. Score test (`scoreTest`, per predictor; Rao 1948), with the predictor residualised on the
 *    covariates in the null model's weight metric, x̃ = x − Z(ZᵀWZ)⁻¹ZᵀWx:
 *      U = Σ x̃_i r_i = Σ x_i r_i − (Zᵀr)ᵀ(ZᵀWZ)⁻¹(ZᵀWx)        (Zᵀr = 0 at the null MLE),
 *      V = x̃ᵀWx̃   = Σ w_i x_i² − (ZᵀWx)ᵀ(ZᵀWZ)⁻¹(ZᵀWx),
 *      χ² = U²/V ~ χ²(1) under H0,  p = P(χ²₁ > U²/V).
 *    This is the statistic of R's `anova(glm0, glm1, test = "Rao")` and statmod's
 *    `glm.scoretest` (test/stats/phewas-score.r.test.ts checks it to 1e-6).
 *    One-step estimates: β̃ = U/V and SE = 1/√V, the first Newton step for β from the null fit
 *    with the covariates profiled out (so β̃/SE = U/√V is the signed score statistic). β̃ is close
 *    to the ML β̂ for small effects and shrunk towards 0 for large ones; callers refit those.
 *    The sums only run over the predictor's nonzero entries (`idx`, `val`), so a burden score
 *    with 2 % carriers costs 2 % of a dense pass: a predictor's zeros add nothing to U, V or ZᵀWx.
 *
 * Edge cases:
 *   - monomorphic predictor, or no carrier (all x = 0): V = 0, `reliable` false;
 *   - predictor collinear with the covariates (e.g. a copy of sex): V ≈ 0 — `reliable` is false
 *     when V ≤ 1e-8 · Σ w x² (a weighted VIF above 10⁸), and the caller's full fit reports
 *     `collinear`;
 *   - separation by the predictor (no carrier among the cases or the controls): the score
 *     statistic exists and U²/V stays a valid test of H0, but β̃ is far from any finite ML
 *     estimate; callers refit (Firth) where the score p reaches their threshold;
 *   - null model failures (covariates separate the phecode, ZᵀWZ singular): `status` says so and
 *     no score test is possible; callers refit every predictor.
 *
 *
 * 3. Saddlepoint p-values (`phewasSpa`, `spaPredictor`, `spaTestPredictor`): for unbalanced
 *    phecodes the normal approximation of U/√V is anti-conservative, so the PheWAS reports the
 *    SPA p of the same covariate-adjusted score instead (stats/spa.ts: Dey et al. 2017; the
 *    Bernoulli CGF of the score under the null fit, Lugannani–Rice tail, the fast split with
 *    the non-carriers' terms approximated by a normal, the normal p while |z| < 2, as SAIGE,
 *    REGENIE `--spa` and the GWAS, stats/logistic.ts). The SPA null model is built from the same
 *    null fit (its μ̂) over the same rows, so its S and V are the U and V of step 2; as the GWAS
 *    does, a predictor whose |U|/√V is below the cutoff takes the normal p from step 2's U and
 *    V directly, and the SPA null model (a W-orthonormal basis of Z, O(m q²)) is only built, once
 *    per phecode, when a predictor reaches the cutoff. The predictor is
 *    coded as the GWAS codes a genotype, by its minor "allele": when every value lies in [0, 2]
 *    and the mean over the non-missing samples exceeds 1 (a dosage whose ALT allele is the major
 *    one), the test runs on 2 − x and the signs of S, z and β̂ are restored afterwards (the
 *    intercept absorbs the shift, so G̃ only changes sign and the full-CGF p is the same; the
 *    carriers, whose CGF terms are exact in the fast split, stay few). Other predictors
 *    (burden counts, continuous scores) are tested as they are: the fast split is used when at
 *    least half of the model's samples are 0, every term is exact otherwise. The one-step
 *    estimate is β̂ = S/V with SE = |β̂|/z_p, z_p = Φ̄⁻¹(p/2), so β̂/SE reproduces the SPA p
 *    (REGENIE's convention for score rows; stats/spa.ts step 5).
 *    Edge cases: a null fit that failed or a singular ZᵀWZ, or fitted values of exactly 0 or 1
 *    (a covariate separates the phecode): no SPA (`phewasSpa` gives null; callers report the
 *    fit's own p); covariates collinear in the W metric at the SPA model's tolerance (only
 *    reachable when ZᵀWZ passed its Cholesky): `spaTestPredictor` gives null for the predictors
 *    that needed the model; the SPA test's `collinear` status (V ≤ 1e-8·Σwx², stats/spa.ts) is
 *    passed on; missing predictor values (NaN) are skipped, so callers fit the null model over
 *    the samples that have a value (they are not imputed).
 *
 * References: Rao C.R. (1948) Proc Camb Phil Soc 44:50–57; Mbatchou J. et al. (2021) Nat Genet
 * 53:1097–1103 (REGENIE); Zhou W. et al. (2018) Nat Genet 50:1335–1341 (SAIGE); Smyth G.K.
 * (2003) statmod `glm.scoretest`; Dey R., Schmidt E.M., Abecasis G.R. & Lee S. (2017) Am J Hum
 * Genet 101:37–49 (SPA).
 */
import { mlog10PChiSq1, pChiSq1 } from './distributions.js';
import { cholesky, choleskySolve } from './linalg.js';
import { type LogisticFit, type LogisticFitOptions, logisticFit } from './logistic-fit.js';
import {
  newSpaResult,
  type SpaNullModel,
  type SpaOptions,
  type SpaResult,
  spaNormalResult,
  spaNullModel,
  spaScoreTest,
} from './spa.js';
import type { Status } from './status.js';

export interface ScoreNullModel {
  /** 'ok', or why no score test is possible (null fit status, or `collinear` covariates). */
  status: Status;
  /** columns of Z. */
  q: number;
  /** size of the outer index space the per-sample arrays cover. */
  nAll: number;
  /** r_i = y_i − μ̂_i at each outer index (0 outside the model's rows). */
  r: Float64Array;
  /** w_i = μ̂_i(1 − μ̂_i) (0 outside the model's rows). */
  w: Float64Array;
  /** w_i·z_ij, sample-major (nAll × q; 0 outside the model's rows). */
  wz: Float64Array;
  /** Cholesky factor of ZᵀWZ (q × q, column-major). */
  chol: Float64Array;
  /** Zᵀr (≈ 0 at the converged null fit; kept for the exact residualised U). */
  zr: Float64Array;
  fit: LogisticFit;
}

export interface ScoreTestResult {
  /** efficient score U (after the covariates) and its variance V. */
  u: number;
  v: number;
  /** false when V ≤ 1e-8·Σwx² (no variation left after the covariates): no test. */
  reliable: boolean;
  chi2: number;
  p: number;
  mlog10p: number;
  /** one-step estimates U/V and 1/√V (NaN when not reliable). */
  beta: number;
  se: number;
}

/**
 * Fits the null model y ~ Z over m rows that sit at `rows[k]` of an outer index space of size
 * `nAll` (e.g. analysis samples; the per-sample arrays are laid out there so that a sparse
 * predictor indexes them directly). `reuse` recycles the arrays of an earlier model of the same
 * nAll and q (they are zeroed where needed). `offset` (length m, in row order): a fixed term of
 * the linear predictor, η = offset + Zγ (module comment, step 1); absent: none.
 */
export function scoreNullModel(
  y: Float64Array,
  z: Float64Array,
  q: number,
  rows: Int32Array,
  nAll: number,
  opts: { init?: Float64Array; reuse?: ScoreNullModel; offset?: Float64Array } = {},
): ScoreNullModel {
  const m = y.length;
  if (z.length !== m * q || rows.length !== m)
    throw new RangeError(`scoreNullModel: ${m} rows but Z has ${z.length} values and rows ${rows.length}`);
  const old = opts.reuse && opts.reuse.nAll === nAll && opts.reuse.q === q ? opts.reuse : null;
  const r = old ? old.r.fill(0) : new Float64Array(nAll);
  const w = old ? old.w.fill(0) : new Float64Array(nAll);
  const wz = old ? old.wz.fill(0) : new Float64Array(nAll * q);
  const chol = new Float64Array(q * q);
  const zr = new Float64Array(q);
  const fitOpts: LogisticFitOptions = {};
  if (opts.init) fitOpts.init = opts.init;
  if (opts.offset) fitOpts.offset = opts.offset;
  const fit = logisticFit(y, z, q, fitOpts);
  const model: ScoreNullModel = { status: fit.status, q, nAll, r, w, wz, chol, zr, fit };
  if (fit.status !== 'ok') return model;
  for (let k = 0; k < m; k++) {
    const i = rows[k];
    const mu = fit.fitted[k];
    const wi = mu * (1 - mu);
    const ri = y[k] - mu;
    r[i] = ri;
    w[i] = wi;
    for (let j = 0; j < q; j++) {
      const zj = z[j * m + k];
      wz[i * q + j] = wi * zj;
      zr[j] += zj * ri;
      for (let l = 0; l <= j; l++) chol[j + l * q] += wi * zj * z[l * m + k];
    }
  }
  for (let j = 0; j < q; j++) for (let l = 0; l < j; l++) chol[l + j * q] = chol[j + l * q];
  if (!cholesky(chol, q)) model.status = 'collinear';
  return model;
}

/**
 * Score test of one predictor given by its nonzero entries: outer indexes `idx` and values
 * `val` (entries outside the model's rows have w = r = 0 and add nothing). `work` (length ≥ q)
 * avoids an allocation per call.
 */
export function scoreTest(
  model: ScoreNullModel,
  idx: Int32Array,
  val: Float64Array,
  work: Float64Array = new Float64Array(model.q),
): ScoreTestResult {
  const { q, r, w, wz, chol, zr } = model;
  if (model.status !== 'ok') throw new Error(`scoreTest: the null model is ${model.status}`);
  const g = work.subarray(0, q).fill(0);
  let su = 0;
  let sww = 0;
  for (let t = 0; t < idx.length; t++) {
    const i = idx[t];
    const wi = w[i];
    if (wi === 0) continue;
    const x = val[t];
    su += x * r[i];
    sww += wi * x * x;
    const o = i * q;
    for (let j = 0; j < q; j++) g[j] += x * wz[o + j];
  }
  // g = ZᵀWx; solve (ZᵀWZ) s = g, then V = Σwx² − gᵀs and U = Σxr − (Zᵀr)ᵀs
  const s = Float64Array.from(g);
  choleskySolve(chol, q, s);
  let quad = 0;
  let cross = 0;
  for (let j = 0; j < q; j++) {
    quad += g[j] * s[j];
    cross += zr[j] * s[j];
  }
  const v = sww - quad;
  const u = su - cross;
  const reliable = sww > 0 && v > 1e-8 * sww;
  if (!reliable) {
    return {
      u,
      v,
      reliable,
      chi2: Number.NaN,
      p: Number.NaN,
      mlog10p: Number.NaN,
      beta: Number.NaN,
      se: Number.NaN,
    };
  }
  const chi2 = (u * u) / v;
  return {
    u,
    v,
    reliable,
    chi2,
    p: pChiSq1(chi2),
    mlog10p: mlog10PChiSq1(chi2),
    beta: u / v,
    se: 1 / Math.sqrt(v),
  };
}

/** SPA settings of the PheWAS: the GWAS's (normal p below |z| = 2, fast split; SAIGE, SPAtest). */
export const PHEWAS_SPA_OPTIONS: Readonly<Required<SpaOptions>> = { cutoff: 2, fast: true };

/**
 * A phecode's SPA state: its score null model and the data it was fitted on, from which the SPA
 * null model is built on first need (`spaTestPredictor`; most predictors of a phecode stay below
 * the cutoff and need none). The arrays are the caller's and must stay unchanged while in use.
 */
export interface PhewasSpa {
  score: ScoreNullModel;
  y: Float64Array;
  z: Float64Array;
  rows: Int32Array;
  /** the SPA null model: undefined until first needed, null when it cannot be built. */
  model: SpaNullModel | null | undefined;
  work: Float64Array;
}

/**
 * The SPA state of a phecode whose null model `score` was fitted on y ~ z over `rows`, or null
 * when no SPA is possible: the null fit failed or its ZᵀWZ is singular, or a fitted value is 0
 * or 1 (a covariate separates the phecode; module comment, step 3).
 */
export function phewasSpa(
  score: ScoreNullModel,
  y: Float64Array,
  z: Float64Array,
  rows: Int32Array,
): PhewasSpa | null {
  if (score.status !== 'ok') return null;
  for (const mu of score.fit.fitted) if (!(mu > 0 && mu < 1)) return null;
  return { score, y, z, rows, model: undefined, work: new Float64Array(score.q) };
}

/** A predictor as the SPA tests it: the nonzero entries of x, or of 2 − x when `flip`. */
export interface SpaPredictor {
  idx: Int32Array;
  val: Float64Array;
  /** true: the entries are those of 2 − x (a dosage whose mean exceeds 1). */
  flip: boolean;
}

/**
 * The SPA coding of a predictor over the outer index space (NaN = missing, skipped): 2 − x when
 * every value is in [0, 2] and their mean exceeds 1, else x (module comment, step 3).
 */
export function spaPredictor(x: Float64Array): SpaPredictor {
  let sum = 0;
  let called = 0;
  let dosageLike = true;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (Number.isNaN(v)) continue;
    called++;
    sum += v;
    if (v < 0 || v > 2) dosageLike = false;
  }
  const flip = dosageLike && called > 0 && sum / called > 1;
  let k = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!Number.isNaN(v) && (flip ? 2 - v : v) !== 0) k++;
  }
  const idx = new Int32Array(k);
  const val = new Float64Array(k);
  k = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (Number.isNaN(v)) continue;
    const c = flip ? 2 - v : v;
    if (c !== 0) {
      idx[k] = i;
      val[k++] = c;
    }
  }
  return { idx, val, flip };
}

/**
 * SPA score test of a coded predictor against a phecode's SPA state (entries outside the null
 * model's rows add nothing), in the orientation of x (S, z and β̂ negated back when flipped).
 * S and V come first from the score null model (step 2); below the cutoff that is the whole
 * result (stats/spa.ts `spaNormalResult`: p = 2Φ̄(|z|), β̂ = S/V, SE = 1/√V), so the SPA null
 * model is only built (once per phecode) for a predictor at or above it, or whose V is ≈ 0 (for
 * its status). Writes into and returns `out`; null when the SPA null model cannot be built
 * (covariates collinear in the W metric).
 */
export function spaTestPredictor(
  ctx: PhewasSpa,
  pred: SpaPredictor,
  out: SpaResult = newSpaResult(),
): SpaResult | null {
  const s = scoreTest(ctx.score, pred.idx, pred.val, ctx.work);
  if (s.reliable && Math.abs(s.u) < PHEWAS_SPA_OPTIONS.cutoff * Math.sqrt(s.v))
    return spaNormalResult(pred.flip ? -s.u : s.u, s.v, out);
  if (ctx.model === undefined) {
    const { y, z, rows, score } = ctx;
    const model = spaNullModel(y, score.fit.fitted, z, score.q, { rows, nAll: score.nAll });
    ctx.model = model.status === 'ok' ? model : null;
  }
  if (!ctx.model) return null;
  const res = spaScoreTest(ctx.model, pred.idx, pred.val, PHEWAS_SPA_OPTIONS, out);
  if (pred.flip) {
    res.s = -res.s;
    res.z = -res.z;
    res.beta = -res.beta;
  }
  return res;
}
