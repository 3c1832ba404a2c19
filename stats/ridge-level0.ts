/**
 * REGENIE step 1, level 0: block ridge regressions with out-of-fold predictions.
 *
 * Reference: Mbatchou J. et al. (2021) "Computationally efficient whole-genome regression for
 * quantitative and binary traits", Nat Genet 53:1097–1103 (REGENIE), Methods "Step 1" and its
 * Supplementary Note (level 0 ridge, K-fold cross-validation, ridge parameter grid). Written from
 * the paper, not from REGENIE's code.
 *
 * Notation: n analysis samples (j = 0..n−1; genotype position sampleIdx[j] in the packed call
 * vectors of the release, 2 bits per call, first sample in the low bits, code = ALT allele count
 * 0/1/2, 3 = missing: stats/packed.ts), Q = the n × q orthonormal covariate basis (column-major,
 * QᵀQ = I over the n samples), a block of B consecutive step-1 variants of one chromosome, F folds,
 * K traits, R shrinkage values λ_1..λ_R.
 *
 * Genotype standardisation, per variant (column) g of the block:
 *   μ = mean of the called analysis samples; g_imp = g with missing calls set to μ;
 *   g̃ = (I − QQᵀ) g_imp                                   (residualised on the covariates)
 *   g̃ ← g̃ · √(n / Σ g̃²)                                    (Σ g̃² = n: unit variance, 1/n convention)
 *   A variant is CONSTANT — it contributes an all-zero column, β = 0, and is counted in
 *   `nConstant` — when no analysis sample is called, or when Σ g̃² ≤ 1e-8 · Σ g_imp² (monomorphic,
 *   or fully explained by the covariates). Means, residualisation and scaling use all n samples
 *   (every fold), as in REGENIE.
 *
 * Traits (`prepareLevel0Traits`), per trait k with observed rows O (finite values):
 *   r = y_O − Q_O (Q_OᵀQ_O)⁻ Q_Oᵀ y_O   (least squares on the observed rows only; a rank-deficient
 *   Q_O is handled by re-orthonormalising it with linalg.orthonormalBasis), scale = √(Σ r² / |O|),
 *   y_prepared = r / scale on O and 0 on the missing rows, so Σ y² = |O| and a missing entry adds
 *   nothing to Gᵀy (it still counts in GᵀG, which is shared by all traits, as in REGENIE).
 *   Predictions are in prepared units: multiply by `scale[k]` for trait units.
 *
 * Ridge per block, fold f, shrinkage λ (G̃ = the standardised n × B block, rows of fold f = G̃_f):
 *   β̂_{f,λ} = (G̃_{−f}ᵀ G̃_{−f} + λ I)⁻¹ G̃_{−f}ᵀ y_{−f},        ŷ_f = G̃_f β̂_{f,λ}  (out of fold).
 *   Per fold the Gram W_f = G̃_fᵀG̃_f and g_f = G̃_fᵀ y_f are formed ONCE; the training system of
 *   fold f is Σ_{h≠f} W_h + λI with right-hand side Σ_{h≠f} g_h (sums over the other folds, so ŷ_f
 *   does not depend on y_f at all). Each (fold, λ) system is solved by Cholesky, in a WebAssembly
 *   SIMD kernel. Measured (bench/ridge-level0.ts, n = 10,000): with the same plain JavaScript, the
 *   R = 5 Cholesky factorisations of a fold cost about as much as one Householder
 *   tridiagonalisation reused for every λ at B = 500 (and 1.6× more at B = 1000), but the
 *   Cholesky is a compact f64x2 kernel, 11× faster than the JavaScript one (16 ms for 5 at
 *   B = 500), while the tridiagonalisation is memory-bound rank-2 updates.
 *
 * Fast Gram (the hot kernel, `level0System`): the Gram of the RAW calls is exact in integer
 * arithmetic. Samples are reordered fold by fold, each fold padded to 128 samples, and every
 * variant is stored as two bit planes h1 = [g ≥ 1], h2 = [g = 2] (missing → 0), so with G0 = codes
 * (missing → 0), X_f = G0_fᵀG0_f is popcounts (stats/wasm/gram-build.ts, WebAssembly SIMD). With
 * M = missing indicators, μ = means, G_imp = G0 + M diag(μ), C_f = Q_fᵀG_imp,f (q × B, summed over
 * the sparse non-zero calls), C = Σ_f C_f = QᵀG_imp, D_f = Q_fᵀQ_f:
 *   A_f = G_imp,fᵀG_imp,f = X_f + Y_f diag(μ) + diag(μ) Y_fᵀ + diag(μ) Z_f diag(μ),
 *         Y_f = G0_fᵀM_f, Z_f = M_fᵀM_f       (sums over the missing calls only)
 *   G̃_fᵀG̃_f (before scaling) = A_f − C_fᵀC − CᵀC_f + Cᵀ D_f C,     Σ g̃_j² = Σ_f A_f,jj − ‖C_j‖²
 *   G̃_fᵀ y_f = diag(s) (G_imp,fᵀ y_f − Cᵀ Q_fᵀ y_f),   s_j = √(n / Σ g̃_j²) (0 for a constant variant).
 * Y_f and Z_f are gathered from the packed calls at each variant's missing calls (WASM
 * `miss_gather`), so their cost is B × (number of missing calls); the out-of-fold predictions
 * G̃_f β = G_imp,f (s∘β) − Q_f C (s∘β) are summed over the non-zero calls only.
 * `level0SystemReference` builds G̃ as a dense float matrix and sums the products plainly; the tests
 * hold the two to 1e-9 relative.
 *
 * Shrinkage grid (`level0Lambdas`): the level-0 ridge parameters represent SNP heritabilities
 * h²_r evenly spaced in (0, 1): r / (R − 1) with the ends moved in to 0.01 and 0.99 (R = 5: 0.01,
 * 0.25, 0.5, 0.75, 0.99 — regenie's `--l0` "evenly spaced in (0,1)"), λ_r = M (1 − h²_r) / h²_r,
 * M = the number of step-1 variants: the ratio σ²_e / σ²_β of the infinitesimal model y = Gβ + e
 * with per-variant effect variance σ²_β = h² σ²_y / M and σ²_e = (1 − h²) σ²_y, for UNIT-VARIANCE
 * genotype columns — hence Σ g̃² = n above (the ratio does not depend on the scale of y: ridge is
 * equivariant in y).
 *
 * Folds (`foldsOf`): F contiguous chunks in sample order (as REGENIE), sizes differing by ≤ 1.
 *
 * Edge cases: constant variants (zero column, counted); all-missing variants (constant); a trait
 * with no observed value, or constant after residualisation → Error naming the trait; a fold with no
 * samples → no predictions to make, its training system is the full data; a ridge system that is
 * not numerically positive definite (cannot happen for λ > 0 short of overflow) → Error naming the
 * fold and λ; λ ≤ 0 or non-finite → RangeError.
 */

import type { WasmApi, WasmMemory } from './kernel-wasm-api.js';
import { cholesky, choleskySolve, orthonormalBasis, RANK_TOL } from './linalg.js';
import { GRAM_WASM_BASE64 } from './wasm/gram-wasm.js';

/**
 * One analysis (samples, folds, covariates, traits, shrinkage values). Its arrays must not be
 * modified after the first level0 call with it: the per-setup preparation (sample order, covariate
 * and trait rows) is cached, keyed by the object.
 */
export interface Level0Setup {
  /** analysis samples */
  n: number;
  /** genotype positions in the packed vectors */
  nGeno: number;
  /** analysis sample j → genotype position */
  sampleIdx: Int32Array;
  /** fold of analysis sample j (0..nFolds−1) */
  fold: Uint8Array;
  nFolds: number;
  /** Q, n × q column-major, orthonormal */
  basis: Float64Array;
  q: number;
  /** n × K column-major, prepared by prepareLevel0Traits */
  y: Float64Array;
  K: number;
  /** R values */
  lambdas: Float64Array;
}

/** Σ g̃² ≤ CONSTANT_TOL · Σ g_imp² marks a variant as constant (zero column). */
export const CONSTANT_TOL = 1e-8;

// ---------------------------------------------------------------------------------------------
// Folds, shrinkage grid, traits

/** Fold of each of n samples: F contiguous chunks in sample order, the first n mod F one larger. */
export function foldsOf(n: number, nFolds: number): Uint8Array {
  if (!Number.isInteger(nFolds) || nFolds < 1 || nFolds > 255) {
    throw new RangeError(`foldsOf: nFolds must be an integer in 1..255, got ${nFolds}`);
  }
  if (!Number.isInteger(n) || n < nFolds) {
    throw new RangeError(`foldsOf: need at least one sample per fold (n = ${n}, nFolds = ${nFolds})`);
  }
  const out = new Uint8Array(n);
  const base = Math.floor(n / nFolds);
  const rem = n % nFolds;
  let j = 0;
  for (let f = 0; f < nFolds; f++) {
    const size = base + (f < rem ? 1 : 0);
    out.fill(f, j, j + size);
    j += size;
  }
  return out;
}

/**
 * Level-0 ridge parameters λ_r = M (1 − h²_r) / h²_r for h²_r = r / (R − 1) clamped to
 * [0.01, 0.99] (r = 0..R−1; R = 5: 0.01, 0.25, 0.5, 0.75, 0.99; R = 1: 0.5), in that order
 * (decreasing λ). Scale: genotype columns with Σ g̃² = n (see the module comment).
 */
export function level0Lambdas(M: number, R = 5): Float64Array {
  if (!(M >= 1) || !Number.isFinite(M)) throw new RangeError(`level0Lambdas: M must be ≥ 1, got ${M}`);
  if (!Number.isInteger(R) || R < 1)
    throw new RangeError(`level0Lambdas: R must be a positive integer, got ${R}`);
  const out = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    const h2 = R === 1 ? 0.5 : Math.min(Math.max(r / (R - 1), 0.01), 0.99);
    out[r] = (M * (1 - h2)) / h2;
  }
  return out;
}

/**
 * Residualise each trait on the covariate basis over its observed rows, scale it to Σ y² = n_obs and
 * set its missing rows (NaN) to 0 (see the module comment). `scale[k]` maps back:
 * residual = y_prepared · scale.
 */
export function prepareLevel0Traits(
  yRaw: Float64Array,
  K: number,
  basis: Float64Array,
  q: number,
): { y: Float64Array; scale: Float64Array; nObserved: Int32Array } {
  if (!(K >= 1) || yRaw.length % K !== 0) {
    throw new RangeError(`prepareLevel0Traits: ${yRaw.length} values are not n × ${K}`);
  }
  const n = yRaw.length / K;
  if (basis.length !== n * q)
    throw new RangeError(`prepareLevel0Traits: basis has ${basis.length} values, need ${n} × ${q}`);
  const y = new Float64Array(n * K);
  const scale = new Float64Array(K);
  const nObserved = new Int32Array(K);
  for (let k = 0; k < K; k++) {
    const col = yRaw.subarray(k * n, (k + 1) * n);
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (Number.isFinite(col[i])) rows.push(i);
    const m = rows.length;
    if (m === 0) throw new Error(`prepareLevel0Traits: trait ${k} has no observed value`);
    const qo = new Float64Array(m * q);
    for (let c = 0; c < q; c++) for (let t = 0; t < m; t++) qo[t + c * m] = basis[rows[t] + c * n];
    const ob = orthonormalBasis(qo, m, q);
    const r = Float64Array.from(rows, (i) => col[i]);
    let ss0 = 0;
    for (let t = 0; t < m; t++) ss0 += r[t] * r[t];
    for (let c = 0; c < ob.rank; c++) {
      const off = c * m;
      let d = 0;
      for (let t = 0; t < m; t++) d += ob.q[off + t] * r[t];
      for (let t = 0; t < m; t++) r[t] -= d * ob.q[off + t];
    }
    let ss = 0;
    for (let t = 0; t < m; t++) ss += r[t] * r[t];
    if (!(ss > 1e-12 * ss0) || !(ss > 0)) {
      throw new Error(`prepareLevel0Traits: trait ${k} is constant after adjusting for the covariates`);
    }
    const s = Math.sqrt(ss / m);
    for (let t = 0; t < m; t++) y[rows[t] + k * n] = r[t] / s;
    scale[k] = s;
    nObserved[k] = m;
  }
  return { y, scale, nObserved };
}

// ---------------------------------------------------------------------------------------------
// WebAssembly kernels (stats/wasm/gram.wat)

interface GramExports {
  mem: WasmMemory;
  gram_planes(
    base: number,
    stride: number,
    nv: number,
    c0: number,
    c1: number,
    out: number,
    ld: number,
  ): void;
  miss_gather(
    bytes: number,
    nbytes: number,
    nv: number,
    at: number,
    seg: number,
    nSeg: number,
    out: number,
  ): void;
  chol(a: number, p: number, ld: number, tol: number): number;
  chol_solve(a: number, p: number, ld: number, b: number, nrhs: number, ldb: number): void;
  predict_add(pred: number, krp: number, ts: number, cs: number, cnt: number, bt: number, mu: number): void;
  sym_correct(
    w: number,
    ld: number,
    nv: number,
    u: number,
    l2: number,
    vt: number,
    ldv: number,
    s: number,
  ): void;
  decode_accum(
    bytes: number,
    gp: number,
    t0: number,
    t1: number,
    z: number,
    wp: number,
    outT: number,
    outC: number,
    accC: number,
    accM: number,
    planes: number,
    pbit: number,
    counts: number,
  ): number;
}

export type Level0Backend = 'auto' | 'js';
let backend: Level0Backend = 'auto';
/** undefined: not loaded yet; null: unavailable. */
let gx: GramExports | null | undefined;

/** 'auto' (default): the WebAssembly kernels when available; 'js': plain JavaScript. Returns whether WASM is usable. */
export function setLevel0Backend(b: Level0Backend): boolean {
  backend = b;
  return loadGram() !== null;
}

function loadGram(): GramExports | null {
  if (gx !== undefined) return gx;
  try {
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    if (!api) throw new Error('no WebAssembly');
    const inst = new api.Instance(new api.Module(Buffer.from(GRAM_WASM_BASE64, 'base64')));
    gx = inst.exports as unknown as GramExports;
  } catch {
    gx = null;
  }
  return gx;
}

/**
 * Drops the module instance so that the garbage collector can free its memory (WebAssembly memory
 * only grows: it holds the largest block's bit planes and Grams seen so far). The next call loads a
 * fresh instance.
 */
export function resetLevel0Kernel(): void {
  gx = undefined;
}

function wasm(): GramExports | null {
  return backend === 'js' ? null : loadGram();
}

/** Grows the module memory to `bytes`; false when it cannot. */
function reserve(e: GramExports, bytes: number): boolean {
  const have = e.mem.buffer.byteLength;
  if (bytes <= have) return true;
  if (bytes > 2 ** 32 - 65536) return false;
  try {
    e.mem.grow(Math.ceil((bytes - have) / 65536));
    return true;
  } catch {
    return false;
  }
}

const align64 = (x: number) => Math.ceil(x / 64) * 64;

// ---------------------------------------------------------------------------------------------
// Ridge solve

/**
 * β = (gram + λI)⁻¹ gty for the symmetric B × B `gram` (column-major, both triangles) and the
 * B × K right-hand sides `gty` (column-major; K = gty.length / B). Cholesky (WASM when available).
 * Throws when the system is not numerically positive definite.
 */
export function ridgeSolve(gram: Float64Array, B: number, gty: Float64Array, lambda: number): Float64Array {
  if (!(lambda > 0) || !Number.isFinite(lambda))
    throw new RangeError(`ridgeSolve: λ must be > 0, got ${lambda}`);
  if (gram.length !== B * B || gty.length % Math.max(B, 1) !== 0)
    throw new RangeError('ridgeSolve: size mismatch');
  const out = new Float64Array(gty.length);
  if (B === 0) return out;
  const solver = new RidgeSolver(B, gty.length / B);
  if (!solver.solve(gram, null, lambda, gty, out))
    throw new Error(`ridgeSolve: system not positive definite at λ = ${lambda}`);
  return out;
}

/** Cholesky solves of (T + λI) X = R for one B and K, in WASM memory when available. */
class RidgeSolver {
  private readonly p: number;
  private readonly e: GramExports | null;
  private matAt = 0;
  private rhsAt = 0;
  private readonly a: Float64Array;
  constructor(
    private readonly B: number,
    private readonly K: number,
  ) {
    this.p = B + (B & 1);
    let e = wasm();
    if (e) {
      this.matAt = 0;
      this.rhsAt = align64(this.matAt + 8 * this.p * this.p);
      if (!reserve(e, this.rhsAt + 8 * this.p * K + 64)) e = null;
    }
    this.e = e;
    this.a = e ? new Float64Array(0) : new Float64Array(B * B);
  }

  /**
   * x = (t − sub + λI)⁻¹ rhs (sub optional: the training Gram as total − fold), false when not
   * positive definite.
   */
  solve(
    t: Float64Array,
    sub: Float64Array | null,
    lambda: number,
    rhs: Float64Array,
    x: Float64Array,
  ): boolean {
    const { B, K, p } = this;
    const e = this.e;
    if (e) {
      const f64 = new Float64Array(e.mem.buffer);
      const m0 = this.matAt >> 3;
      let maxDiag = 0;
      for (let j = 0; j < B; j++) {
        const o = m0 + j * p;
        const src = j * B;
        // upper triangle only (the kernel reads nothing else)
        if (sub) for (let i = 0; i <= j; i++) f64[o + i] = t[src + i] - sub[src + i];
        else for (let i = 0; i <= j; i++) f64[o + i] = t[src + i];
        f64[o + j] += lambda;
        if (f64[o + j] > maxDiag) maxDiag = f64[o + j];
      }
      if (p !== B) {
        const o = m0 + B * p;
        f64.fill(0, o, o + B);
        f64[o + B] = 1;
      }
      if (!(maxDiag > 0) || !Number.isFinite(maxDiag)) return false;
      if (!e.chol(this.matAt, p, p, RANK_TOL * maxDiag)) return false;
      const r0 = this.rhsAt >> 3;
      for (let k = 0; k < K; k++) {
        f64.set(rhs.subarray(k * B, (k + 1) * B), r0 + k * p);
        if (p !== B) f64[r0 + k * p + B] = 0;
      }
      e.chol_solve(this.matAt, p, p, this.rhsAt, K, p);
      for (let k = 0; k < K; k++) x.set(f64.subarray(r0 + k * p, r0 + k * p + B), k * B);
      return true;
    }
    const a = this.a;
    if (sub) for (let i = 0; i < B * B; i++) a[i] = t[i] - sub[i];
    else a.set(t);
    for (let j = 0; j < B; j++) a[j + j * B] += lambda;
    if (!cholesky(a, B)) return false;
    x.set(rhs);
    for (let k = 0; k < K; k++) choleskySolve(a, B, x.subarray(k * B, (k + 1) * B));
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-setup preparation (cached)

interface Prepared {
  /** fold-major order: order[t] = analysis sample */
  order: Int32Array;
  /** t range of fold f: [foldStart[f], foldStart[f+1]) */
  foldStart: Int32Array;
  /** 128-sample chunk range of fold f in the bit planes */
  chunkStart: Int32Array;
  nChunks: number;
  /** genotype position of t */
  genoPos: Int32Array;
  /** plane word (i32 index within a variant's planes) · 32 + bit, of t */
  planeBit: Int32Array;
  /** 1 when fold f's genotype positions are consecutive (genoPos[t] = genoPos[t0] + t − t0) */
  contig: Uint8Array;
  /** row t: [Q row | y row], q + K values */
  z: Float64Array;
  /** z with each row padded with zeros to wp values (cached per wp) */
  zPadded(wp: number): Float64Array;
  /** per fold: Q_fᵀQ_f (q × q) and Q_fᵀy_f (q × K), column-major */
  dq: Float64Array[];
  py: Float64Array[];
}

const prepCache = new WeakMap<Level0Setup, { y: Float64Array; basis: Float64Array; p: Prepared }>();

function validateSetup(s: Level0Setup): void {
  const { n, nGeno, q, K, nFolds } = s;
  if (s.sampleIdx.length !== n || s.fold.length !== n)
    throw new RangeError('level0: sampleIdx and fold need n entries');
  if (s.basis.length !== n * q)
    throw new RangeError(`level0: basis has ${s.basis.length} values, need ${n} × ${q}`);
  if (s.y.length !== n * K || K < 1)
    throw new RangeError(`level0: y has ${s.y.length} values, need ${n} × ${K}`);
  if (!(nFolds >= 1) || nFolds > 255) throw new RangeError(`level0: nFolds must be in 1..255, got ${nFolds}`);
  for (let j = 0; j < n; j++) {
    const g = s.sampleIdx[j];
    if (!(g >= 0 && g < nGeno))
      throw new RangeError(`level0: sampleIdx[${j}] = ${g} outside 0..${nGeno - 1}`);
    if (s.fold[j] >= nFolds) throw new RangeError(`level0: fold[${j}] = ${s.fold[j]} ≥ nFolds = ${nFolds}`);
  }
  if (s.lambdas.length < 1) throw new RangeError('level0: no shrinkage value');
  for (const l of s.lambdas)
    if (!(l > 0) || !Number.isFinite(l)) throw new RangeError(`level0: λ must be > 0, got ${l}`);
  for (let i = 0; i < n * K; i++) {
    if (!Number.isFinite(s.y[i]))
      throw new RangeError('level0: y must be finite (missing values prepared to 0 by prepareLevel0Traits)');
  }
}

function prepared(s: Level0Setup): Prepared {
  const hit = prepCache.get(s);
  if (hit && hit.y === s.y && hit.basis === s.basis) return hit.p;
  validateSetup(s);
  const { n, q, K, nFolds: F } = s;
  const foldStart = new Int32Array(F + 1);
  for (let j = 0; j < n; j++) foldStart[s.fold[j] + 1]++;
  for (let f = 0; f < F; f++) foldStart[f + 1] += foldStart[f];
  const order = new Int32Array(n);
  const fill = foldStart.slice(0, F);
  for (let j = 0; j < n; j++) order[fill[s.fold[j]]++] = j;
  const chunkStart = new Int32Array(F + 1);
  for (let f = 0; f < F; f++)
    chunkStart[f + 1] = chunkStart[f] + Math.ceil((foldStart[f + 1] - foldStart[f]) / 128);
  const genoPos = new Int32Array(n);
  const planeBit = new Int32Array(n);
  const w = q + K;
  const z = new Float64Array(n * w);
  const dq: Float64Array[] = [];
  const py: Float64Array[] = [];
  for (let f = 0; f < F; f++) {
    const d = new Float64Array(q * q);
    const pq = new Float64Array(q * K);
    for (let t = foldStart[f]; t < foldStart[f + 1]; t++) {
      const j = order[t];
      genoPos[t] = s.sampleIdx[j];
      const local = t - foldStart[f];
      const chunk = chunkStart[f] + (local >> 7);
      planeBit[t] = (chunk * 8 + ((local >> 5) & 3)) * 32 + (local & 31);
      const o = t * w;
      for (let c = 0; c < q; c++) z[o + c] = s.basis[j + c * n];
      for (let k = 0; k < K; k++) z[o + q + k] = s.y[j + k * n];
      for (let a = 0; a < q; a++) {
        const qa = z[o + a];
        for (let b = 0; b < q; b++) d[a + b * q] += qa * z[o + b];
        for (let k = 0; k < K; k++) pq[a + k * q] += qa * z[o + q + k];
      }
    }
    dq.push(d);
    py.push(pq);
  }
  const contig = new Uint8Array(F);
  for (let f = 0; f < F; f++) {
    let ok = 1;
    for (let t = foldStart[f] + 1; t < foldStart[f + 1] && ok; t++)
      if (genoPos[t] !== genoPos[t - 1] + 1) ok = 0;
    contig[f] = ok;
  }
  let zp: Float64Array | null = null;
  const p: Prepared = {
    order,
    foldStart,
    chunkStart,
    nChunks: chunkStart[F],
    genoPos,
    planeBit,
    contig,
    z,
    zPadded: (wp: number) => {
      if (zp?.length !== n * wp) {
        zp = new Float64Array(n * wp);
        for (let t = 0; t < n; t++) zp.set(z.subarray(t * w, (t + 1) * w), t * wp);
      }
      return zp;
    },
    dq,
    py,
  };
  prepCache.set(s, { y: s.y, basis: s.basis, p });
  return p;
}

// ---------------------------------------------------------------------------------------------
// Block systems

/** Per-fold normal equations of one block in standardised units. */
export interface Level0System {
  B: number;
  /** per fold: W_f = G̃_fᵀG̃_f, B × B column-major (both triangles) */
  gram: Float64Array[];
  /** per fold: G̃_fᵀ y_f, B × K column-major */
  gty: Float64Array[];
  /** per variant: mean of the called samples (imputation value) */
  mean: Float64Array;
  /** per variant: s_j = √(n / Σ g̃²) (0 for a constant variant) */
  scale: Float64Array;
  constant: Uint8Array;
  nConstant: number;
}

function checkGts(s: Level0Setup, gts: readonly Uint8Array[]): void {
  const need = (s.nGeno + 3) >> 2;
  for (let v = 0; v < gts.length; v++) {
    if (gts[v].length < need)
      throw new RangeError(`level0: call vector ${v} has ${gts[v].length} bytes, need ${need}`);
  }
}

/** Popcount of a 32-bit word (JS fallback of the WASM Gram). */
function popcnt32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** JS fallback of `gram_planes`: out[i·ld + j] = Σ g_i·g_j over chunks [c0, c1), i ≤ j. */
function gramPlanesJs(
  words: Int32Array,
  strideWords: number,
  nv: number,
  c0: number,
  c1: number,
  out: Int32Array,
  ld: number,
): void {
  for (let i = 0; i < nv; i++) {
    const bi = i * strideWords;
    for (let j = i; j < nv; j++) {
      const bj = j * strideWords;
      let s = 0;
      for (let c = c0 * 8; c < c1 * 8; c += 8) {
        for (let k = 0; k < 4; k++) {
          const a1 = words[bi + c + k];
          const a2 = words[bi + c + 4 + k];
          const b1 = words[bj + c + k];
          const b2 = words[bj + c + 4 + k];
          s += popcnt32(a1 & b1) + popcnt32((a1 & b2) | (a2 & b1)) + 2 * popcnt32(a2 & b2);
        }
      }
      out[i * ld + j] = s;
    }
  }
}

/** code 0/1/2/3 → G0 + 2³²·M (sums decode as Y = low part, Z = high part). */
const ENC = Float64Array.of(0, 1, 2, 2 ** 32);

/**
 * The non-zero calls (code 1, 2 or 3) of one variant in fold f, in sample order: ts[at + e] = t,
 * cs[at + e] = code; returns their number. Consecutive genotype positions are read a byte (4 calls) at a time,
 * skipping zero bytes.
 */
function decodeNonzero(
  bytes: Uint8Array,
  p: Prepared,
  f: number,
  ts: Int32Array,
  cs: Uint8Array,
  at = 0,
): number {
  const t0 = p.foldStart[f];
  const t1 = p.foldStart[f + 1];
  let cnt = at;
  if (t1 === t0) return 0;
  if (p.contig[f]) {
    const g0 = p.genoPos[t0];
    const g1 = g0 + (t1 - t0);
    const off = t0 - g0;
    let g = g0;
    for (; g < g1 && (g & 3) !== 0; g++) {
      const c = (bytes[g >> 2] >> ((g & 3) << 1)) & 3;
      if (c !== 0) {
        ts[cnt] = g + off;
        cs[cnt++] = c;
      }
    }
    const bEnd = g1 >> 2;
    for (let b = g >> 2; b < bEnd; b++) {
      const byte = bytes[b];
      if (byte === 0) continue;
      const t = (b << 2) + off;
      let c = byte & 3;
      if (c !== 0) {
        ts[cnt] = t;
        cs[cnt++] = c;
      }
      c = (byte >> 2) & 3;
      if (c !== 0) {
        ts[cnt] = t + 1;
        cs[cnt++] = c;
      }
      c = (byte >> 4) & 3;
      if (c !== 0) {
        ts[cnt] = t + 2;
        cs[cnt++] = c;
      }
      c = byte >> 6;
      if (c !== 0) {
        ts[cnt] = t + 3;
        cs[cnt++] = c;
      }
    }
    for (g = Math.max(g, bEnd << 2); g < g1; g++) {
      const c = (bytes[g >> 2] >> ((g & 3) << 1)) & 3;
      if (c !== 0) {
        ts[cnt] = g + off;
        cs[cnt++] = c;
      }
    }
    return cnt - at;
  }
  const gp = p.genoPos;
  for (let t = t0; t < t1; t++) {
    const g = gp[t];
    const c = (bytes[g >> 2] >> ((g & 3) << 1)) & 3;
    if (c === 0) continue;
    ts[cnt] = t;
    cs[cnt++] = c;
  }
  return cnt - at;
}

/** scratch for the missing-call cross terms of one block, reused across blocks. */
let yzScratch = new Float64Array(0);
/** the block's decoded non-zero calls (pass 1), reused by its predictions and across blocks */
let decT = new Int32Array(0);
let decC = new Uint8Array(0);
/**
 * At most `decodeCacheMax` decoded calls are kept per block (default 16 Mi, 5 bytes each: 80 MB). Beyond it (biobank-size
 * samples × large blocks) the remaining variants are decoded again for the predictions.
 */
let decodeCacheMax = 16 * 1024 * 1024;

/** Sets the decoded-call bound (tests use a small one to take the re-decoding path); returns the old one. */
export function setDecodeCacheMax(entries: number): number {
  const old = decodeCacheMax;
  decodeCacheMax = entries;
  return old;
}

interface FastBlock {
  sys: Level0System;
  /** C = QᵀG_imp, q × B column-major (raw units) */
  c: Float64Array;
  /**
   * The non-zero calls of variant v in fold f: entries decOff[v·F + f] .. decOff[v·F + f + 1] of
   * `decT` (sample t) and `decC` (code), as `decodeNonzero` gives them, for v < `nCached` (the
   * others did not fit `decodeCacheMax`). Valid until the next block.
   */
  decOff: Int32Array;
  nCached: number;
}

/**
 * Fast per-fold normal equations of one block: bit-plane popcount Gram of the raw calls plus the
 * missing-call and rank-q covariate corrections (see the module comment).
 */
export function level0System(setup: Level0Setup, gts: readonly Uint8Array[]): Level0System {
  return fastSystem(setup, gts, false).sys;
}

/** the per-fold Grams of `level0Block`'s blocks (F · B² doubles), reused across blocks */
let gramScratch = new Float64Array(0);

/** `reuse`: the Grams are views of a scratch that the next block overwrites (level0Block's case). */
function fastSystem(setup: Level0Setup, gts: readonly Uint8Array[], reuse: boolean): FastBlock {
  const p = prepared(setup);
  checkGts(setup, gts);
  const { n, q, K, nFolds: F } = setup;
  const B = gts.length;
  const Bp = B + (B & 1);
  const w = q + K;
  const strideWords = p.nChunks * 8;
  const { planeBit, z, chunkStart } = p;

  // bit planes: WASM memory [64, gramAt) then the i32 Gram, or JS arrays; during pass 1 the
  // Gram's place and beyond hold decode_accum's inputs and outputs: z with rows padded to wp,
  // genoPos, the two accumulators, one variant-fold's decoded calls, one variant's packed calls
  let e = wasm();
  const gramAt = align64(64 + Bp * strideWords * 4);
  const wp = w + (w & 1);
  const nbytesAll = (setup.nGeno + 3) >> 2;
  const zAt = gramAt;
  const gpAt = align64(zAt + 8 * n * wp);
  const accAt = align64(gpAt + 4 * n);
  const listTAt = align64(accAt + 16 * wp);
  const listCAt = align64(listTAt + 4 * n);
  const varAt = align64(listCAt + n);
  const pbitAt = align64(varAt + nbytesAll);
  const countsAt = align64(pbitAt + 4 * n);
  const end = Math.max(gramAt + 4 * Bp * Bp, countsAt + 16) + 64;
  if (e && !reserve(e, end)) e = null;
  const pw = e ? new Int32Array(e.mem.buffer, 64, Bp * strideWords) : new Int32Array(Bp * strideWords);
  pw.fill(0);
  const decOff = new Int32Array(B * F + 1);
  let caching = true;
  let nCached = 0;
  let noCacheT = decT;
  let noCacheC = decC;
  const m32 = e ? new Int32Array(e.mem.buffer) : null;
  const m8 = e ? new Uint8Array(e.mem.buffer) : null;
  const m64 = e ? new Float64Array(e.mem.buffer) : null;
  if (e && m64 && m32) {
    m64.set(p.zPadded(wp), zAt >> 3);
    m32.set(p.genoPos, gpAt >> 2);
    m32.set(p.planeBit, pbitAt >> 2);
  }

  // pass 1: planes, counts, missing lists; per fold Σ_{c∈{1,2}} c·z_t and Σ_{missing} z_t
  const mean = new Float64Array(B);
  const noneCalled = new Uint8Array(B);
  const sumC: Float64Array[] = [];
  const sumM: Float64Array[] = [];
  for (let f = 0; f < F; f++) {
    sumC.push(new Float64Array(w * B));
    sumM.push(new Float64Array(w * B));
  }
  let missT = new Int32Array(1024);
  let nMissAll = 0;
  /** missing t's of variant v in fold f: missT[missOff[v(F+1)+f] .. missOff[v(F+1)+f+1]) */
  const missOff = new Int32Array(B * (F + 1));
  for (let v = 0; v < B; v++) {
    const base = v * strideWords;
    const o0 = v * w;
    let n1 = 0;
    let n2 = 0;
    for (let f = 0; f < F; f++) {
      missOff[v * (F + 1) + f] = nMissAll;
      const accC = sumC[f];
      const accM = sumM[f];
      // past the cache's bound, decode into a scratch (kept for this variant-fold only)
      if (caching && f === 0 && v > 0 && decOff[v * F] + n > decodeCacheMax) {
        caching = false;
        noCacheT = new Int32Array(n);
        noCacheC = new Uint8Array(n);
      }
      if (caching && f === F - 1) nCached = v + 1;
      const d0 = caching ? decOff[v * F + f] : 0;
      if (caching && decT.length < d0 + n) {
        const grownT = new Int32Array(Math.max(2 * decT.length, d0 + n));
        grownT.set(decT.subarray(0, d0));
        decT = grownT;
        const grownC = new Uint8Array(grownT.length);
        grownC.set(decC.subarray(0, d0));
        decC = grownC;
      }
      const ts = caching ? decT : noCacheT;
      const cs = caching ? decC : noCacheC;
      let d1: number;
      if (e && m8 && m32 && m64) {
        // decode and both sums in the kernel (bit-identical to the loop below)
        if (f === 0) {
          m8.set(gts[v].subarray(0, nbytesAll), varAt);
          m32.fill(0, countsAt >> 2, (countsAt >> 2) + 3);
        }
        m64.fill(0, accAt >> 3, (accAt >> 3) + 2 * wp);
        const missBefore = m32[(countsAt >> 2) + 2];
        const cnt = e.decode_accum(
          varAt,
          gpAt,
          p.foldStart[f],
          p.foldStart[f + 1],
          zAt,
          wp,
          listTAt,
          listCAt,
          accAt,
          accAt + 8 * wp,
          64 + 4 * base,
          pbitAt,
          countsAt,
        );
        d1 = d0 + cnt;
        ts.set(m32.subarray(listTAt >> 2, (listTAt >> 2) + cnt), d0);
        cs.set(m8.subarray(listCAt, listCAt + cnt), d0);
        const a0 = accAt >> 3;
        for (let a = 0; a < w; a++) {
          accC[o0 + a] = m64[a0 + a];
          accM[o0 + a] = m64[a0 + wp + a];
        }
        decOff[v * F + f + 1] = caching ? d1 : 0;
        if (f === F - 1) {
          n1 = m32[countsAt >> 2];
          n2 = m32[(countsAt >> 2) + 1];
        }
        // planes and counts are set; only the (rare) missing calls are listed here
        if (m32[(countsAt >> 2) + 2] === missBefore) continue;
        for (let k = d0; k < d1; k++) {
          if (cs[k] !== 3) continue;
          if (nMissAll === missT.length) {
            const grown = new Int32Array(2 * missT.length);
            grown.set(missT);
            missT = grown;
          }
          missT[nMissAll++] = ts[k];
        }
        continue;
      }
      d1 = d0 + decodeNonzero(gts[v], p, f, ts, cs, d0);
      decOff[v * F + f + 1] = caching ? d1 : 0;
      for (let k = d0; k < d1; k++) {
        const t = ts[k];
        const c = cs[k];
        const o = t * w;
        if (c === 3) {
          if (nMissAll === missT.length) {
            const grown = new Int32Array(2 * missT.length);
            grown.set(missT);
            missT = grown;
          }
          missT[nMissAll++] = t;
          for (let a = 0; a < w; a++) accM[o0 + a] += z[o + a];
          continue;
        }
        const pb = planeBit[t];
        const word = base + (pb >> 5);
        const bit = 1 << (pb & 31);
        pw[word] |= bit;
        if (c === 2) {
          n2++;
          pw[word + 4] |= bit;
          for (let a = 0; a < w; a++) accC[o0 + a] += 2 * z[o + a];
        } else {
          n1++;
          for (let a = 0; a < w; a++) accC[o0 + a] += z[o + a];
        }
      }
    }
    missOff[v * (F + 1) + F] = nMissAll;
    const called = n - (nMissAll - missOff[v * (F + 1)]);
    noneCalled[v] = called === 0 ? 1 : 0;
    mean[v] = called > 0 ? (n1 + 2 * n2) / called : 0;
  }

  // missing-call cross terms: yz_f[i + jB] = Σ_{t ∈ miss_j ∩ f} (G0_i[t] + 2³²·M_i[t])
  const yz: Float64Array[] | null = nMissAll > 0 ? [] : null;
  if (yz) {
    // a reused scratch (F · B² doubles): no garbage of this size per block
    if (yzScratch.length < F * B * B) yzScratch = new Float64Array(F * B * B);
    yzScratch.fill(0, 0, F * B * B);
    for (let f = 0; f < F; f++) yz.push(yzScratch.subarray(f * B * B, (f + 1) * B * B));
    /** (variant j, fold f) segments of the missing lists that are not empty */
    const segs: number[] = [];
    for (let j = 0; j < B; j++) {
      for (let f = 0; f < F; f++)
        if (missOff[j * (F + 1) + f + 1] > missOff[j * (F + 1) + f]) segs.push(j, f);
    }
    // each missing call as byte index · 8 + bit shift in the packed vectors: the codes of any
    // variant i there are read straight from its (cache-resident) packed bytes; per (j, f) segment
    // Σ (G0 + 2¹⁶·M) is exact in an int32 while the segment has < 2¹⁵ calls (else float sums)
    const at = new Int32Array(nMissAll);
    for (let m = 0; m < nMissAll; m++) {
      const gp = p.genoPos[missT[m]];
      at[m] = ((gp >> 2) << 3) | ((gp & 3) << 1);
    }
    const nSeg = segs.length >> 1;
    const bounds = new Int32Array(nSeg + 1);
    let small = true;
    for (let k = 0; k < nSeg; k++) {
      const j = segs[2 * k];
      const f = segs[2 * k + 1];
      bounds[k] = missOff[j * (F + 1) + f];
      bounds[k + 1] = missOff[j * (F + 1) + f + 1];
      if (bounds[k + 1] - bounds[k] >= 32768) small = false;
    }
    const nbytes = (setup.nGeno + 3) >> 2;
    const bytesAt = align64(gramAt + 4 * Bp * Bp);
    const atAt = align64(bytesAt + B * nbytes);
    const boundsAt = align64(atAt + 4 * nMissAll);
    const outAt = align64(boundsAt + 4 * (nSeg + 1));
    if (e && small && reserve(e, outAt + 4 * B * nSeg)) {
      const u8 = new Uint8Array(e.mem.buffer);
      for (let i = 0; i < B; i++) u8.set(gts[i].subarray(0, nbytes), bytesAt + i * nbytes);
      new Int32Array(e.mem.buffer, atAt, nMissAll).set(at);
      new Int32Array(e.mem.buffer, boundsAt, nSeg + 1).set(bounds);
      e.miss_gather(bytesAt, nbytes, B, atAt, boundsAt, nSeg, outAt);
      const out = new Int32Array(e.mem.buffer, outAt, B * nSeg);
      for (let i = 0; i < B; i++) {
        for (let k = 0; k < nSeg; k++) {
          const v = out[i * nSeg + k];
          yz[segs[2 * k + 1]][i + segs[2 * k] * B] = (v & 0xffff) + (v >>> 16) * 2 ** 32;
        }
      }
    } else {
      for (let i = 0; i < B; i++) {
        const bytes = gts[i];
        for (let k = 0; k < nSeg; k++) {
          let acc = 0;
          for (let m = bounds[k]; m < bounds[k + 1]; m++) {
            const a = at[m];
            acc += ENC[(bytes[a >> 3] >> (a & 7)) & 3];
          }
          yz[segs[2 * k + 1]][i + segs[2 * k] * B] = acc;
        }
      }
    }
  }

  // raw-call Gram of each fold, then A_f = X_f + Y_f diag(μ) + diag(μ) Y_fᵀ + diag(μ) Z_f diag(μ)
  const a: Float64Array[] = [];
  const xJs = e ? null : new Int32Array(Bp * Bp);
  for (let f = 0; f < F; f++) {
    let xf: Int32Array;
    if (e) {
      e.gram_planes(64, strideWords * 4, Bp, chunkStart[f], chunkStart[f + 1], gramAt, Bp);
      xf = new Int32Array(e.mem.buffer, gramAt, Bp * Bp);
    } else {
      xf = xJs as Int32Array;
      gramPlanesJs(pw, strideWords, Bp, chunkStart[f], chunkStart[f + 1], xf, Bp);
    }
    // xf[i·Bp + j] (i ≤ j) is element (j, i) of the lower triangle in column-major order
    if (reuse && gramScratch.length < F * B * B) gramScratch = new Float64Array(F * B * B);
    const af = reuse ? gramScratch.subarray(f * B * B, (f + 1) * B * B) : new Float64Array(B * B);
    for (let i = 0; i < B; i++) {
      const oi = i * Bp;
      for (let j = i; j < B; j++) af[j + i * B] = xf[oi + j];
    }
    const yzf = yz ? yz[f] : null;
    if (yzf) {
      const T32 = 2 ** 32;
      for (let i = 0; i < B; i++) {
        const mi = mean[i];
        for (let j = i; j < B; j++) {
          const ij = yzf[i + j * B];
          const ji = yzf[j + i * B];
          const zij = Math.floor(ij / T32);
          const zji = Math.floor(ji / T32);
          af[j + i * B] += mean[j] * (ij - zij * T32) + mi * (ji - zji * T32) + mi * mean[j] * zij;
        }
      }
    }
    a.push(af);
  }

  // C_f = Q_fᵀG_imp,f, C = Σ_f C_f, H_f = G_imp,fᵀ y_f (K × B)
  const cf: Float64Array[] = [];
  const hf: Float64Array[] = [];
  const c = new Float64Array(q * B);
  for (let f = 0; f < F; f++) {
    const cq = new Float64Array(q * B);
    const hk = new Float64Array(K * B);
    const sc = sumC[f];
    const sm = sumM[f];
    for (let j = 0; j < B; j++) {
      const o = j * w;
      for (let l = 0; l < q; l++) {
        const val = sc[o + l] + mean[j] * sm[o + l];
        cq[l + j * q] = val;
        c[l + j * q] += val;
      }
      for (let k = 0; k < K; k++) hk[k + j * K] = sc[o + q + k] + mean[j] * sm[o + q + k];
    }
    cf.push(cq);
    hf.push(hk);
  }

  // scaling and constant variants: Σ g̃_j² = Σ_f A_f,jj − ‖C_j‖²
  const scale = new Float64Array(B);
  const constant = new Uint8Array(B);
  let nConstant = 0;
  for (let j = 0; j < B; j++) {
    let raw = 0;
    for (let f = 0; f < F; f++) raw += a[f][j + j * B];
    let cc = 0;
    for (let l = 0; l < q; l++) cc += c[l + j * q] * c[l + j * q];
    const v = raw - cc;
    if (noneCalled[j] || !(v > CONSTANT_TOL * raw)) {
      constant[j] = 1;
      nConstant++;
    } else scale[j] = Math.sqrt(n / v);
  }

  // W_f = diag(s) (A_f − C_fᵀC − Cᵀ E_f) diag(s), E_f = C_f − D_f C (as one dot product of
  // length 2q per element: [C_f; C]ᵀ[C; E_f]);  g_f = diag(s) (H_fᵀ − Cᵀ P_f)
  const gram: Float64Array[] = [];
  const gty: Float64Array[] = [];
  const q2 = 2 * q;
  const u = new Float64Array(q2 * B);
  const vv = new Float64Array(q2 * B);
  // sym_correct's operands in WASM memory (the Gram's place is free again)
  const kAt = { w: gramAt, u: 0, vt: 0, s: 0 };
  kAt.u = align64(kAt.w + 8 * Bp * Bp);
  kAt.vt = align64(kAt.u + 8 * q2 * B);
  kAt.s = align64(kAt.vt + 8 * q2 * Bp);
  let k64: Float64Array | null = null;
  if (e && reserve(e, kAt.s + 8 * Bp + 64)) {
    k64 = new Float64Array(e.mem.buffer);
    k64.fill(0, kAt.vt >> 3, (kAt.s >> 3) + Bp);
    k64.set(scale, kAt.s >> 3);
  }
  for (let f = 0; f < F; f++) {
    const d = p.dq[f];
    const cq = cf[f];
    for (let j = 0; j < B; j++) {
      for (let l = 0; l < q; l++) {
        let dc = 0;
        for (let m = 0; m < q; m++) dc += d[l + m * q] * c[m + j * q];
        u[q2 * j + l] = cq[l + j * q];
        u[q2 * j + q + l] = c[l + j * q];
        vv[q2 * j + l] = c[l + j * q];
        vv[q2 * j + q + l] = cq[l + j * q] - dc;
      }
    }
    const wf = a[f];
    if (k64) {
      // the same sums in the kernel (lanes j, j + 1; bit-identical): the lower triangle of wf in
      // with leading dimension Bp, u, vv transposed (j contiguous), s padded with a zero
      const w0 = kAt.w >> 3;
      const vt0 = kAt.vt >> 3;
      for (let i = 0; i < B; i++) k64.set(wf.subarray(i * B + i, i * B + B), w0 + i * Bp + i);
      k64.set(u, kAt.u >> 3);
      for (let j = 0; j < B; j++) for (let l = 0; l < q2; l++) k64[vt0 + l * Bp + j] = vv[q2 * j + l];
      (e as GramExports).sym_correct(kAt.w, Bp, B, kAt.u, q2, kAt.vt, Bp, kAt.s);
      for (let i = 0; i < B; i++) wf.set(k64.subarray(w0 + i * Bp + i, w0 + i * Bp + B), i * B + i);
    } else {
      for (let i = 0; i < B; i++) {
        const si = scale[i];
        const oi = q2 * i;
        for (let j = i; j < B; j++) {
          const oj = q2 * j;
          let corr = 0;
          for (let l = 0; l < q2; l++) corr += u[oi + l] * vv[oj + l];
          wf[j + i * B] = si * scale[j] * (wf[j + i * B] - corr);
        }
      }
    }
    for (let j = 1; j < B; j++) for (let i = 0; i < j; i++) wf[i + j * B] = wf[j + i * B];
    gram.push(wf);
    const py = p.py[f];
    const g = new Float64Array(B * K);
    const hk = hf[f];
    for (let j = 0; j < B; j++) {
      for (let k = 0; k < K; k++) {
        let cp = 0;
        for (let l = 0; l < q; l++) cp += c[l + j * q] * py[l + k * q];
        g[j + k * B] = scale[j] * (hk[k + j * K] - cp);
      }
    }
    gty.push(g);
  }
  return { sys: { B, gram, gty, mean, scale, constant, nConstant }, c, decOff, nCached };
}

// ---------------------------------------------------------------------------------------------
// Plain reference

/**
 * The standardised block G̃ as a dense n × B column-major matrix in analysis-sample order (plain
 * float arithmetic, the module comment's definition), with its means, scales and constant flags.
 */
export function standardizedBlock(
  setup: Level0Setup,
  gts: readonly Uint8Array[],
): { g: Float64Array; mean: Float64Array; scale: Float64Array; constant: Uint8Array; nConstant: number } {
  validateSetup(setup);
  checkGts(setup, gts);
  const { n, q, basis } = setup;
  const B = gts.length;
  const g = new Float64Array(n * B);
  const mean = new Float64Array(B);
  const scale = new Float64Array(B);
  const constant = new Uint8Array(B);
  let nConstant = 0;
  const d = new Float64Array(q);
  for (let v = 0; v < B; v++) {
    const col = g.subarray(v * n, (v + 1) * n);
    let sum = 0;
    let called = 0;
    for (let j = 0; j < n; j++) {
      const gp = setup.sampleIdx[j];
      const code = (gts[v][gp >> 2] >> ((gp & 3) << 1)) & 3;
      col[j] = code === 3 ? Number.NaN : code;
      if (code !== 3) {
        sum += code;
        called++;
      }
    }
    const mu = called > 0 ? sum / called : 0;
    mean[v] = mu;
    let raw = 0;
    for (let j = 0; j < n; j++) {
      if (Number.isNaN(col[j])) col[j] = mu;
      raw += col[j] * col[j];
    }
    for (let l = 0; l < q; l++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += basis[j + l * n] * col[j];
      d[l] = s;
    }
    let ss = 0;
    for (let j = 0; j < n; j++) {
      let r = col[j];
      for (let l = 0; l < q; l++) r -= basis[j + l * n] * d[l];
      col[j] = r;
      ss += r * r;
    }
    if (called === 0 || !(ss > CONSTANT_TOL * raw)) {
      constant[v] = 1;
      nConstant++;
      col.fill(0);
    } else {
      const s = Math.sqrt(n / ss);
      scale[v] = s;
      for (let j = 0; j < n; j++) col[j] *= s;
    }
  }
  return { g, mean, scale, constant, nConstant };
}

/** Per-fold G̃_fᵀG̃_f and G̃_fᵀy_f by plain sums over the dense standardised block. */
export function level0SystemReference(
  setup: Level0Setup,
  gts: readonly Uint8Array[],
): Level0System & { g: Float64Array } {
  const std = standardizedBlock(setup, gts);
  const { n, K, nFolds: F, fold, y } = setup;
  const B = gts.length;
  const g = std.g;
  const gram: Float64Array[] = [];
  const gty: Float64Array[] = [];
  for (let f = 0; f < F; f++) {
    const rows: number[] = [];
    for (let j = 0; j < n; j++) if (fold[j] === f) rows.push(j);
    const wf = new Float64Array(B * B);
    for (let i = 0; i < B; i++) {
      for (let k = i; k < B; k++) {
        let s = 0;
        for (const j of rows) s += g[j + i * n] * g[j + k * n];
        wf[i + k * B] = s;
        wf[k + i * B] = s;
      }
    }
    const gf = new Float64Array(B * K);
    for (let i = 0; i < B; i++) {
      for (let k = 0; k < K; k++) {
        let s = 0;
        for (const j of rows) s += g[j + i * n] * y[j + k * n];
        gf[i + k * B] = s;
      }
    }
    gram.push(wf);
    gty.push(gf);
  }
  return {
    B,
    gram,
    gty,
    mean: std.mean,
    scale: std.scale,
    constant: std.constant,
    nConstant: std.nConstant,
    g,
  };
}

// ---------------------------------------------------------------------------------------------
// Solve and predict

/** Σ_f W_f of `level0Solve`, reused across calls */
let totalScratch = new Float64Array(0);

/**
 * β̂_{f,λ} for every fold f and shrinkage value: betas[f][r] is B × K column-major, solving
 * (Σ_{h≠f} W_h + λ_r I) β = Σ_{h≠f} g_h. A fold without samples gets empty arrays.
 */
export function level0Solve(
  sys: Level0System,
  lambdas: Float64Array,
  K: number,
  foldSizes?: ArrayLike<number>,
): Float64Array[][] {
  const { B, gram, gty } = sys;
  const F = gram.length;
  if (totalScratch.length < B * B) totalScratch = new Float64Array(B * B);
  const total = totalScratch.subarray(0, B * B);
  total.fill(0);
  for (const wf of gram) for (let i = 0; i < B * B; i++) total[i] += wf[i];
  const solver = new RidgeSolver(B, K);
  const rhs = new Float64Array(B * K);
  const out: Float64Array[][] = [];
  for (let f = 0; f < F; f++) {
    const perLambda: Float64Array[] = [];
    out.push(perLambda);
    if (foldSizes && foldSizes[f] === 0) {
      for (let r = 0; r < lambdas.length; r++) perLambda.push(new Float64Array(0));
      continue;
    }
    rhs.fill(0);
    for (let h = 0; h < F; h++) {
      if (h === f) continue;
      const gh = gty[h];
      for (let i = 0; i < B * K; i++) rhs[i] += gh[i];
    }
    for (let r = 0; r < lambdas.length; r++) {
      const lambda = lambdas[r];
      if (!(lambda > 0) || !Number.isFinite(lambda))
        throw new RangeError(`level0: λ must be > 0, got ${lambda}`);
      const beta = new Float64Array(B * K);
      if (B > 0 && !solver.solve(total, gram[f], lambda, rhs, beta)) {
        throw new Error(`level0: ridge system of fold ${f} at λ = ${lambda} is not positive definite`);
      }
      perLambda.push(beta);
    }
  }
  return out;
}

function foldSizesOf(setup: Level0Setup): Int32Array {
  const sizes = new Int32Array(setup.nFolds);
  for (let j = 0; j < setup.n; j++) sizes[setup.fold[j]]++;
  return sizes;
}

/**
 * Out-of-fold level-0 predictions of one block. `gts[v]` is variant v's packed call vector (nGeno positions).
 * Returns predictions as Float32Array of n × (K·R), column (k·R + r) holding trait k at lambdas[r]
 * (trait-major so one trait's R columns are contiguous), and how many variants were constant.
 */
export function level0Block(
  setup: Level0Setup,
  gts: readonly Uint8Array[],
): { predictions: Float32Array; nConstant: number } {
  const { n, q, K, nFolds: F, lambdas } = setup;
  const R = lambdas.length;
  const KR = K * R;
  const { sys, c, decOff, nCached } = fastSystem(setup, gts, true);
  const p = prepared(setup);
  const betas = level0Solve(sys, lambdas, K, foldSizesOf(setup));
  const B = sys.B;
  const { z, foldStart, order } = p;
  const w = q + K;
  const decScratchT = nCached < B ? new Int32Array(n) : decT;
  const decScratchC = nCached < B ? new Uint8Array(n) : decC;
  const bt = new Float64Array(B * KR);
  const u = new Float64Array(q * KR);
  // WASM: pred (rows padded to krp), bt (same padding), one variant-fold's calls; else JS arrays
  const kx = wasm();
  const krp = KR + (KR & 1);
  const at = { pred: 64, ts: 0, cs: 0, bt: 0 };
  at.ts = align64(at.pred + 8 * n * krp);
  at.cs = align64(at.ts + 4 * n);
  at.bt = align64(at.cs + n);
  const mem = kx && reserve(kx, at.bt + 8 * B * krp + 64) ? kx.mem.buffer : null;
  const ld = mem ? krp : KR;
  const pred = mem ? new Float64Array(mem, at.pred, n * krp) : new Float64Array(n * KR);
  const btW = mem ? new Float64Array(mem, at.bt, B * krp) : null;
  const m32 = mem ? new Int32Array(mem) : null;
  const m8 = mem ? new Uint8Array(mem) : null;
  pred.fill(0);
  btW?.fill(0);
  for (let f = 0; f < F; f++) {
    const t0 = foldStart[f];
    const t1 = foldStart[f + 1];
    if (t1 === t0) continue;
    // b̃[j, k·R + r] = s_j β_{f,r}[j, k] (raw-call units); u = C b̃
    for (let r = 0; r < R; r++) {
      const beta = betas[f][r];
      for (let k = 0; k < K; k++) {
        for (let j = 0; j < B; j++) bt[j * KR + k * R + r] = sys.scale[j] * beta[j + k * B];
      }
    }
    u.fill(0);
    for (let j = 0; j < B; j++) {
      for (let l = 0; l < q; l++) {
        const cl = c[l + j * q];
        if (cl === 0) continue;
        for (let cc = 0; cc < KR; cc++) u[l * KR + cc] += cl * bt[j * KR + cc];
      }
    }
    for (let t = t0; t < t1; t++) {
      for (let cc = 0; cc < KR; cc++) {
        let s = 0;
        for (let l = 0; l < q; l++) s += z[t * w + l] * u[l * KR + cc];
        pred[t * ld + cc] = -s;
      }
    }
    if (btW) for (let j = 0; j < B; j++) btW.set(bt.subarray(j * KR, (j + 1) * KR), j * krp);
    for (let j = 0; j < B; j++) {
      if (sys.constant[j]) continue;
      const mu = sys.mean[j];
      const oj = j * KR;
      let ts = decT;
      let cs = decC;
      let e0 = decOff[j * F + f];
      let e1 = decOff[j * F + f + 1];
      if (j >= nCached) {
        ts = decScratchT;
        cs = decScratchC;
        e0 = 0;
        e1 = decodeNonzero(gts[j], p, f, ts, cs);
      }
      if (kx && m32 && m8) {
        m32.set(ts.subarray(e0, e1), at.ts >> 2);
        m8.set(cs.subarray(e0, e1), at.cs);
        kx.predict_add(at.pred, krp, at.ts, at.cs, e1 - e0, at.bt + 8 * j * krp, mu);
        continue;
      }
      for (let e = e0; e < e1; e++) {
        const code = cs[e];
        const val = code === 3 ? mu : code;
        const ot = ts[e] * KR;
        for (let cc = 0; cc < KR; cc++) pred[ot + cc] += val * bt[oj + cc];
      }
    }
  }
  const predictions = new Float32Array(n * KR);
  for (let t = 0; t < n; t++) {
    const j = order[t];
    for (let cc = 0; cc < KR; cc++) predictions[j + cc * n] = pred[t * ld + cc];
  }
  return { predictions, nConstant: sys.nConstant };
}

/** `level0Block` computed on the dense standardised block with plain sums (the tests' reference). */
export function level0BlockReference(
  setup: Level0Setup,
  gts: readonly Uint8Array[],
): { predictions: Float32Array; nConstant: number } {
  const { n, K, lambdas, fold } = setup;
  const R = lambdas.length;
  const sys = level0SystemReference(setup, gts);
  const betas = level0Solve(sys, lambdas, K, foldSizesOf(setup));
  const B = sys.B;
  const predictions = new Float32Array(n * K * R);
  for (let j = 0; j < n; j++) {
    const f = fold[j];
    for (let k = 0; k < K; k++) {
      for (let r = 0; r < R; r++) {
        const beta = betas[f][r];
        let s = 0;
        for (let v = 0; v < B; v++) s += sys.g[j + v * n] * beta[v + k * B];
        predictions[j + (k * R + r) * n] = s;
      }
    }
  }
  return { predictions, nConstant: sys.nConstant };
}
