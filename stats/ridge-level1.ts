/**
 * REGENIE step 1, level 1: the cross-validated stacked ridge (quantitative traits) or logistic
 * ridge (binary traits) over the level-0 predictions, and the leave-one-chromosome-out (LOCO)
 * predictions that step 2 uses as offsets.
 *
 * Reference: Mbatchou et al. (2021) "Computationally efficient whole-genome regression for
 * quantitative and binary traits", Nat Genet 53:1097 (Methods "Step 1"; the level-1
 * cross-validation is the Supplementary Note's eqs. 20–24), after the stacked regressions of
 * Breiman (1996) Mach Learn 24:49. Written from the paper and its documentation, not from
 * REGENIE's code.
 *
 * ## Input
 * W (n × P, column-major) holds the level-0 predictions (stats/ridge-level0.ts): column p is the
 * ridge prediction of one variant block at one shrinkage value, so it belongs to one chromosome
 * `chromOf[p]`. Each entry of W is OUT-OF-FOLD: sample i's value came from a level-0 model fitted
 * without i's fold. The same folds (`fold`, 0..K−1) are used here.
 *
 * ## Standardisation of W (decided from the paper)
 * The paper ties its shrinkage grid to h² through λ = P(1 − h²)/h², the ridge/BLUP identity
 * λ = σ²_e/σ²_β for P predictors of unit variance and a trait of unit variance (so P·σ²_β = h²
 * and σ²_e = 1 − h²). That identity only holds for standardised predictors (level-0 predictions
 * are far from unit variance: each block explains a sliver of y), so each column is scaled:
 *
 *     z_ip = W_ip / s_p,   s_p = sqrt( Σ_{i observed} W_ip² / n_obs ).
 *
 * Columns are scaled but not centred: the level-1 model has no intercept (y was residualised on
 * the covariates, which include the intercept, and the binary model's intercept is in the
 * offset), and W's columns are predictions of a centred trait, so their means are ≈ 0 already;
 * not centring keeps every prediction an exact linear function Σ_p W_ip β_p, which LOCO needs.
 * Coefficients are reported back in W's units, β_p = β^z_p / s_p. An all-zero column (s_p = 0,
 * e.g. a block whose variants were all constant, or non-zero only where y is missing) is
 * skipped: its coefficient is 0.
 *
 * ## Quantitative traits (ridge)
 * y is the level-0-prepared trait (residualised, standardised, 0 where missing); only observed
 * samples enter the fits. For fold f and shrinkage λ,
 *
 *     β^(−f)(λ) = (Z_{−f}ᵀ Z_{−f} + λ I)⁻¹ Z_{−f}ᵀ y_{−f},
 *
 * with −f the observed samples outside fold f. The Gram of each fold, G_f = Z_fᵀZ_f, and Z_fᵀy
 * are computed ONCE (n·P²/2 multiply–adds in all); the training Gram is G − G_f (G = Σ_f G_f).
 * Per λ, ONE Cholesky factorisation of ((K−1)/K)·G + λI (the expected training Gram) serves as
 * preconditioner for conjugate gradients on each of the K systems (G − G_f + λI)β = Z_{−f}ᵀy_{−f},
 * run to a preconditioned residual of 1e-15 relative (≈ 10–15 iterations of P² each, against
 * P³/6 for a factorisation per fold); a system that needs more than 200 iterations (a fold very
 * unlike the others) is factorised directly. CV loss: the mean squared error over observed samples of the out-of-fold
 * predictions, MSE(λ) = Σ_f Σ_{i ∈ f, observed} (y_i − z_iᵀ β^(−f)(λ))² / n_obs; λ minimises it
 * (equivalently maximises CV R² = 1 − MSE/mean(y²) for the prepared y).
 *
 * ## Binary traits (logistic ridge with offset)
 * y ∈ {0, 1}; η_i = offset_i + z_iᵀβ, offset = the covariate-only null logit. For fold f and λ,
 * β^(−f)(λ) maximises the penalised log-likelihood
 *
 *     ℓ(β) = Σ_{i ∈ −f} [ y_i η_i − log(1 + e^{η_i}) ] − (λ/2) ‖β‖²,
 *
 * strictly concave for λ > 0 (a unique finite maximum even under separation). It is found by
 * Newton's method (McCullagh & Nelder 1989 §2.5 with the ridge term): step δ solves
 * (Z_{−f}ᵀ D Z_{−f} + λ I) δ = Z_{−f}ᵀ(y − μ) − λβ, D = diag(μ(1 − μ)), with step halving until
 * ℓ does not decrease; converged when |δ_j| ≤ 1e-7 (1 + |β_j|) for every j. Forming Z_{−f}ᵀDZ_{−f}
 * at every iteration would cost n·P²/2 per fold per iteration, so the Newton system is solved by
 * preconditioned conjugate gradients (Nocedal & Wright 2006 §7.1, "Newton–CG") whose Hessian-
 * vector products cost 2·n·P, preconditioned by the Newton matrix at the null weights
 * D₀ = diag(μ₀(1 − μ₀)), μ₀ = expit(offset), over the expected training set: the Cholesky factor
 * of ((K−1)/K)·ZᵀD₀Z + λI (the weighted Gram over all observed samples is formed once, the factor
 * once per λ). The inner CG stops at a relative residual of 1e-4 (an inexact Newton method; the
 * outer iteration still converges to the exact maximum, its gradient being exact).
 * All folds iterate together so each pass over Z serves the K folds. The λ are visited from the
 * largest down and each fit starts from the previous λ's solution (warm start).
 * CV loss: the mean deviance of the out-of-fold predictions over observed samples,
 * −2 Σ_i [y_i η_i − log(1 + e^{η_i})] / n_obs with η_i = offset_i + z_iᵀβ^(−fold(i))(λ).
 *
 * ## Shrinkage grid (the paper's, tied to h²)
 * h² takes R values evenly spaced on [0.01, 0.99] (R = 5: 0.01, 0.25, 0.5, 0.75, 0.99) and
 *   quantitative:  λ = P (1 − h²) / h²                                 (`level1Lambdas`)
 *   binary:        λ = P (1 − h²) / (h² π²/3)                          (`level1LogisticLambdas`)
 * with P = the number of level-0 predictors (columns of W, all blocks × R level-0 values). For
 * the logistic model the residual variance on the liability (logit) scale is that of the
 * standard logistic distribution, π²/3, so σ²_g = h² (π²/3) / (1 − h²) and the penalty
 * 1/σ²_β = P/σ²_g gives the second grid. (REGENIE's step-1 log prints 73124.51 for h² = 0.01 and
 * P = 2430 binary predictors: 2430·99/(π²/3) = 73124.51, issue rgcgithub/regenie#307.)
 * Ties in the CV loss go to the LARGER λ (more shrinkage).
 *
 * ## LOCO predictions (the paper's scheme)
 * The level-1 model is never refitted on all samples: sample i in fold f gets the prediction of
 * the level-1 fit that left out fold f (the level-0 inputs W are out-of-fold too), at the chosen
 * λ; for chromosome c the columns of c are dropped (set to zero, not refitted):
 *
 *     loco_c(i) = Σ_{p : chrom(p) ≠ c} W_ip β^(−fold(i))_p(λ̂).
 *
 * This is the paper's stacking scheme as its authors describe it: level 0 produces only
 * out-of-fold predictions (Supplementary Note eq. 21; rgcgithub/regenie#306: "we only apply
 * Eqn. 21 to get the predictions at level 0 ... At level 1, we apply the ridge regressions within
 * each fold & compute again out-of-sample predictions"), so the level-1 model exists as K fits,
 * one per left-out fold — "there is not a single set of effect sizes ... there are K sets, where K
 * is the number of CV folds" (rgcgithub/regenie#360) — and each sample is predicted by the fit
 * that did not see it. Samples whose trait is missing still belong to a fold and get predictions
 * the same way. Units: the prepared
 * y's units (quantitative) or the logit scale excluding the offset (binary).
 *
 * ## Edge cases (status values)
 *  - 'ok'.
 *  - 'no_predictors': every column of W is zero on the observed samples; LOCO is 0 (step 2 then
 *    is plain regression), cvLoss is that of the zero prediction, λ the largest (tie rule).
 *  - 'too_few_samples': fewer than 2·K observed samples, or a training set (all folds but one)
 *    has no observed sample. LOCO = 0, λ = NaN, cvLoss = NaN.
 *  - 'too_few_cases' (binary): some training set has no case or no control — the logistic
 *    ridge would still be finite but meaningless. LOCO = 0, λ = NaN, cvLoss = NaN.
 *  - 'not_converged' (binary): Newton did not converge at any λ within `maxIter` (for a λ where
 *    any fold fails, `lambdaStatus` says 'not_converged', its cvLoss is NaN and λ is not chosen;
 *    the choice falls on the best converged λ — in practice a larger one, whose stronger penalty
 *    converges more easily). LOCO = 0, λ = NaN when no λ converged.
 * Errors (thrown): inconsistent lengths, fold or chromosome indices out of range, K < 2,
 * non-finite W (any sample) or y/offset (observed samples), a binary y other than 0/1, λ ≤ 0.
 */

/** Default number of level-1 shrinkage values (REGENIE's `--l1`). */
export const LEVEL1_DEFAULT_R = 5;

/** h² grid: R values evenly spaced on [0.01, 0.99]. */
export function level1Heritabilities(R = LEVEL1_DEFAULT_R): Float64Array {
  if (!(R >= 1) || !Number.isInteger(R))
    throw new Error(`level-1 grid size must be a positive integer, got ${R}`);
  if (R === 1) return Float64Array.of(0.5);
  return Float64Array.from({ length: R }, (_, r) => 0.01 + (0.98 * r) / (R - 1));
}

/** Quantitative level-1 grid λ = P(1 − h²)/h² (decreasing: h² increasing). */
export function level1Lambdas(P: number, R = LEVEL1_DEFAULT_R): Float64Array {
  if (!(P >= 1)) throw new Error(`level-1 grid needs P ≥ 1 predictors, got ${P}`);
  return level1Heritabilities(R).map((h2) => (P * (1 - h2)) / h2);
}

/** Binary level-1 grid λ = P(1 − h²)/(h² π²/3) (decreasing). */
export function level1LogisticLambdas(P: number, R = LEVEL1_DEFAULT_R): Float64Array {
  const c = (Math.PI * Math.PI) / 3;
  return level1Lambdas(P, R).map((l) => l / c);
}

export interface Level1Input {
  n: number;
  /** fold per sample, 0..nFolds−1 (same as level 0) */
  fold: Uint8Array;
  nFolds: number;
  /** n × P column-major */
  W: Float64Array;
  P: number;
  /** chromosome index 0..nChrom−1 of each column of W */
  chromOf: Int32Array;
  nChrom: number;
  /** quantitative: prepared (residualised, standardised, 0 where missing); binary: 0/1 (any value where missing) */
  y: Float64Array;
  /** 1 where the trait is observed */
  observed: Uint8Array;
  /** default grid: level1Lambdas(P) / level1LogisticLambdas(P) */
  lambdas?: Float64Array;
}

export interface Level1Result {
  /** nChrom × n, row-major by chromosome: loco[c*n + i] */
  loco: Float64Array;
  /** chosen λ (NaN when no fit, see status) */
  lambda: number;
  lambdas: Float64Array;
  /** CV loss per λ: MSE (ridge) or mean deviance (logistic) over observed samples */
  cvLoss: Float64Array;
  status: 'ok' | string;
  /** per λ: 'ok' or 'not_converged' (logistic) */
  lambdaStatus: string[];
  /** per-fold level-1 coefficients at the chosen λ in W's units: beta[f*P + p] (0 for skipped columns) */
  beta: Float64Array;
  /** column scale s_p (RMS over observed samples); 0 marks a skipped all-zero column */
  scale: Float64Array;
  nObserved: number;
  /** logistic: Newton iterations per λ (the most over folds); ridge: 0 */
  iterations: Int32Array;
}

export interface Level1LogisticOptions {
  /** Newton iterations per λ (default 100) */
  maxIter?: number;
  /** relative step tolerance (default 1e-7) */
  tol?: number;
}

const ROW_CHUNK = 128;

// ---------------------------------------------------------------------------------------------
// Preparation: validation, observed rows sorted by fold, scaled active columns.

interface Prepared {
  /** observed rows sorted by fold: Z is nO × A4 column-major (A4 = A rounded up to 4, zero-padded) */
  Z: Float64Array;
  nO: number;
  A: number;
  A4: number;
  /** W column of active column a */
  cols: Int32Array;
  scale: Float64Array;
  /** sample index of compact row r */
  rowSample: Int32Array;
  /** fold f's rows are [start[f], start[f+1]) */
  start: Int32Array;
  /** y of compact rows */
  yo: Float64Array;
}

function validate(input: Level1Input): void {
  const { n, fold, nFolds, W, P, chromOf, nChrom, y, observed } = input;
  if (!Number.isInteger(n) || n < 0) throw new Error(`level 1: bad n ${n}`);
  if (!Number.isInteger(P) || P < 0) throw new Error(`level 1: bad P ${P}`);
  if (!Number.isInteger(nFolds) || nFolds < 2 || nFolds > 255)
    throw new Error(`level 1: nFolds must be an integer in 2..255, got ${nFolds}`);
  if (!Number.isInteger(nChrom) || nChrom < 1) throw new Error(`level 1: bad nChrom ${nChrom}`);
  if (fold.length !== n || y.length !== n || observed.length !== n)
    throw new Error('level 1: fold, y and observed must have length n');
  if (W.length !== n * P) throw new Error(`level 1: W has ${W.length} entries, expected n·P = ${n * P}`);
  if (chromOf.length !== P) throw new Error('level 1: chromOf must have length P');
  for (let i = 0; i < n; i++)
    if (fold[i] >= nFolds) throw new Error(`level 1: fold[${i}] = ${fold[i]} ≥ nFolds`);
  for (let p = 0; p < P; p++)
    if (!(chromOf[p] >= 0 && chromOf[p] < nChrom))
      throw new Error(`level 1: chromOf[${p}] = ${chromOf[p]} outside 0..${nChrom - 1}`);
  for (let k = 0; k < W.length; k++)
    if (!Number.isFinite(W[k]))
      throw new Error(`level 1: W has a non-finite entry (sample ${k % n}, column ${Math.floor(k / n)})`);
  for (let i = 0; i < n; i++)
    if (observed[i] && !Number.isFinite(y[i])) throw new Error(`level 1: y[${i}] is observed but not finite`);
}

function checkLambdas(lambdas: Float64Array): void {
  if (lambdas.length === 0) throw new Error('level 1: empty λ grid');
  for (const l of lambdas)
    if (!(l > 0) || !Number.isFinite(l)) throw new Error(`level 1: λ must be finite and > 0, got ${l}`);
}

function prepare(input: Level1Input): Prepared {
  const { n, fold, nFolds, W, P, y, observed } = input;
  const counts = new Int32Array(nFolds + 1);
  for (let i = 0; i < n; i++) if (observed[i]) counts[fold[i] + 1]++;
  const start = new Int32Array(nFolds + 1);
  for (let f = 0; f < nFolds; f++) start[f + 1] = start[f] + counts[f + 1];
  const nO = start[nFolds];
  const rowSample = new Int32Array(nO);
  const next = Int32Array.from(start.subarray(0, nFolds));
  for (let i = 0; i < n; i++) if (observed[i]) rowSample[next[fold[i]]++] = i;
  const yo = Float64Array.from(rowSample, (i) => y[i]);

  const scale = new Float64Array(P);
  const active: number[] = [];
  for (let p = 0; p < P; p++) {
    const base = p * n;
    let ss = 0;
    for (let r = 0; r < nO; r++) {
      const v = W[base + rowSample[r]];
      ss += v * v;
    }
    const s = nO > 0 ? Math.sqrt(ss / nO) : 0;
    if (s > 0 && Number.isFinite(s)) {
      scale[p] = s;
      active.push(p);
    }
  }
  const A = active.length;
  const A4 = (A + 3) & ~3;
  const Z = new Float64Array(nO * A4);
  for (let a = 0; a < A; a++) {
    const p = active[a];
    const base = p * n;
    const inv = 1 / scale[p];
    const out = a * nO;
    for (let r = 0; r < nO; r++) Z[out + r] = W[base + rowSample[r]] * inv;
  }
  return { Z, nO, A, A4, cols: Int32Array.from(active), scale, rowSample, start, yo };
}

// ---------------------------------------------------------------------------------------------
// Dense kernels (column-major Z, row ranges, symmetric A×A matrices stored full).

/**
 * G += Σ_{r ∈ [r0, r1)} w_r z_r z_rᵀ over the A4 columns of Z (`w` null: unit weights). Only the
 * upper triangle (row ≤ column, in 2 × 4 tiles) is guaranteed; `symmetrize` fills the rest. Rows
 * are taken in chunks of ROW_CHUNK so that a chunk of every column stays in cache.
 */
function gramRows(
  Z: Float64Array,
  nO: number,
  A4: number,
  r0: number,
  r1: number,
  w: Float64Array | null,
  G: Float64Array,
): void {
  for (let c0 = r0; c0 < r1; c0 += ROW_CHUNK) {
    const c1 = Math.min(r1, c0 + ROW_CHUNK);
    for (let a = 0; a < A4; a += 2) {
      for (let b = a - (a & 3); b < A4; b += 4) {
        if (w === null) gramTile(Z, nO, A4, a, b, c0, c1, G);
        else gramTileWeighted(Z, nO, A4, a, b, c0, c1, w, G);
      }
    }
  }
}

/** G[a..a+1, b..b+3] += Σ_r z_ra z_rbᵀ. */
function gramTile(
  Z: Float64Array,
  nO: number,
  A4: number,
  a: number,
  b: number,
  c0: number,
  c1: number,
  G: Float64Array,
): void {
  const a0 = a * nO;
  const a1 = a0 + nO;
  const b0 = b * nO;
  const b1 = b0 + nO;
  const b2 = b1 + nO;
  const b3 = b2 + nO;
  let s00 = 0;
  let s01 = 0;
  let s02 = 0;
  let s03 = 0;
  let s10 = 0;
  let s11 = 0;
  let s12 = 0;
  let s13 = 0;
  for (let r = c0; r < c1; r++) {
    const x0 = Z[a0 + r];
    const x1 = Z[a1 + r];
    const y0 = Z[b0 + r];
    const y1 = Z[b1 + r];
    const y2 = Z[b2 + r];
    const y3 = Z[b3 + r];
    s00 += x0 * y0;
    s01 += x0 * y1;
    s02 += x0 * y2;
    s03 += x0 * y3;
    s10 += x1 * y0;
    s11 += x1 * y1;
    s12 += x1 * y2;
    s13 += x1 * y3;
  }
  addTile(G, A4, a, b, s00, s01, s02, s03, s10, s11, s12, s13);
}

/** G[a..a+1, b..b+3] += Σ_r w_r z_ra z_rbᵀ. */
function gramTileWeighted(
  Z: Float64Array,
  nO: number,
  A4: number,
  a: number,
  b: number,
  c0: number,
  c1: number,
  w: Float64Array,
  G: Float64Array,
): void {
  const a0 = a * nO;
  const a1 = a0 + nO;
  const b0 = b * nO;
  const b1 = b0 + nO;
  const b2 = b1 + nO;
  const b3 = b2 + nO;
  let s00 = 0;
  let s01 = 0;
  let s02 = 0;
  let s03 = 0;
  let s10 = 0;
  let s11 = 0;
  let s12 = 0;
  let s13 = 0;
  for (let r = c0; r < c1; r++) {
    const wr = w[r];
    const x0 = Z[a0 + r] * wr;
    const x1 = Z[a1 + r] * wr;
    const y0 = Z[b0 + r];
    const y1 = Z[b1 + r];
    const y2 = Z[b2 + r];
    const y3 = Z[b3 + r];
    s00 += x0 * y0;
    s01 += x0 * y1;
    s02 += x0 * y2;
    s03 += x0 * y3;
    s10 += x1 * y0;
    s11 += x1 * y1;
    s12 += x1 * y2;
    s13 += x1 * y3;
  }
  addTile(G, A4, a, b, s00, s01, s02, s03, s10, s11, s12, s13);
}

function addTile(
  G: Float64Array,
  A4: number,
  a: number,
  b: number,
  s00: number,
  s01: number,
  s02: number,
  s03: number,
  s10: number,
  s11: number,
  s12: number,
  s13: number,
): void {
  // G is A4 × A4 column-major: (a + i, b + j) at (a + i) + (b + j)·A4
  let o = a + b * A4;
  G[o] += s00;
  G[o + 1] += s10;
  o += A4;
  G[o] += s01;
  G[o + 1] += s11;
  o += A4;
  G[o] += s02;
  G[o + 1] += s12;
  o += A4;
  G[o] += s03;
  G[o + 1] += s13;
}

/** Copies the upper triangle to the lower one. */
function symmetrize(G: Float64Array, A4: number): void {
  for (let b = 0; b < A4; b++) for (let a = 0; a < b; a++) G[b + a * A4] = G[a + b * A4];
}

/** Z_fᵀ D Z_f over fold f's rows (D = diag(w), or I), symmetric A4 × A4. */
function foldGram(prep: Prepared, f: number, w: Float64Array | null): Float64Array {
  const { Z, nO, A4, start } = prep;
  const G = new Float64Array(A4 * A4);
  if (start[f + 1] > start[f]) gramRows(Z, nO, A4, start[f], start[f + 1], w, G);
  symmetrize(G, A4);
  return G;
}

/** Turns per-fold Grams G_f into training Grams G − G_f in place; returns G = Σ_f G_f. */
function trainingGrams(folds: Float64Array[]): Float64Array {
  const total = new Float64Array(folds[0].length);
  for (const G of folds) for (let k = 0; k < G.length; k++) total[k] += G[k];
  for (const G of folds) for (let k = 0; k < G.length; k++) G[k] = total[k] - G[k];
  return total;
}

function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < len; k += 4) {
    s0 += a[ao + k] * b[bo + k];
    s1 += a[ao + k + 1] * b[bo + k + 1];
    s2 += a[ao + k + 2] * b[bo + k + 2];
    s3 += a[ao + k + 3] * b[bo + k + 3];
  }
  for (; k < len; k++) s0 += a[ao + k] * b[bo + k];
  return s0 + s1 + s2 + s3;
}

/**
 * In-place Cholesky of the leading A×A block of a symmetric matrix stored with leading dimension
 * ld (row i of the lower factor L is contiguous at i·ld: Cholesky–Banachiewicz, so the inner
 * products run over contiguous memory). Returns false if a pivot is not positive.
 */
function choleskyRows(M: Float64Array, A: number, ld: number): boolean {
  for (let i = 0; i < A; i++) {
    const ri = i * ld;
    for (let j = 0; j < i; j++) {
      const rj = j * ld;
      M[ri + j] = (M[ri + j] - dot(M, ri, M, rj, j)) / M[rj + j];
    }
    const d = M[ri + i] - dot(M, ri, M, ri, i);
    if (!(d > 0)) return false;
    M[ri + i] = Math.sqrt(d);
  }
  return true;
}

/** Solves L Lᵀ x = b in place (b at offset bo) with L from `choleskyRows`. */
function choleskyRowsSolve(L: Float64Array, A: number, ld: number, b: Float64Array, bo = 0): void {
  for (let i = 0; i < A; i++) {
    const ri = i * ld;
    b[bo + i] = (b[bo + i] - dot(L, ri, b, bo, i)) / L[ri + i];
  }
  for (let i = A - 1; i >= 0; i--) {
    const ri = i * ld;
    const xi = b[bo + i] / L[ri + i];
    b[bo + i] = xi;
    for (let k = 0; k < i; k++) b[bo + k] -= L[ri + k] * xi;
  }
}

/**
 * Cholesky factor of c·G + λI (leading A×A block, leading dimension A4): the preconditioner
 * shared by the K training-set systems at λ, c = the mean training fraction of the observed rows.
 */
function factorShifted(G: Float64Array, A: number, A4: number, c: number, lambda: number): Float64Array {
  const M = new Float64Array(A4 * A4);
  for (let k = 0; k < M.length; k++) M[k] = c * G[k];
  for (let a = 0; a < A; a++) M[a + a * A4] += lambda;
  if (!choleskyRows(M, A, A4))
    throw new Error(`level 1: Gram + λI is not positive definite at λ = ${lambda}`);
  return M;
}

/**
 * Solves (T + λI) x = b (T symmetric positive semi-definite, A4 × A4 full storage, leading A×A
 * block) by conjugate gradients preconditioned with the factor L of a nearby matrix, to
 * (rᵀM⁻¹r / bᵀM⁻¹b)^½ ≤ 1e-15. Returns false when 200 iterations were not enough.
 */
function pcgDense(
  T: Float64Array,
  A: number,
  A4: number,
  lambda: number,
  L: Float64Array,
  b: Float64Array,
  x: Float64Array,
): boolean {
  x.fill(0);
  const r = Float64Array.from(b);
  const z = Float64Array.from(r);
  choleskyRowsSolve(L, A, A4, z);
  const p = Float64Array.from(z);
  const q = new Float64Array(A4);
  let rz = dot(r, 0, z, 0, A);
  const stop = rz * 1e-30;
  if (!(rz > 0)) return true;
  for (let it = 0; it < 200; it++) {
    for (let a = 0; a < A; a++) q[a] = dot(T, a * A4, p, 0, A) + lambda * p[a];
    const alpha = rz / dot(p, 0, q, 0, A);
    for (let a = 0; a < A; a++) {
      x[a] += alpha * p[a];
      r[a] -= alpha * q[a];
    }
    z.set(r);
    choleskyRowsSolve(L, A, A4, z);
    const rzNew = dot(r, 0, z, 0, A);
    if (rzNew <= stop) return true;
    const beta = rzNew / rz;
    rz = rzNew;
    for (let a = 0; a < A; a++) p[a] = z[a] + beta * p[a];
  }
  return false;
}

/**
 * Row ranges a product runs over: `own` false skips fold f's own rows [start[f], start[f+1])
 * (zero weight in fold f's training fit); `active` null means every fold.
 */
interface RowPlan {
  start: Int32Array;
  own: boolean;
  active: Uint8Array | null;
}

function axpy4(
  U: Float64Array,
  Z: Float64Array,
  z0: number,
  nO: number,
  v0: number,
  v1: number,
  v2: number,
  v3: number,
  u: number,
  from: number,
  to: number,
): void {
  const z1 = z0 + nO;
  const z2 = z1 + nO;
  const z3 = z2 + nO;
  for (let r = from; r < to; r++)
    U[u + r] += Z[z0 + r] * v0 + Z[z1 + r] * v1 + Z[z2 + r] * v2 + Z[z3 + r] * v3;
}

/** U[:, f] = Z v_f (V is A4 × F, U is nO × F, both column-major; 4 columns per sweep). */
function mulZ(
  Z: Float64Array,
  nO: number,
  A4: number,
  V: Float64Array,
  F: number,
  U: Float64Array,
  plan: RowPlan,
): void {
  U.fill(0);
  const { start, own, active } = plan;
  for (let c0 = 0; c0 < nO; c0 += ROW_CHUNK) {
    const c1 = Math.min(nO, c0 + ROW_CHUNK);
    for (let a = 0; a < A4; a += 4) {
      const z0 = a * nO;
      for (let f = 0; f < F; f++) {
        if (active !== null && !active[f]) continue;
        const o = a + f * A4;
        const v0 = V[o];
        const v1 = V[o + 1];
        const v2 = V[o + 2];
        const v3 = V[o + 3];
        if (v0 === 0 && v1 === 0 && v2 === 0 && v3 === 0) continue;
        const u = f * nO;
        if (own) axpy4(U, Z, z0, nO, v0, v1, v2, v3, u, c0, c1);
        else {
          axpy4(U, Z, z0, nO, v0, v1, v2, v3, u, c0, Math.min(c1, start[f]));
          axpy4(U, Z, z0, nO, v0, v1, v2, v3, u, Math.max(c0, start[f + 1]), c1);
        }
      }
    }
  }
}

function dot4(
  Z: Float64Array,
  z0: number,
  nO: number,
  U: Float64Array,
  u: number,
  from: number,
  to: number,
  out: Float64Array,
  o: number,
): void {
  const z1 = z0 + nO;
  const z2 = z1 + nO;
  const z3 = z2 + nO;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let r = from; r < to; r++) {
    const x = U[u + r];
    s0 += Z[z0 + r] * x;
    s1 += Z[z1 + r] * x;
    s2 += Z[z2 + r] * x;
    s3 += Z[z3 + r] * x;
  }
  out[o] += s0;
  out[o + 1] += s1;
  out[o + 2] += s2;
  out[o + 3] += s3;
}

/** Out[:, f] = Zᵀ u_f (U is nO × F, Out is A4 × F; 4 columns per sweep). */
function mulZt(
  Z: Float64Array,
  nO: number,
  A4: number,
  U: Float64Array,
  F: number,
  Out: Float64Array,
  plan: RowPlan,
): void {
  Out.fill(0);
  const { start, own, active } = plan;
  for (let c0 = 0; c0 < nO; c0 += ROW_CHUNK) {
    const c1 = Math.min(nO, c0 + ROW_CHUNK);
    for (let a = 0; a < A4; a += 4) {
      const z0 = a * nO;
      for (let f = 0; f < F; f++) {
        if (active !== null && !active[f]) continue;
        const u = f * nO;
        const o = a + f * A4;
        if (own) dot4(Z, z0, nO, U, u, c0, c1, Out, o);
        else {
          dot4(Z, z0, nO, U, u, c0, Math.min(c1, start[f]), Out, o);
          dot4(Z, z0, nO, U, u, Math.max(c0, start[f + 1]), c1, Out, o);
        }
      }
    }
  }
}

const log1pExp = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const expit = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

// ---------------------------------------------------------------------------------------------
// Shared outcome helpers.

interface Fits {
  /** per λ, per fold, active-column coefficients in z units: betas[l][f] (length A4) */
  betas: Float64Array[][];
  cvLoss: Float64Array;
  lambdaStatus: string[];
  iterations: Int32Array;
}

function emptyResult(
  input: Level1Input,
  lambdas: Float64Array,
  status: string,
  scale?: Float64Array,
): Level1Result {
  return {
    loco: new Float64Array(input.nChrom * input.n),
    lambda: Number.NaN,
    lambdas,
    cvLoss: new Float64Array(lambdas.length).fill(Number.NaN),
    status,
    lambdaStatus: Array.from(lambdas, () => status),
    beta: new Float64Array(input.nFolds * input.P),
    scale: scale ?? new Float64Array(input.P),
    nObserved: 0,
    iterations: new Int32Array(lambdas.length),
  };
}

/** Minimum CV loss among finite entries, ties to the larger λ; -1 if none. */
function chooseLambda(lambdas: Float64Array, cvLoss: Float64Array): number {
  let best = -1;
  for (let l = 0; l < lambdas.length; l++) {
    if (!Number.isFinite(cvLoss[l])) continue;
    if (best < 0 || cvLoss[l] < cvLoss[best] || (cvLoss[l] === cvLoss[best] && lambdas[l] > lambdas[best]))
      best = l;
  }
  return best;
}

/** LOCO predictions and W-unit coefficients from the chosen λ's per-fold fits. */
function finish(
  input: Level1Input,
  prep: Prepared,
  lambdas: Float64Array,
  fits: Fits,
  status: string,
): Level1Result {
  const { n, fold, nFolds, W, P, chromOf, nChrom } = input;
  const best = chooseLambda(lambdas, fits.cvLoss);
  const nObserved = prep.nO;
  if (best < 0) {
    const r = emptyResult(input, lambdas, 'not_converged', prep.scale);
    r.cvLoss = fits.cvLoss;
    r.lambdaStatus = fits.lambdaStatus;
    r.iterations = fits.iterations;
    r.nObserved = nObserved;
    return r;
  }
  const beta = new Float64Array(nFolds * P);
  for (let f = 0; f < nFolds; f++) {
    const bz = fits.betas[best][f];
    for (let a = 0; a < prep.A; a++) {
      const p = prep.cols[a];
      beta[f * P + p] = bz[a] / prep.scale[p];
    }
  }
  // contribution of each chromosome to each sample's prediction (the fit that left its fold out)
  const contrib = new Float64Array(nChrom * n);
  for (let a = 0; a < prep.A; a++) {
    const p = prep.cols[a];
    const base = p * n;
    const out = chromOf[p] * n;
    for (let i = 0; i < n; i++) contrib[out + i] += W[base + i] * beta[fold[i] * P + p];
  }
  const loco = new Float64Array(nChrom * n);
  for (let c = 0; c < nChrom; c++) {
    const out = c * n;
    for (let d = 0; d < nChrom; d++) {
      if (d === c) continue;
      const src = d * n;
      for (let i = 0; i < n; i++) loco[out + i] += contrib[src + i];
    }
  }
  return {
    loco,
    lambda: lambdas[best],
    lambdas,
    cvLoss: fits.cvLoss,
    status: prep.A === 0 ? 'no_predictors' : status,
    lambdaStatus: fits.lambdaStatus,
    beta,
    scale: prep.scale,
    nObserved,
    iterations: fits.iterations,
  };
}

/** 'too_few_samples' when n_obs < 2K or a training set has no observed sample; else null. */
function sampleStatus(prep: Prepared, nFolds: number): string | null {
  if (prep.nO < 2 * nFolds) return 'too_few_samples';
  for (let f = 0; f < nFolds; f++)
    if (prep.nO - (prep.start[f + 1] - prep.start[f]) < 1) return 'too_few_samples';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Quantitative traits.

/** Cross-validated level-1 ridge regression and LOCO predictions (quantitative traits). */
export function level1Ridge(input: Level1Input): Level1Result {
  validate(input);
  const lambdas = input.lambdas ? Float64Array.from(input.lambdas) : level1Lambdas(Math.max(1, input.P));
  checkLambdas(lambdas);
  const prep = prepare(input);
  const bad = sampleStatus(prep, input.nFolds);
  if (bad) {
    const r = emptyResult(input, lambdas, bad, prep.scale);
    r.nObserved = prep.nO;
    return r;
  }
  const { Z, nO, A, A4, start, yo } = prep;
  const F = input.nFolds;
  // fold Grams G_f once; training Grams T_f = G − G_f; Z_fᵀy per fold
  const folds = Array.from({ length: F }, (_, f) => foldGram(prep, f, null));
  const total = trainingGrams(folds);
  const zy: Float64Array[] = [];
  const zyTot = new Float64Array(A4);
  for (let f = 0; f < F; f++) {
    const v = new Float64Array(A4);
    const len = start[f + 1] - start[f];
    for (let a = 0; a < A; a++) v[a] = dot(Z, a * nO + start[f], yo, start[f], len);
    for (let a = 0; a < A; a++) zyTot[a] += v[a];
    zy.push(v);
  }
  const R = lambdas.length;
  const cvLoss = new Float64Array(R);
  const betas: Float64Array[][] = [];
  for (let l = 0; l < R; l++) {
    const perFold: Float64Array[] = [];
    let sse = 0;
    // one factorisation per λ (of ((K−1)/K)·G + λI) preconditions the K training-set solves
    const L = A > 0 ? factorShifted(total, A, A4, (F - 1) / F, lambdas[l]) : null;
    for (let f = 0; f < F; f++) {
      const rhs = new Float64Array(A4);
      for (let a = 0; a < A; a++) rhs[a] = zyTot[a] - zy[f][a];
      const b = new Float64Array(A4);
      if (L !== null && !pcgDense(folds[f], A, A4, lambdas[l], L, rhs, b)) {
        // slow convergence (a fold very unlike the rest): solve directly
        choleskyRowsSolve(factorShifted(folds[f], A, A4, 1, lambdas[l]), A, A4, rhs);
        b.set(rhs);
      }
      perFold.push(b);
      // out-of-fold predictions of fold f's observed rows
      const r0 = start[f];
      const r1 = start[f + 1];
      const pred = new Float64Array(r1 - r0);
      for (let a = 0; a < A; a++) {
        const ba = b[a];
        if (ba === 0) continue;
        const col = a * nO;
        for (let r = r0; r < r1; r++) pred[r - r0] += Z[col + r] * ba;
      }
      for (let r = r0; r < r1; r++) {
        const e = yo[r] - pred[r - r0];
        sse += e * e;
      }
    }
    cvLoss[l] = sse / nO;
    betas.push(perFold);
  }
  return finish(
    input,
    prep,
    lambdas,
    {
      betas,
      cvLoss,
      lambdaStatus: Array.from(lambdas, () => 'ok'),
      iterations: new Int32Array(R),
    },
    'ok',
  );
}

// ---------------------------------------------------------------------------------------------
// Binary traits.

/** Cross-validated level-1 logistic ridge (offset = null logit) and LOCO predictions (binary traits). */
export function level1Logistic(
  input: Level1Input & { offset: Float64Array },
  options: Level1LogisticOptions = {},
): Level1Result {
  validate(input);
  const { n, y, observed, offset } = input;
  if (offset.length !== n) throw new Error('level 1: offset must have length n');
  for (let i = 0; i < n; i++) {
    if (!observed[i]) continue;
    if (y[i] !== 0 && y[i] !== 1) throw new Error(`level 1: binary y[${i}] = ${y[i]} is not 0/1`);
    if (!Number.isFinite(offset[i])) throw new Error(`level 1: offset[${i}] is not finite`);
  }
  const lambdas = input.lambdas
    ? Float64Array.from(input.lambdas)
    : level1LogisticLambdas(Math.max(1, input.P));
  checkLambdas(lambdas);
  const maxIter = options.maxIter ?? 100;
  const tol = options.tol ?? 1e-7;
  const prep = prepare(input);
  const F = input.nFolds;
  const bad = sampleStatus(prep, F) ?? caseStatus(prep, F);
  if (bad) {
    const r = emptyResult(input, lambdas, bad, prep.scale);
    r.nObserved = prep.nO;
    return r;
  }
  const { nO, A4, start, rowSample } = prep;
  const off = Float64Array.from(rowSample, (i) => offset[i]);
  const w0 = Float64Array.from(off, (o) => {
    const m = expit(o);
    return m * (1 - m);
  });
  // null-weight Gram Zᵀ D₀ Z over all observed rows: the Newton preconditioners come from it
  const H0 = new Float64Array(A4 * A4);
  gramRows(prep.Z, nO, A4, 0, nO, w0, H0);
  symmetrize(H0, A4);
  const foldOfRow = new Uint8Array(nO);
  for (let f = 0; f < F; f++) foldOfRow.fill(f, start[f], start[f + 1]);

  const R = lambdas.length;
  const order = Array.from({ length: R }, (_, l) => l).sort((a, b) => lambdas[b] - lambdas[a]);
  const cvLoss = new Float64Array(R).fill(Number.NaN);
  const lambdaStatus: string[] = Array.from(lambdas, () => 'not_converged');
  const iterations = new Int32Array(R);
  const betas: Float64Array[][] = Array.from({ length: R }, () => []);
  let warm: Float64Array = new Float64Array(A4 * F); // A4 × F, column f = fold f's β
  for (const l of order) {
    const lambda = lambdas[l];
    const fit = newtonFolds(prep, F, off, H0, lambda, warm, maxIter, tol);
    iterations[l] = fit.iterations;
    if (!fit.converged) continue;
    lambdaStatus[l] = 'ok';
    warm = fit.B;
    betas[l] = Array.from({ length: F }, (_, f) => fit.B.slice(f * A4, (f + 1) * A4));
    // mean deviance of the out-of-fold predictions
    let dev = 0;
    for (let r = 0; r < nO; r++) {
      const eta = fit.E[r + foldOfRow[r] * nO];
      dev += -2 * (prep.yo[r] * eta - log1pExp(eta));
    }
    cvLoss[l] = dev / nO;
  }
  return finish(input, prep, lambdas, { betas, cvLoss, lambdaStatus, iterations }, 'ok');
}

/** 'too_few_cases' when some training set has no case or no control among observed samples. */
function caseStatus(prep: Prepared, nFolds: number): string | null {
  const cases = new Int32Array(nFolds);
  let totalCases = 0;
  for (let f = 0; f < nFolds; f++)
    for (let r = prep.start[f]; r < prep.start[f + 1]; r++) if (prep.yo[r] === 1) cases[f]++;
  for (let f = 0; f < nFolds; f++) totalCases += cases[f];
  for (let f = 0; f < nFolds; f++) {
    const nTrain = prep.nO - (prep.start[f + 1] - prep.start[f]);
    const cTrain = totalCases - cases[f];
    if (cTrain === 0 || cTrain === nTrain) return 'too_few_cases';
  }
  return null;
}

interface FoldsFit {
  /** A4 × F coefficients (z units) */
  B: Float64Array;
  /** nO × F linear predictors offset + Z β_f on all rows (fold f's own rows: its out-of-fold predictions) */
  E: Float64Array;
  converged: boolean;
  iterations: number;
}

/** Relative residual at which the inner conjugate-gradient solve of a Newton step stops. */
const NEWTON_CG_TOL = 1e-4;

/**
 * Newton–CG for all K training sets at one λ, in lockstep (each pass over Z serves every fold).
 * Fold f's training rows are the observed rows outside fold f (its own rows are skipped until
 * the final out-of-fold prediction). Preconditioner: Cholesky of Σ_{g≠f} Z_gᵀD₀Z_g + λI.
 */
function newtonFolds(
  prep: Prepared,
  F: number,
  off: Float64Array,
  H0: Float64Array,
  lambda: number,
  warm: Float64Array,
  maxIter: number,
  tol: number,
): FoldsFit {
  const { Z, nO, A, A4, yo, start } = prep;
  const B = Float64Array.from(warm);
  const E = new Float64Array(nO * F);
  const training: RowPlan = { start, own: false, active: null };
  const fitted = (): Float64Array => {
    mulZ(Z, nO, A4, B, F, E, { start, own: true, active: null });
    for (let f = 0; f < F; f++) for (let r = 0; r < nO; r++) E[r + f * nO] += off[r];
    return E;
  };
  fitted();
  if (A === 0) return { B, E, converged: true, iterations: 0 };
  const pre = factorShifted(H0, A, A4, (F - 1) / F, lambda);

  const Wt = new Float64Array(nO * F); // Newton weights μ(1 − μ), training rows only
  const Res = new Float64Array(nO * F); // y − μ, training rows only
  const grad = new Float64Array(A4 * F);
  const delta = new Float64Array(A4 * F);
  const U = new Float64Array(nO * F);
  const loglik = new Float64Array(F);
  const active = new Uint8Array(F).fill(1);
  const penalty = (f: number, t: number): number => {
    let s = 0;
    for (let a = 0; a < A; a++) {
      const v = B[a + f * A4] + t * delta[a + f * A4];
      s += v * v;
    }
    return (lambda / 2) * s;
  };
  /** ℓ_f at B (weights and residuals refreshed on the training rows). */
  const evaluate = (f: number): void => {
    let ll = 0;
    const base = f * nO;
    for (let r = 0; r < nO; r++) {
      if (r === start[f]) r = start[f + 1];
      if (r >= nO) break;
      const eta = E[base + r];
      const mu = expit(eta);
      Wt[base + r] = mu * (1 - mu);
      Res[base + r] = yo[r] - mu;
      ll += yo[r] * eta - log1pExp(eta);
    }
    loglik[f] = ll - penalty(f, 0);
  };
  /** ℓ_f at B + tδ, with η + t·Zδ on the training rows. */
  const trial = (f: number, t: number): number => {
    let ll = 0;
    const base = f * nO;
    for (let r = 0; r < nO; r++) {
      if (r === start[f]) r = start[f + 1];
      if (r >= nO) break;
      const eta = E[base + r] + t * U[base + r];
      ll += yo[r] * eta - log1pExp(eta);
    }
    return ll - penalty(f, t);
  };
  for (let f = 0; f < F; f++) evaluate(f);

  let iter = 0;
  while (iter < maxIter) {
    iter++;
    training.active = active;
    // gradient Zᵀ(y − μ) − λβ, Newton step by preconditioned CG, then Zδ for the line search
    mulZt(Z, nO, A4, Res, F, grad, training);
    for (let f = 0; f < F; f++) for (let a = 0; a < A; a++) grad[a + f * A4] -= lambda * B[a + f * A4];
    pcgNewton(prep, F, Wt, pre, lambda, grad, delta, active);
    mulZ(Z, nO, A4, delta, F, U, training);
    let any = false;
    for (let f = 0; f < F; f++) {
      if (!active[f]) continue;
      // step halving until ℓ does not decrease (beyond rounding)
      let t = 1;
      let accepted = false;
      const slack = 1e-12 * (1 + Math.abs(loglik[f]));
      for (let half = 0; half < 40 && !accepted; half++) {
        if (trial(f, t) >= loglik[f] - slack) accepted = true;
        else t /= 2;
      }
      let small = true;
      for (let a = 0; a < A; a++) {
        const k = a + f * A4;
        if (accepted) B[k] += t * delta[k];
        if (Math.abs(delta[k]) > tol * (1 + Math.abs(B[k]))) small = false;
      }
      if (accepted) {
        const base = f * nO;
        for (let r = 0; r < nO; r++) E[base + r] += t * U[base + r];
        evaluate(f);
      }
      // converged: the full Newton step is negligible, or no ascent is left along it at double
      // precision (ℓ is strictly concave, so that only happens at its maximum)
      if (small || !accepted) active[f] = 0;
      else any = true;
    }
    if (!any) return { B, E: fitted(), converged: true, iterations: iter };
  }
  return { B, E: fitted(), converged: false, iterations: iter };
}

/**
 * Solves (Z_{−f}ᵀ D_f Z_{−f} + λI) δ_f = g_f for every active fold by conjugate gradients
 * preconditioned with the null-weight factor, to relative residual NEWTON_CG_TOL (at most 200
 * iterations). δ_f = 0 for inactive folds.
 */
function pcgNewton(
  prep: Prepared,
  F: number,
  Wt: Float64Array,
  pre: Float64Array,
  lambda: number,
  g: Float64Array,
  x: Float64Array,
  activeFolds: Uint8Array,
): void {
  const { Z, nO, A, A4, start } = prep;
  x.fill(0);
  const r = Float64Array.from(g);
  const p = new Float64Array(A4 * F);
  const q = new Float64Array(A4 * F);
  const U = new Float64Array(nO * F);
  const rz = new Float64Array(F);
  const gnorm = new Float64Array(F);
  const active = new Uint8Array(F);
  const plan: RowPlan = { start, own: false, active };
  const z = new Float64Array(A4);
  for (let f = 0; f < F; f++) {
    if (!activeFolds[f]) continue;
    const o = f * A4;
    gnorm[f] = Math.sqrt(dot(g, o, g, o, A));
    if (!(gnorm[f] > 0)) continue;
    active[f] = 1;
    z.set(r.subarray(o, o + A4));
    choleskyRowsSolve(pre, A, A4, z);
    p.set(z, o);
    rz[f] = dot(r, o, z, 0, A);
  }
  for (let it = 0; it < 200; it++) {
    let any = false;
    for (let f = 0; f < F; f++) if (active[f]) any = true;
    if (!any) return;
    // q = (Zᵀ D Z + λ I) p for the active folds (D is zero outside each fold's training rows)
    mulZ(Z, nO, A4, p, F, U, plan);
    for (let k = 0; k < U.length; k++) U[k] *= Wt[k];
    mulZt(Z, nO, A4, U, F, q, plan);
    for (let f = 0; f < F; f++) {
      if (!active[f]) continue;
      const o = f * A4;
      for (let a = 0; a < A; a++) q[o + a] += lambda * p[o + a];
      const alpha = rz[f] / dot(p, o, q, o, A);
      for (let a = 0; a < A; a++) {
        x[o + a] += alpha * p[o + a];
        r[o + a] -= alpha * q[o + a];
      }
      if (Math.sqrt(dot(r, o, r, o, A)) <= NEWTON_CG_TOL * gnorm[f]) {
        active[f] = 0;
        continue;
      }
      z.set(r.subarray(o, o + A4));
      choleskyRowsSolve(pre, A, A4, z);
      const rzNew = dot(r, o, z, 0, A);
      const beta = rzNew / rz[f];
      rz[f] = rzNew;
      for (let a = 0; a < A; a++) p[o + a] = z[a] + beta * p[o + a];
    }
  }
}
