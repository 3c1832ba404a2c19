/**
 * Genetic principal components: LD pruning and randomised PCA of a genotype matrix.
 *
 * ## Model
 * Genotypes g_ij ∈ {0, 1, 2} (ALT allele count of sample i at variant j; 255 = missing) are
 * standardised per variant as in PLINK2's GRM / EIGENSTRAT (Patterson, Price & Reich 2006):
 *
 *     x_ij = (g_ij − 2 p_j) / sqrt(2 p_j (1 − p_j)),   p_j = ALT frequency among called samples,
 *
 * with a missing call set to 0 (mean imputation). The principal components are the top-k
 * left singular vectors U of X (n × m), i.e. the top eigenvectors of the genetic relationship
 * matrix K = X Xᵀ / m; eigenvalue_k = σ_k² / m.
 *
 * ## Algorithm
 * Randomised SVD with subspace (power) iterations (Halko, Martinsson & Tropp 2011, SIAM Rev.
 * 53:217, Algorithms 4.3/4.4 and 5.1): Ω ~ N(0, 1) of size m × (k + oversample);
 * Q = orth(X Ω); q times Q = orth(X (Xᵀ Q)); B = Qᵀ X; B Bᵀ = W S² Wᵀ (Jacobi); U = Q W.
 * X is never formed: products read the genotype bytes through a 4-entry lookup table per
 * variant, so memory is n·m bytes plus O((n + m)·l) doubles. With q = 4 the top
 * eigenvectors converge to the exact ones whenever the spectrum has a gap (population
 * structure); with no structure (a flat spectrum) the PCs are noise and not unique.
 * Signs are fixed so the largest-|loading| sample of each PC is positive.
 *
 * ## Edge cases
 * - Monomorphic variants (p = 0 or 1) have no variance: the caller filters by MAF first;
 *   if one slips through, its column is all zeros and adds nothing.
 * - Missing calls: mean-imputed (x = 0) as in PLINK2; variants with call rate below the
 *   caller's threshold should be dropped before.
 * - Collinear (duplicated) variants only re-weight the spectrum; LD pruning removes them.
 * - k + oversample is capped at min(n, m).
 *
 * ## LD pruning
 * `ldPrune` is a greedy sequential r² pruning in variant windows, in the spirit of PLINK's
 * `--indep-pairwise <window> 1 <r2>` (Purcell et al. 2007): variants are visited in genome
 * order; a variant is kept when its squared Pearson correlation (mean-imputed genotypes)
 * with every variant kept among the previous `window` variants of the same chromosome is
 * ≤ r2. The result depends on order (like PLINK's), is deterministic and keeps the first
 * variant of each correlated run.
 */
import { mulberry32 } from './random.js';

/** A genotype block: `gt[j * nSamples + i]` is sample i at variant j (0/1/2, 255 missing). */
export interface GenotypeMatrix {
  nSamples: number;
  nVariants: number;
  gt: Uint8Array;
}

/** ALT frequency and call rate per variant. */
export function variantStats(g: GenotypeMatrix): { af: Float64Array; callRate: Float64Array } {
  const { nSamples: n, nVariants: m, gt } = g;
  const af = new Float64Array(m);
  const callRate = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    let sum = 0;
    let called = 0;
    const base = j * n;
    for (let i = 0; i < n; i++) {
      const v = gt[base + i];
      if (v !== 255) {
        sum += v;
        called++;
      }
    }
    af[j] = called > 0 ? sum / (2 * called) : Number.NaN;
    callRate[j] = n > 0 ? called / n : 0;
  }
  return { af, callRate };
}

/** Per-variant lookup table: lut[4j + g] for genotype g = 0, 1, 2 (missing calls map to 0). */
function standardisingLut(af: Float64Array): Float64Array {
  const m = af.length;
  const lut = new Float64Array(4 * m);
  for (let j = 0; j < m; j++) {
    const p = af[j];
    const sd = Math.sqrt(2 * p * (1 - p));
    if (!(sd > 0)) continue; // monomorphic: all zero
    lut[4 * j] = (0 - 2 * p) / sd;
    lut[4 * j + 1] = (1 - 2 * p) / sd;
    lut[4 * j + 2] = (2 - 2 * p) / sd;
    lut[4 * j + 3] = 0;
  }
  return lut;
}

export interface LdPruneOptions {
  /** Window size in variants. Default 50. */
  window?: number;
  /** r² threshold. Default 0.2. */
  r2?: number;
  /** Chromosome of each variant (same length as nVariants); windows never cross chromosomes. */
  chrom?: ArrayLike<string | number>;
}

/** Indices (ascending) of the variants kept by greedy windowed r² pruning. */
export function ldPrune(g: GenotypeMatrix, options: LdPruneOptions = {}): Int32Array {
  const { nSamples: n, nVariants: m } = g;
  const window = options.window ?? 50;
  const thr = options.r2 ?? 0.2;
  const { af } = variantStats(g);
  const lut = standardisingLut(af);
  const c = g.gt;
  // Ring of standardised kept vectors (scaled so that dot/n = r).
  const ring: Float64Array[] = [];
  const ringIdx: number[] = [];
  const kept: number[] = [];
  const z = new Float64Array(n);
  for (let j = 0; j < m; j++) {
    if (options.chrom && j > 0 && options.chrom[j] !== options.chrom[j - 1]) {
      ring.length = 0;
      ringIdx.length = 0;
    }
    while (ringIdx.length && ringIdx[0] < j - window) {
      ring.shift();
      ringIdx.shift();
    }
    const base = j * n;
    let ss = 0;
    for (let i = 0; i < n; i++) {
      const code = c[base + i];
      const v = code <= 2 ? lut[4 * j + code] : 0;
      z[i] = v;
      ss += v * v;
    }
    if (!(ss > 0)) continue; // monomorphic
    const norm = 1 / Math.sqrt(ss);
    let ok = true;
    for (let r = 0; r < ring.length && ok; r++) {
      const w = ring[r];
      let dot = 0;
      for (let i = 0; i < n; i++) dot += z[i] * w[i];
      const corr = dot * norm;
      if (corr * corr > thr) ok = false;
    }
    if (!ok) continue;
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) w[i] = z[i] * norm;
    ring.push(w);
    ringIdx.push(j);
    kept.push(j);
  }
  return Int32Array.from(kept);
}

/** Deterministic normals for Ω: mulberry32 (stats/random.ts) through Box–Muller, both branches. */
function normals(count: number, seed: number): Float64Array {
  const u = mulberry32(seed);
  const out = new Float64Array(count);
  for (let k = 0; k < count; k += 2) {
    const r = Math.sqrt(-2 * Math.log(u() + 1e-300));
    const th = 2 * Math.PI * u();
    out[k] = r * Math.cos(th);
    if (k + 1 < count) out[k + 1] = r * Math.sin(th);
  }
  return out;
}

/**
 * Products with the standardised genotype matrix X (n × m, X_ij = lut[4j + code], 0 for a
 * missing call), row-major: Y (n × l) = X · B for B (m × l), or with `transposed` Z (m × l) =
 * Xᵀ · B for B (n × l). One pass over the codes per variant; zero entries are skipped.
 */
function mulX(
  c: Uint8Array,
  lut: Float64Array,
  n: number,
  m: number,
  B: Float64Array,
  l: number,
  transposed = false,
): Float64Array {
  const out = new Float64Array((transposed ? m : n) * l);
  const acc = new Float64Array(l);
  for (let j = 0; j < m; j++) {
    const base = j * n;
    const l0 = lut[4 * j];
    const l1 = lut[4 * j + 1];
    const l2 = lut[4 * j + 2];
    // The branch is per variant, outside the per-sample loops.
    if (transposed) {
      acc.fill(0);
      for (let i = 0; i < n; i++) {
        const code = c[base + i];
        const v = code === 0 ? l0 : code === 1 ? l1 : code === 2 ? l2 : 0;
        if (v === 0) continue;
        const q = i * l;
        for (let k = 0; k < l; k++) acc[k] += v * B[q + k];
      }
      out.set(acc, j * l);
    } else {
      const a = j * l;
      for (let i = 0; i < n; i++) {
        const code = c[base + i];
        const v = code === 0 ? l0 : code === 1 ? l1 : code === 2 ? l2 : 0;
        if (v === 0) continue;
        const y = i * l;
        for (let k = 0; k < l; k++) out[y + k] += v * B[a + k];
      }
    }
  }
  return out;
}

/** Orthonormalise the l columns of an n × l row-major matrix in place (MGS, twice). */
function orthonormalise(Y: Float64Array, n: number, l: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let k = 0; k < l; k++) {
      for (let p = 0; p < k; p++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += Y[i * l + k] * Y[i * l + p];
        for (let i = 0; i < n; i++) Y[i * l + k] -= dot * Y[i * l + p];
      }
      let ss = 0;
      for (let i = 0; i < n; i++) ss += Y[i * l + k] ** 2;
      const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
      for (let i = 0; i < n; i++) Y[i * l + k] *= inv;
    }
  }
}

/** Eigen-decomposition of a symmetric l × l matrix by cyclic Jacobi; returns values and column vectors. */
export function symmetricEigen(S: Float64Array, l: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(S);
  const V = new Float64Array(l * l);
  for (let i = 0; i < l; i++) V[i * l + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < l; p++) for (let q = p + 1; q < l; q++) off += A[p * l + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < l; p++) {
      for (let q = p + 1; q < l; q++) {
        const apq = A[p * l + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * l + q] - A[p * l + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cs = 1 / Math.sqrt(t * t + 1);
        const sn = t * cs;
        for (let k = 0; k < l; k++) {
          const akp = A[k * l + p];
          const akq = A[k * l + q];
          A[k * l + p] = cs * akp - sn * akq;
          A[k * l + q] = sn * akp + cs * akq;
        }
        for (let k = 0; k < l; k++) {
          const apk = A[p * l + k];
          const aqk = A[q * l + k];
          A[p * l + k] = cs * apk - sn * aqk;
          A[q * l + k] = sn * apk + cs * aqk;
        }
        for (let k = 0; k < l; k++) {
          const vkp = V[k * l + p];
          const vkq = V[k * l + q];
          V[k * l + p] = cs * vkp - sn * vkq;
          V[k * l + q] = sn * vkp + cs * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: l }, (_, i) => i).sort((a, b) => A[b * l + b] - A[a * l + a]);
  const values = new Float64Array(l);
  const vectors = new Float64Array(l * l);
  order.forEach((src, dst) => {
    values[dst] = A[src * l + src];
    for (let k = 0; k < l; k++) vectors[k * l + dst] = V[k * l + src];
  });
  return { values, vectors };
}

export interface PcaOptions {
  /** Number of components. */
  k: number;
  /** Extra random directions (Halko's p). Default 10. */
  oversample?: number;
  /** Power iterations (Halko's q). Default 4. */
  powerIterations?: number;
  seed?: number;
}

export interface PcaResult {
  k: number;
  nSamples: number;
  nVariants: number;
  /** Eigenvalues of K = X Xᵀ / m, descending (length k). */
  eigenvalues: Float64Array;
  /** Unit-norm sample eigenvectors, sample-major: scores[i * k + c] is sample i on PC c+1. */
  scores: Float64Array;
}

/** Top-k principal components of the standardised genotype matrix by randomised SVD. */
export function randomizedPca(g: GenotypeMatrix, options: PcaOptions): PcaResult {
  const { nSamples: n, nVariants: m } = g;
  const k = options.k;
  if (!Number.isInteger(k) || k < 1) throw new RangeError("'randomizedPca': k must be a positive integer");
  if (k > Math.min(n, m))
    throw new RangeError(`'randomizedPca': k = ${k} exceeds min(samples, variants) = ${Math.min(n, m)}`);
  const l = Math.min(k + (options.oversample ?? 10), n, m);
  const { af } = variantStats(g);
  const lut = standardisingLut(af);
  const c = g.gt;
  let Q = mulX(c, lut, n, m, normals(m * l, options.seed ?? 12345), l);
  orthonormalise(Q, n, l);
  for (let it = 0; it < (options.powerIterations ?? 4); it++) {
    const Z = mulX(c, lut, n, m, Q, l, true);
    // orthonormalising Z too keeps the iteration stable (Halko Alg. 4.4)
    orthonormalise(Z, m, l);
    Q = mulX(c, lut, n, m, Z, l);
    orthonormalise(Q, n, l);
  }
  const Z = mulX(c, lut, n, m, Q, l, true); // Bᵀ (m × l)
  const BBt = new Float64Array(l * l);
  for (let j = 0; j < m; j++) {
    for (let a = 0; a < l; a++) {
      const za = Z[j * l + a];
      if (za === 0) continue;
      for (let b = a; b < l; b++) BBt[a * l + b] += za * Z[j * l + b];
    }
  }
  for (let a = 0; a < l; a++) for (let b = 0; b < a; b++) BBt[a * l + b] = BBt[b * l + a];
  const { values, vectors } = symmetricEigen(BBt, l);
  const scores = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let cc = 0; cc < k; cc++) {
      let s = 0;
      for (let a = 0; a < l; a++) s += Q[i * l + a] * vectors[a * l + cc];
      scores[i * k + cc] = s;
    }
  }
  for (let cc = 0; cc < k; cc++) {
    let best = 0;
    for (let i = 0; i < n; i++) if (Math.abs(scores[i * k + cc]) > Math.abs(best)) best = scores[i * k + cc];
    if (best < 0) for (let i = 0; i < n; i++) scores[i * k + cc] = -scores[i * k + cc];
  }
  const eigenvalues = new Float64Array(k);
  for (let cc = 0; cc < k; cc++) eigenvalues[cc] = values[cc] / m;
  return { k, nSamples: n, nVariants: m, eigenvalues, scores };
}
