/**
 * Step 1, level 0 over the whole genome at once (`loco.level0: 'genome'`): one ridge regression
 * of each trait on EVERY step-1 variant, fitted out of fold at R shrinkages, whose prediction is
 * kept split by chromosome so that level 1 can leave one chromosome out.
 *
 * Why (docs/methods.md, "LOCO"): REGENIE's level 0 fits each block on its own (Mbatchou et al.
 * 2021, Nat Genet 53:1097). With close relatives, a person's genetic similarity to a relative is
 * spread over every block, and per-block ridges combined by level-1 weights cannot reproduce the
 * whole-genome BLUP K(K + δI)⁻¹y that a mixed model (BOLT-LMM-inf: Loh et al. 2015, Nat Genet
 * 47:284) uses. On the families of test/association/loco-calibration.test.ts (3,000 persons, 40 %
 * in sibships) the block stack's −log10 p correlates with `bolt --lmm` at r = 0.965; this
 * whole-genome level 0 gives 0.986. Its cost grows with n · M · K (below), so it is the choice for
 * cohorts up to a few thousand persons and few traits; `auto` picks it there for quantitative
 * traits (binary ones keep the blocks: gwas/step1.ts `level0Mode`).
 *
 * Model (the notation of stats/ridge-level0.ts): Z = the n × M standardised step-1 genotypes (each
 * column mean-imputed, residualised on the covariate basis Q, scaled to Σ z² = n; constant
 * variants all 0), y = a prepared trait (residualised, Σ y² = n_obs, 0 where missing), folds
 * f = 1..F, T_f = the persons outside fold f. For fold f and shrinkage λ_r (level0Lambdas:
 * λ = M (1 − h²) / h², the infinitesimal model's σ²_e/σ²_β):
 *
 *   β̂_{f,r} = (Z_{T_f}ᵀ Z_{T_f} + λ_r I)⁻¹ Z_{T_f}ᵀ y_{T_f} = Z_{T_f}ᵀ α_{f,r},
 *   α_{f,r} = (Z_{T_f} Z_{T_f}ᵀ + λ_r I)⁻¹ y_{T_f}                      (the dual, n_T × n_T)
 *   part c of the out-of-fold prediction of person i in fold f:  P_{c,r}(i) = Σ_{j ∈ chrom c} z_ij β̂_{f,r,j}
 *
 * so Σ_c P_{c,r}(i) = z_iᵀ β̂_{f,r} = K_{i,T_f} (K_{T_f} + λ_r I)⁻¹ y_{T_f} with K = Z Zᵀ: the
 * out-of-fold BLUP of the infinitesimal model at h²_r. Level 1 (gwas/step1.ts) is fitted to one
 * whole-genome column Σ_c P_{c,r} at a time and keeps the r with the lowest cross-validated loss;
 * the LOCO prediction for chromosome c applies its weight to Σ_{c' ≠ c} P_{c',r}.
 *
 * Solver: the F·K dual systems share no matrix but share every pass over Z, and the R shrinkages
 * of one system share its Krylov space. So all are solved together by multi-shift conjugate
 * gradients (Jegerlehner 1996, hep-lat/9612014; Frommer 2003, Computing 70:87): CG on the smallest
 * shift λ_min, each other shift λ_r = λ_min + σ_r carried by the recurrences
 *   ζ_{j+1} = ζ_j ζ_{j−1} a_{j−1} / (a_j b_{j−1} (ζ_{j−1} − ζ_j) + ζ_{j−1} a_{j−1} (1 + σ_r a_j)),
 *   a^σ_j = a_j ζ_{j+1}/ζ_j,  b^σ_j = (ζ_{j+1}/ζ_j)² b_j,  x^σ += a^σ_j p^σ_j,  p^σ ← ζ_{j+1} r + b^σ_j p^σ,
 * whose residual is ζ r. A system stops when every shift's residual is ≤ `tol` ‖y_{T_f}‖ (default
 * 1e-10). Each iteration is one pass over Z: for each column, u = zᵀV (all F·K search directions)
 * then V' += z u. Cost per iteration 2·n·M·F·K multiply-adds; iterations grow with the condition
 * number (K_{T} + λ_min)/λ_min, typically 30–150.
 *
 * Edge cases: constant variants are zero columns (no contribution); a trait with no observed value
 * in T_f (y_{T_f} = 0) has α = 0 and predictions 0 for fold f; a fold with no persons predicts
 * nothing; λ ≤ 0 or non-finite → RangeError; no convergence within `maxIter` (default 2,000) →
 * Error naming the fold and trait (cannot happen for λ > 0 short of overflow).
 */

export interface GenomeRidgeInput {
  /** Z: n persons × M variants, standardised (module comment), made by `genomeMatrix` */
  z: GenomeMatrix;
  /** part (chromosome row) of each column, 0..nParts−1 */
  partOf: Int32Array;
  nParts: number;
  /** fold of each person, 0..nFolds−1 */
  fold: Uint8Array;
  nFolds: number;
  /** n × K column-major, prepared traits (stats/ridge-level0.ts `prepareLevel0Traits`) */
  y: Float64Array;
  K: number;
  /** R shrinkages (level0Lambdas) */
  lambdas: Float64Array;
  tol?: number;
  maxIter?: number;
  /** called after every iteration (a heartbeat) */
  onIteration?: (iteration: number) => void;
}

export interface GenomeRidgeResult {
  /**
   * Per part c: the out-of-fold prediction from part c's variants, n × K·R column-major, column
   * k·R + r for trait k at lambdas[r] (trait-major, as level0Block's files).
   */
  parts: Float64Array[];
  iterations: number;
}

import type { WasmApi, WasmMemory } from './kernel-wasm-api.js';
import { GENOME_WASM_BASE64 } from './wasm/genome-wasm.js';

interface GenomeExports {
  mem: WasmMemory;
  zz_apply(z: number, nb: number, nc: number, v: number, m: number, w: number, u: number): void;
}

/**
 * Z, column-major with leading dimension `ld` (n rounded up to 4, padding rows 0), and the scratch
 * of `gramApply` for up to `mMax` right-hand sides. In a WebAssembly memory of its own when one of
 * the size can be made (the `zz_apply` SIMD kernel, stats/wasm/genome-build.ts), else JS arrays.
 */
export interface GenomeMatrix {
  n: number;
  M: number;
  ld: number;
  /** fill column j at [j·ld, j·ld + n); leave the padding 0 */
  z: Float64Array;
  mMax: number;
  v: Float64Array;
  w: Float64Array;
  kernel: { e: GenomeExports; z: number; v: number; w: number; u: number } | null;
}

export type GenomeBackend = 'auto' | 'js';
let backend: GenomeBackend = 'auto';
/** 'js' forces the plain JavaScript pass (tests compare the two); returns whether it changed. */
export function setGenomeBackend(b: GenomeBackend): boolean {
  const changed = b !== backend;
  backend = b;
  return changed;
}

function instantiate(): GenomeExports | null {
  try {
    const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
    if (!api) return null;
    const inst = new api.Instance(new api.Module(Buffer.from(GENOME_WASM_BASE64, 'base64')));
    return inst.exports as unknown as GenomeExports;
  } catch {
    return null;
  }
}

/** An all-zero Z of n × M with scratch for `mMax` right-hand sides (see GenomeMatrix). */
export function genomeMatrix(n: number, M: number, mMax: number): GenomeMatrix {
  if (!(n >= 1 && M >= 1 && mMax >= 1)) throw new RangeError(`genomeMatrix: bad size ${n} × ${M}, ${mMax}`);
  const ld = Math.ceil(n / 4) * 4;
  const bytes = 8 * (ld * (M + 2 * mMax) + mMax) + 64;
  const e = backend === 'auto' && bytes <= 2 ** 32 - 2 ** 20 ? instantiate() : null;
  if (e) {
    try {
      const have = e.mem.buffer.byteLength;
      if (bytes > have) e.mem.grow(Math.ceil((bytes - have) / 65536));
      const buf = e.mem.buffer;
      const at = { z: 0, v: 8 * ld * M, w: 8 * ld * (M + mMax), u: 8 * ld * (M + 2 * mMax) };
      return {
        n,
        M,
        ld,
        mMax,
        z: new Float64Array(buf, at.z, ld * M),
        v: new Float64Array(buf, at.v, ld * mMax),
        w: new Float64Array(buf, at.w, ld * mMax),
        kernel: { e, ...at },
      };
    } catch {
      // memory cannot grow that far: plain arrays
    }
  }
  return {
    n,
    M,
    ld,
    mMax,
    z: new Float64Array(ld * M),
    v: new Float64Array(ld * mMax),
    w: new Float64Array(ld * mMax),
    kernel: null,
  };
}

/**
 * w[:, s] += Z_{[j0, j1)} (Z_{[j0, j1)}ᵀ v[:, s]) for s < m, over columns j0..j1−1 of Z (`g.v`
 * and `g.w` hold the m columns, leading dimension g.ld). One pass over those columns: each
 * column's dot products, then its updates, while it is in cache.
 */
export function gramApply(g: GenomeMatrix, j0: number, j1: number, m: number): void {
  if (m > g.mMax) throw new RangeError(`gramApply: ${m} right-hand sides, room for ${g.mMax}`);
  const { ld, z, v: V, w: W } = g;
  if (g.kernel) {
    const k = g.kernel;
    k.e.zz_apply(k.z + 8 * ld * j0, 8 * ld, j1 - j0, k.v, m, k.w, k.u);
    return;
  }
  const u = new Float64Array(m);
  for (let j = j0; j < j1; j++) {
    const o = j * ld;
    for (let s = 0; s < m; s++) {
      const vo = s * ld;
      let a0 = 0;
      let a1 = 0;
      for (let i = 0; i < ld; i += 2) {
        a0 += z[o + i] * V[vo + i];
        a1 += z[o + i + 1] * V[vo + i + 1];
      }
      u[s] = a0 + a1;
    }
    for (let s = 0; s < m; s++) {
      const us = u[s];
      if (us === 0) continue;
      const wo = s * ld;
      for (let i = 0; i < ld; i++) W[wo + i] += us * z[o + i];
    }
  }
}

function checkInput(inp: GenomeRidgeInput): void {
  const { partOf, nParts, fold, nFolds, y, K, lambdas } = inp;
  const { n, M } = inp.z;
  if (partOf.length !== M) throw new RangeError(`genomeRidge: partOf has ${partOf.length} values, need ${M}`);
  for (const c of partOf)
    if (!(c >= 0 && c < nParts)) throw new RangeError(`genomeRidge: part ${c} outside 0..${nParts - 1}`);
  if (fold.length !== n) throw new RangeError(`genomeRidge: fold has ${fold.length} values, need ${n}`);
  for (const f of fold) if (f >= nFolds) throw new RangeError(`genomeRidge: fold ${f} ≥ nFolds ${nFolds}`);
  if (y.length !== n * K) throw new RangeError(`genomeRidge: y has ${y.length} values, need ${n} × ${K}`);
  if (lambdas.length === 0) throw new RangeError('genomeRidge: no shrinkage value');
  for (const l of lambdas)
    if (!(l > 0) || !Number.isFinite(l))
      throw new RangeError(`genomeRidge: λ must be > 0 and finite, got ${l}`);
}

/** Out-of-fold whole-genome ridge predictions, split by part (see the module comment). */
export function genomeRidge(inp: GenomeRidgeInput): GenomeRidgeResult {
  checkInput(inp);
  const { partOf, nParts, fold, nFolds: F, y, K, lambdas } = inp;
  const g = inp.z;
  const { n, M, ld } = g;
  const tol = inp.tol ?? 1e-10;
  const maxIter = inp.maxIter ?? 2000;
  const R = lambdas.length;
  const m = F * K; // systems: s = f·K + k
  const lmin = Math.min(...lambdas);
  const sigma = Float64Array.from(lambdas, (l) => l - lmin);
  // right-hand sides y_k on T_f; r, p, q: n × m; x^σ, p^σ: per shift n × m
  const res = new Float64Array(n * m);
  for (let f = 0; f < F; f++)
    for (let k = 0; k < K; k++) {
      const o = (f * K + k) * n;
      for (let i = 0; i < n; i++) if (fold[i] !== f) res[o + i] = y[k * n + i];
    }
  const dir = res.slice();
  const q = new Float64Array(n * m);
  const x = Array.from({ length: R }, () => new Float64Array(n * m));
  const ps = Array.from({ length: R }, () => res.slice());
  const zeta = new Float64Array(R * m).fill(1);
  const zetaPrev = new Float64Array(R * m).fill(1);
  const aPrev = new Float64Array(m).fill(1);
  const bPrev = new Float64Array(m);
  const rr = new Float64Array(m);
  const bnorm = new Float64Array(m);
  const active = new Uint8Array(m);
  /** shift r of system s has converged */
  const done = new Uint8Array(R * m);
  const dot = (a: Float64Array, b: Float64Array, o: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[o + i] * b[o + i];
    return s;
  };
  for (let s = 0; s < m; s++) {
    rr[s] = dot(res, res, s * n);
    bnorm[s] = Math.sqrt(rr[s]);
    active[s] = rr[s] > 0 ? 1 : 0;
  }
  let it = 0;
  while (active.some((v) => v === 1)) {
    if (it >= maxIter) {
      const s = active.indexOf(1);
      throw new Error(
        `genomeRidge: fold ${Math.floor(s / K)}, trait ${s % K} did not converge in ${maxIter} iterations`,
      );
    }
    it++;
    // q = (Z_T Z_Tᵀ + λ_min I) p on T_f (p is 0 on fold f, so only the output needs the mask)
    for (let s = 0; s < m; s++) g.v.set(dir.subarray(s * n, (s + 1) * n), s * ld);
    g.w.fill(0, 0, m * ld);
    gramApply(g, 0, M, m);
    for (let s = 0; s < m; s++) {
      const o = s * n;
      const f = Math.floor(s / K);
      for (let i = 0; i < n; i++) q[o + i] = fold[i] === f ? 0 : g.w[s * ld + i] + lmin * dir[o + i];
    }
    for (let s = 0; s < m; s++) {
      if (!active[s]) continue;
      const o = s * n;
      const a = rr[s] / dot(dir, q, o);
      const zn = new Float64Array(R);
      for (let r = 0; r < R; r++) {
        if (done[r * m + s]) continue;
        const zr = zeta[r * m + s];
        const zp = zetaPrev[r * m + s];
        zn[r] = (zr * zp * aPrev[s]) / (a * bPrev[s] * (zp - zr) + zp * aPrev[s] * (1 + sigma[r] * a));
        const ar = (a * zn[r]) / zr;
        const xr = x[r];
        const pr = ps[r];
        for (let i = 0; i < n; i++) xr[o + i] += ar * pr[o + i];
      }
      for (let i = 0; i < n; i++) res[o + i] -= a * q[o + i];
      const rrNew = dot(res, res, o);
      const b = rrNew / rr[s];
      let open = 0;
      for (let r = 0; r < R; r++) {
        if (done[r * m + s]) continue;
        const zr = zeta[r * m + s];
        zetaPrev[r * m + s] = zr;
        zeta[r * m + s] = zn[r];
        // shift r has residual ζ r: once small enough it stops (its ζ would underflow)
        if (Math.abs(zn[r]) * Math.sqrt(rrNew) <= tol * bnorm[s]) {
          done[r * m + s] = 1;
          continue;
        }
        open++;
        const br = (zn[r] / zr) ** 2 * b;
        const pr = ps[r];
        for (let i = 0; i < n; i++) pr[o + i] = zn[r] * res[o + i] + br * pr[o + i];
      }
      for (let i = 0; i < n; i++) dir[o + i] = res[o + i] + b * dir[o + i];
      aPrev[s] = a;
      bPrev[s] = b;
      rr[s] = rrNew;
      if (open === 0) active[s] = 0;
    }
    // a converged system's direction stops: zero it, so the shared pass skips its updates
    for (let s = 0; s < m; s++) if (!active[s]) dir.fill(0, s * n, (s + 1) * n);
    inp.onIteration?.(it);
  }
  // Part c of person i's prediction (fold f) = Σ_{j∈c} z_ij β̂_j, β̂ = Zᵀα: Z_c Z_cᵀ α over
  // every (shift, system) α, then row i keeps its own fold's systems.
  const KR = K * R;
  const parts = Array.from({ length: nParts }, () => new Float64Array(n * KR));
  const runs = partRuns(partOf);
  const cols = R * m;
  for (let c0 = 0; c0 < cols; c0 += g.mMax) {
    const c1 = Math.min(cols, c0 + g.mMax); // column t = r·m + s
    for (let t = c0; t < c1; t++) {
      const r = Math.floor(t / m);
      const s = t % m;
      g.v.set(x[r].subarray(s * n, (s + 1) * n), (t - c0) * ld);
    }
    for (const [part, j0, j1] of runs) {
      g.w.fill(0, 0, (c1 - c0) * ld);
      gramApply(g, j0, j1, c1 - c0);
      const out = parts[part];
      for (let t = c0; t < c1; t++) {
        const r = Math.floor(t / m);
        const s = t % m;
        const f = Math.floor(s / K);
        const k = s % K;
        const o = (k * R + r) * n;
        const wo = (t - c0) * ld;
        for (let i = 0; i < n; i++) if (fold[i] === f) out[o + i] += g.w[wo + i];
      }
    }
  }
  return { parts, iterations: it };
}

/** Maximal runs of equal part in column order: [part, first column, end column). */
function partRuns(partOf: Int32Array): [number, number, number][] {
  const runs: [number, number, number][] = [];
  for (let j = 0; j < partOf.length; j++) {
    const last = runs[runs.length - 1];
    if (last && last[0] === partOf[j] && last[2] === j) last[2] = j + 1;
    else runs.push([partOf[j], j, j + 1]);
  }
  return runs;
}
