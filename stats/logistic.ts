/**
 * GWAS logistic regression of a binary trait on one variant at a time, with covariates: a score
 * test for every variant from one null fit, a full Wald fit where the score test is significant or
 * unreliable, and Firth's penalised regression as the fallback (PLINK2 `--glm firth-fallback`);
 * optionally saddlepoint-approximated (SPA) p-values for unbalanced traits.
 *
 * Model: logit P(y_i = 1) = α + c_iᵀγ + g_i β, H0: β = 0.
 *
 * 1. Null model (once per trait): IRLS fit of y on Z = [1, C] (see logistic-fit.ts) → μ̂_i,
 *    w_i = μ̂_i(1 − μ̂_i), r_i = y_i − μ̂_i. A basis B of Z with BᵀWB = I is computed once.
 * 2. Score test (Rao 1948), one genotype pass per variant, reusing the null fit:
 *      U = Σ g_i r_i,   V = Σ w_i g_i² − ‖Σ w_i g_i b_i‖²,   χ² = U²/V ~ χ²(1),
 *    the efficient score and its variance after projecting out the covariates. `stat` holds the
 *    signed √χ². A score row (test `score`) reports the one-step estimate from the null,
 *      β̂ = U/V,   SE = 1/√V   (so β̂/SE = the signed score z),
 *    the first Newton step for β with the covariates profiled out, as REGENIE reports its score
 *    test rows (Mbatchou et al. 2021). It is close to the ML β̂ for the small effects that stay
 *    below `fullFitBelow` (larger ones are fitted).
 *    With missing calls (drop mode) the null fit is not refitted on the called subset S; the
 *    nuisance parameters are projected out on S instead (Neyman's C(α) form):
 *      U* = U − I_gαᵀ I_αα⁻¹ U_α,  V* = I_gg − I_gαᵀ I_αα⁻¹ I_gα,  with I_αα = Σ_S w b bᵀ,
 *      U_α = Σ_S b r = −Σ_M b r,  which is asymptotically equivalent to refitting (Neyman 1959);
 *    β̂ = U* / V* and SE = 1/√V* then.
 * 3. Full fit: when the score p < `fullFitBelow` (default 0.05), or the score test is unreliable
 *    (V* ≤ 0), an ML logistic fit of y on [Z, g] over S (started from the null estimates), with
 *    Wald z = β̂/SE, p from N(0, 1). Set `fullFitBelow: 1` to fit every variant (PLINK2's
 *    behaviour).
 * 4. Firth fallback (`firth: 'fallback'`, default): Firth regression replaces the ML fit when it
 *    separates or does not converge, or when the case or control ALT allele count is 0 (these
 *    variants skip the score test's verdict and always get a full Firth fit). `firth: 'always'`
 *    fits every variant with Firth; `'never'` reports `separation`/`not_converged` instead.
 * 5. SPA (`spa: 'always'`, or `'auto'` when min(cases, controls)/n < `spaCaseFraction`; default
 *    `'never'` here, the study spec's default is `'auto'`): every tested variant's p is the SPA p
 *    of its covariate-adjusted score (stats/spa.ts: Lugannani–Rice tail from the Bernoulli CGF of
 *    the score, fast split for the non-carriers, normal p while |z| < 2), and the row's test is
 *    `spa`, `spa_wald` or `spa_firth` (below). The genotype is coded by its minor allele for the
 *    SPA (2 − g when ALT is the major allele, signs restored afterwards: the intercept absorbs the
 *    shift, so S only changes sign, and the carriers stay few). Missing calls are mean-imputed for the SPA statistic (the mean of
 *    the called analysis samples; as SAIGE and REGENIE), so with `missing: 'drop'` its normal part
 *    differs slightly from the C(α) score above. A full fit runs as in 3–4 (also when the SPA p is
 *    below `fullFitBelow`); its β and SE are kept and the SPA p (and `stat` = the signed z of the
 *    SPA p) replaces the Wald/Firth p; the row's test is then `spa_wald` or `spa_firth`
 *    (which fit gave β and SE). Without a fit, β̂ = S/V and SE = |β̂|/z_p with z_p = Φ̄⁻¹(p/2), so
 *    β̂/SE reproduces the SPA p, and the test is `spa`. A fit that separates or does not converge
 *    (Firth off or failing too) gives way to that score-based row (`spa`) instead of `separation`.
 *
 * Missing calls: 'drop' (default, exact refit on the called subset as PLINK2 for the Wald/Firth
 * fits) or 'mean' (mean-imputed genotype, all samples kept).
 *
 * Edge cases: `too_few_cases` (fewer than `minCases` cases or controls among the samples, or no
 * case/control left among the called samples), `all_missing`, `monomorphic`, `collinear`
 * (covariates collinear, or the genotype collinear with them: VIF > `maxVif`; under SPA also the
 * SPA module's V ≤ 1e-8·Σwg²), `too_few_samples`, `separation` / `not_converged` (when Firth is
 * off or also fails, without SPA). The zero-count check assumes a non-negative predictor (allele
 * count, dosage or burden score).
 *
 * References: Rao C.R. (1948) Proc Camb Phil Soc 44:50–57 (score test); Neyman J. (1959) C(α)
 * tests; Firth D. (1993) Biometrika 80:27–38; Heinze & Schemper (2002) Stat Med 21:2409–2419;
 * Chang et al. (2015) GigaScience 4:7 (PLINK2 firth-fallback); Dey R. et al. (2017) Am J Hum
 * Genet 101:37–49 (SPA); Mbatchou J. et al. (2021) Nat Genet 53:1097–1103 (REGENIE).
 */

import { mlog10PChiSq1, pChiSq1 } from './distributions.js';
import { makeScratch, PAD, type ScanScratch, scanCodes, scanDosages, scanPacked } from './kernel.js';
import { cholesky, choleskySolve, orthonormalBasis } from './linalg.js';
import type { Genotypes, MissingPolicy } from './linear.js';
import { type FirthMode, type LogisticFit, logisticFit } from './logistic-fit.js';
import { fullFit } from './logistic-full-fit.js';
import { PackedCalls } from './packed.js';
import {
  newSpaResult,
  type SpaNullModel,
  type SpaResult,
  spaNormalResult,
  spaNullModel,
  spaScoreTest,
  zFromLnTwoSidedP,
} from './spa.js';
import {
  type AssocColumns,
  allocAssocColumns,
  STATUS_CODE,
  type Status,
  setStatusRow,
  TEST_CODE,
} from './status.js';

export interface LogisticOptions {
  missing?: MissingPolicy;
  /** run the full fit where the score p is below this (default 0.05; 1 = always). */
  fullFitBelow?: number;
  firth?: FirthMode;
  /** minimum number of cases and of controls (default 1). */
  minCases?: number;
  maxVif?: number;
  /**
   * SPA p-values (step 5 of the module comment): 'always', 'auto' (when min(cases, controls)/n is
   * below `spaCaseFraction`) or 'never' (default here; the study spec's default is 'auto').
   */
  spa?: SpaMode;
  /** 'auto' threshold on min(cases, controls)/n (default 0.2, as the study spec). */
  spaCaseFraction?: number;
  /**
   * A fixed offset in the linear predictor of every fit, per analysis sample (logit scale): the
   * LOCO prediction of the variant's chromosome from step 1 (gwas/step1.ts; REGENIE step 2).
   */
  offset?: Float64Array | null;
}

export type SpaMode = 'auto' | 'always' | 'never';

/** The SPA null model of a trait and the per-variant buffers (sparse genotype, result). */
export interface LogisticSpa {
  null: SpaNullModel;
  idx: Int32Array;
  val: Float64Array;
  res: SpaResult;
  /** c = Σ w g b of the imputed genotype (length q). */
  c: Float64Array;
}

/** SPA's switch from the normal p to the saddlepoint (|z| ≥ 2), as SAIGE and SPAtest. */
const SPA_OPTIONS = { cutoff: 2, fast: true } as const;

export interface LogisticModel {
  nGeno: number;
  n: number;
  /** rank of Z (kept covariate columns + intercept). */
  q: number;
  /** row: [inSample, w·b (q), r, w, y]. */
  m: number;
  rows: Float64Array;
  /** b_i (nGeno × q, sample-major) for the missing-call correction. */
  bRows: Float64Array;
  /** analysis sample j → genotype position. */
  pos: Int32Array;
  /** y (analysis order) and Z (n × q, kept columns, column-major) for the full fits. */
  y: Float64Array;
  z: Float64Array;
  nullFit: LogisticFit;
  /** non-null: every variant gets this status (null model failed or covariates collinear). */
  globalStatus: Status | null;
  collinearCovariates: number[];
  opts: Required<LogisticOptions>;
  scratch: ScanScratch;
  nCases: number;
  /** orthonormal basis of Z (n × q, column-major, unweighted) for the genotype's VIF. */
  zBasis: Float64Array;
  work: { igAlpha: Float64Array; iaa: Float64Array; ua: Float64Array; sol: Float64Array };
  /** non-null when every tested variant of this trait gets an SPA p (`spa` option). */
  spa: LogisticSpa | null;
}

/**
 * Fits the null model and prepares the score-test rows.
 * @param y 0/1 trait over the n analysis samples.
 * @param covariates n×c column-major (no intercept; it is added).
 */
export function prepareLogistic(
  y: Float64Array,
  covariates: Float64Array,
  c: number,
  nGeno: number,
  sampleIdx?: Int32Array,
  options: LogisticOptions = {},
): LogisticModel {
  const n = y.length;
  if (covariates.length !== n * c)
    throw new RangeError(
      `prepareLogistic: covariates has ${covariates.length} values, expected n·c = ${n * c}`,
    );
  const pos = sampleIdx ? Int32Array.from(sampleIdx) : Int32Array.from({ length: n }, (_, i) => i);
  if (!sampleIdx && n !== nGeno)
    throw new RangeError(
      `prepareLogistic: ${n} trait values but ${nGeno} genotype positions and no sampleIdx`,
    );
  if (pos.length !== n)
    throw new RangeError(`prepareLogistic: sampleIdx has ${pos.length} entries, expected ${n}`);
  const opts: Required<LogisticOptions> = {
    missing: options.missing ?? 'drop',
    fullFitBelow: options.fullFitBelow ?? 0.05,
    firth: options.firth ?? 'fallback',
    minCases: options.minCases ?? 1,
    maxVif: options.maxVif ?? 50,
    spa: options.spa ?? 'never',
    spaCaseFraction: options.spaCaseFraction ?? 0.2,
    offset: options.offset ?? null,
  };
  if (opts.offset && opts.offset.length !== n)
    throw new RangeError(`prepareLogistic: offset has ${opts.offset.length} values, expected ${n}`);
  const offsetOption = opts.offset ? { offset: opts.offset } : {};
  const zAll = new Float64Array(n * (c + 1));
  zAll.fill(1, 0, n);
  zAll.set(covariates, n);
  // collinearity of the covariates in the ordinary inner product
  const plain = orthonormalBasis(zAll, n, c + 1);
  const collinearCovariates = plain.dropped.map((j) => j - 1);
  const q = plain.rank;
  const z = new Float64Array(n * q);
  for (const [t, j] of plain.kept.entries()) z.set(zAll.subarray(j * n, (j + 1) * n), t * n);
  let cases = 0;
  for (let i = 0; i < n; i++) cases += y[i];
  const m = 1 + q + 3;
  const rows = new Float64Array(nGeno * m + PAD);
  const bRows = new Float64Array(nGeno * q);
  let globalStatus: Status | null = null;
  let nullFit: LogisticFit;
  if (cases < opts.minCases || n - cases < opts.minCases) {
    globalStatus = 'too_few_cases';
    nullFit = logisticFit(y, z, q, { maxIter: 0, ...offsetOption });
  } else {
    nullFit = logisticFit(y, z, q, offsetOption);
    if (collinearCovariates.length > 0) globalStatus = 'collinear';
    else if (nullFit.status !== 'ok') globalStatus = nullFit.status;
  }
  if (globalStatus === null) {
    const sqrtW = Float64Array.from(nullFit.fitted, (mu) => Math.sqrt(mu * (1 - mu)));
    const wb = orthonormalBasis(z, n, q, 1e-8, sqrtW);
    if (wb.rank < q) globalStatus = 'collinear';
    else {
      for (let i = 0; i < n; i++) {
        const o = pos[i] * m;
        if (rows[o] !== 0)
          throw new RangeError(`prepareLogistic: sampleIdx repeats genotype position ${pos[i]}`);
        const mu = nullFit.fitted[i];
        const w = mu * (1 - mu);
        rows[o] = 1;
        for (let j = 0; j < q; j++) {
          const qw = wb.q[j * n + i];
          rows[o + 1 + j] = qw * sqrtW[i];
          bRows[pos[i] * q + j] = qw / sqrtW[i];
        }
        rows[o + 1 + q] = y[i] - mu;
        rows[o + 2 + q] = w;
        rows[o + 3 + q] = y[i];
      }
    }
  }
  let spa: LogisticSpa | null = null;
  if (globalStatus === null && spaApplies(opts, cases, n)) {
    const model = spaNullModel(y, nullFit.fitted, z, q, { rows: pos, nAll: nGeno });
    if (model.status !== 'ok') globalStatus = model.status;
    else
      spa = {
        null: model,
        idx: new Int32Array(nGeno),
        val: new Float64Array(nGeno),
        res: newSpaResult(),
        c: new Float64Array(q),
      };
  }
  return {
    nGeno,
    n,
    q,
    m,
    rows,
    bRows,
    pos,
    y,
    z,
    nullFit,
    globalStatus,
    collinearCovariates,
    opts,
    scratch: makeScratch(nGeno, m),
    nCases: cases,
    zBasis: plain.q,
    work: {
      igAlpha: new Float64Array(q),
      iaa: new Float64Array(q * q),
      ua: new Float64Array(q),
      sol: new Float64Array(q),
    },
    spa,
  };
}

/** Whether a trait with `cases` cases among n samples gets SPA p-values. */
export function spaApplies(
  opts: Pick<Required<LogisticOptions>, 'spa' | 'spaCaseFraction'>,
  cases: number,
  n: number,
) {
  if (opts.spa === 'always') return true;
  return opts.spa === 'auto' && Math.min(cases, n - cases) / n < opts.spaCaseFraction;
}

/** Tests one variant (codes or dosages, indexed by genotype position), writing row `r` of `out`. */
export function logisticTestVariant(model: LogisticModel, g: Genotypes, out: AssocColumns, r: number): void {
  const { q, m, rows, bRows, scratch: sc, opts } = model;
  if (g.length !== model.nGeno)
    throw new RangeError(
      `logisticTestVariant: genotype vector has ${g.length} entries, expected ${model.nGeno}`,
    );
  if (model.globalStatus) {
    setStatusRow(out, r, model.globalStatus, 0);
    return;
  }
  if (g instanceof Uint8Array) scanCodes(g, rows, m, sc, 2 + q);
  else if (g instanceof PackedCalls) scanPacked(g, rows, m, sc, 2 + q);
  else scanDosages(g, rows, m, sc, 2 + q);
  let sg = sc.sum[0];
  let sgg = sc.dd;
  const { igAlpha, iaa, ua, sol } = model.work;
  for (let j = 0; j < q; j++) igAlpha[j] = sc.sum[1 + j];
  let u = sc.sum[1 + q];
  let igg = sc.dw;
  const caseAlt = sc.sum[3 + q];
  let nMiss = 0;
  let missCases = 0;
  for (let t = 0; t < sc.nMiss; t++) {
    const o = sc.miss[t] * m;
    if (rows[o] !== 0) {
      sc.miss[nMiss++] = sc.miss[t];
      missCases += rows[o + 3 + q];
    }
  }
  let nObs = model.n - nMiss;
  if (nObs === 0) {
    setStatusRow(out, r, 'all_missing', 0);
    return;
  }
  const calledMean = sg / nObs;
  const ss = sgg - (sg * sg) / nObs;
  if (!(ss > 1e-9 * Math.max(1, sgg))) {
    setStatusRow(out, r, 'monomorphic', nObs);
    return;
  }
  const casesS = model.nCases - missCases;
  if (casesS < 1 || nObs - casesS < 1) {
    setStatusRow(out, r, 'too_few_cases', nObs);
    return;
  }
  const ctrlAlt = sg - caseAlt;
  const zeroCell = caseAlt <= 1e-12 || ctrlAlt <= 1e-12;

  // score test (C(α) form when samples are dropped)
  let subset = false;
  let mean = 0;
  iaa.fill(0);
  ua.fill(0);
  if (nMiss > 0) {
    if (opts.missing === 'mean') {
      mean = sg / nObs;
      for (let t = 0; t < nMiss; t++) {
        const o = sc.miss[t] * m;
        for (let j = 0; j < q; j++) igAlpha[j] += mean * rows[o + 1 + j];
        u += mean * rows[o + 1 + q];
        igg += mean * mean * rows[o + 2 + q];
      }
      sg += nMiss * mean;
      sgg += nMiss * mean * mean;
      nObs = model.n;
    } else {
      subset = true;
      for (let j = 0; j < q; j++) iaa[j + j * q] = 1;
      for (let t = 0; t < nMiss; t++) {
        const pi = sc.miss[t];
        const o = pi * m;
        const w = rows[o + 2 + q];
        const rr = rows[o + 1 + q];
        for (let j = 0; j < q; j++) {
          const bj = bRows[pi * q + j];
          ua[j] -= bj * rr;
          for (let l = 0; l < q; l++) iaa[j + l * q] -= w * bj * bRows[pi * q + l];
        }
      }
      if (!cholesky(iaa, q)) {
        setStatusRow(out, r, 'collinear', nObs);
        return;
      }
    }
  }
  let v: number;
  let uEff = u;
  if (subset) {
    sol.set(igAlpha);
    choleskySolve(iaa, q, sol);
    let quad = 0;
    let cross = 0;
    for (let j = 0; j < q; j++) {
      quad += igAlpha[j] * sol[j];
      cross += ua[j] * sol[j];
    }
    v = igg - quad;
    uEff = u - cross;
  } else {
    let quad = 0;
    for (let j = 0; j < q; j++) quad += igAlpha[j] * igAlpha[j];
    v = igg - quad;
  }
  const df = nObs - q - 1;
  if (df < 1) {
    setStatusRow(out, r, 'too_few_samples', nObs);
    return;
  }
  const spa = model.spa ? spaTest(model, model.spa, g, calledMean, nMiss) : null;
  if (spa && spa.status !== 'ok') {
    setStatusRow(out, r, spa.status, nObs);
    return;
  }
  const scoreReliable = v > 1e-12 * Math.max(igg, 1e-300);
  if (scoreReliable && !zeroCell) {
    const chi2 = (uEff * uEff) / v;
    const p = pChiSq1(chi2);
    if (p >= opts.fullFitBelow && opts.firth !== 'always' && !(spa && spa.p < opts.fullFitBelow)) {
      if (spa) {
        spaScoreRow(out, r, spa, nObs);
        return;
      }
      // one-step estimate from the null (REGENIE's score rows): β̂/SE = U/√V = the signed score z
      out.beta[r] = uEff / v;
      out.se[r] = 1 / Math.sqrt(v);
      out.stat[r] = Math.sign(uEff) * Math.sqrt(chi2);
      out.p[r] = p;
      out.mlog10p[r] = mlog10PChiSq1(chi2);
      out.nObs[r] = nObs;
      out.status[r] = STATUS_CODE.ok;
      out.test[r] = TEST_CODE.score;
      return;
    }
  }
  fullFit(model, g instanceof PackedCalls ? g.unpacked() : g, out, r, subset, mean, nObs, zeroCell);
  if (!spa) return;
  const status = out.status[r];
  if (status === STATUS_CODE.ok) {
    // β and SE of the fit, the SPA p
    out.stat[r] = spaSignedZ(spa);
    out.p[r] = spa.p;
    out.mlog10p[r] = spa.mlog10p;
    out.test[r] = out.test[r] === TEST_CODE.firth ? TEST_CODE.spa_firth : TEST_CODE.spa_wald;
  } else if (status === STATUS_CODE.separation || status === STATUS_CODE.not_converged) {
    spaScoreRow(out, r, spa, nObs);
  }
}

/**
 * SPA test of one variant against the trait's SPA null model, for the genotype with its missing
 * calls (the first `nMiss` entries of the scan's list) set to `calledMean`. S and V come from the
 * scan's sums (c = Σ w g b, Σ g r, Σ w g²; S = Σ g r − cᵀBᵀr, V = Σ w g² − ‖c‖², stats/spa.ts)
 * plus the imputed calls; below the cutoff that is the whole result (the normal p). Otherwise the
 * genotype's nonzero entries (minor-allele coded) go into the sparse buffers for `spaScoreTest`.
 * The result (`s.res`) is in ALT-allele orientation.
 */
function spaTest(
  model: LogisticModel,
  s: LogisticSpa,
  g: Genotypes,
  calledMean: number,
  nMiss: number,
): SpaResult {
  const { q, m, rows, scratch: sc } = model;
  const c = s.c;
  for (let j = 0; j < q; j++) c[j] = sc.sum[1 + j];
  let u = sc.sum[1 + q];
  let sgg = sc.dw;
  for (let t = 0; t < nMiss; t++) {
    const o = sc.miss[t] * m;
    for (let j = 0; j < q; j++) c[j] += calledMean * rows[o + 1 + j];
    u += calledMean * rows[o + 1 + q];
    sgg += calledMean * calledMean * rows[o + 2 + q];
  }
  let cc = 0;
  let cbr = 0;
  for (let j = 0; j < q; j++) {
    cc += c[j] * c[j];
    cbr += c[j] * s.null.br[j];
  }
  const v = sgg - cc;
  if (v > 1e-8 * sgg && Math.abs(u - cbr) < SPA_OPTIONS.cutoff * Math.sqrt(v))
    return spaNormalResult(u - cbr, v, s.res);
  const flip = calledMean > 1;
  const count = gatherNonzero(g, flip, flip ? 2 - calledMean : calledMean, s.idx, s.val);
  const res = spaScoreTest(s.null, s.idx, s.val, SPA_OPTIONS, s.res, count);
  if (flip) {
    res.s = -res.s;
    res.z = -res.z;
    res.beta = -res.beta;
  }
  return res;
}

/** sample value of each 2-bit code (3 = missing, filled in per variant). */
const CODE_VALUE = new Float64Array(4);

/**
 * Nonzero entries of g (or of 2 − g when `flip`) with missing calls as `missing`, in genotype
 * position order, into idx/val; returns their count.
 */
function gatherNonzero(
  g: Genotypes,
  flip: boolean,
  missing: number,
  idx: Int32Array,
  val: Float64Array,
): number {
  const n = g.length;
  let k = 0;
  for (let c = 0; c < 3; c++) CODE_VALUE[c] = flip ? 2 - c : c;
  CODE_VALUE[3] = missing;
  if (g instanceof PackedCalls) {
    // a byte of four zero-valued calls: code 0 (0x00), or code 2 when flipped (0xAA)
    const skip = flip ? 0xaa : 0x00;
    const bytes = g.bytes;
    for (let j = 0; j < bytes.length; j++) {
      const b = bytes[j];
      if (b === skip) continue;
      const i0 = j << 2;
      for (let t = 0; t < 4 && i0 + t < n; t++) {
        const x = CODE_VALUE[(b >> (t << 1)) & 3];
        if (x !== 0) {
          idx[k] = i0 + t;
          val[k++] = x;
        }
      }
    }
  } else if (g instanceof Uint8Array) {
    for (let i = 0; i < n; i++) {
      const c = g[i];
      const x = c === 255 ? missing : CODE_VALUE[c];
      if (x !== 0) {
        idx[k] = i;
        val[k++] = x;
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      const d = g[i];
      const x = Number.isNaN(d) ? missing : flip ? 2 - d : d;
      if (x !== 0) {
        idx[k] = i;
        val[k++] = x;
      }
    }
  }
  return k;
}

/** The signed normal quantile of the SPA p: the score z itself where the normal p was used. */
function spaSignedZ(spa: SpaResult): number {
  if (spa.method !== 'spa') return spa.z;
  return Math.sign(spa.s) * zFromLnTwoSidedP(-spa.mlog10p * Math.LN10);
}

/** A row without a fit: SPA p, β̂ = S/V and SE = |β̂|/z_p (stats/spa.ts), test `spa`. */
function spaScoreRow(out: AssocColumns, r: number, spa: SpaResult, nObs: number): void {
  out.beta[r] = spa.beta;
  out.se[r] = spa.se;
  out.stat[r] = spaSignedZ(spa);
  out.p[r] = spa.p;
  out.mlog10p[r] = spa.mlog10p;
  out.nObs[r] = nObs;
  out.status[r] = STATUS_CODE.ok;
  out.test[r] = TEST_CODE.spa;
}

/** Convenience: tests every variant and returns the result columns (row = variant). */
export function logisticGwas(model: LogisticModel, genotypes: readonly Genotypes[]): AssocColumns {
  const out = allocAssocColumns(genotypes.length);
  for (let v = 0; v < genotypes.length; v++) logisticTestVariant(model, genotypes[v], out, v);
  return out;
}
