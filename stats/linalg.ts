/**
 * Small dense linear algebra on Float64Array, column-major (element (i, j) of an n×p matrix is at
 * `i + j*n`). Sizes here are the number of covariates plus a few, so simple O(p³) algorithms are
 * right; the long dimension (samples) only appears in `orthonormalBasis`, which is run once per
 * phenotype / sample set.
 *
 * Collinearity is detected, never papered over:
 *   - `cholesky` fails (returns false) when a pivot falls below `tol` × the largest diagonal
 *     element, i.e. the matrix is singular or numerically not positive definite;
 *   - `orthonormalBasis` (modified Gram–Schmidt with one re-orthogonalisation pass) drops a column
 *     whose residual norm after projecting out the earlier columns is below `tol` × its own norm,
 *     and reports which columns survived, so callers can say *which* covariate is collinear.
 *
 * Reference: Golub & Van Loan, Matrix Computations 4th ed., §4.2 (Cholesky), §5.2 (Gram–Schmidt
 * and the "twice is enough" re-orthogonalisation of Giraud et al. 2005).
 */

/** Default relative tolerance for rank decisions. */
export const RANK_TOL = 1e-10;

/**
 * In-place Cholesky factorisation A = L Lᵀ of a symmetric p×p matrix (lower triangle is read and
 * overwritten by L; the strict upper triangle is zeroed). Returns false when A is not
 * numerically positive definite (a pivot ≤ tol · max diag), leaving A in an unspecified state.
 */
export function cholesky(a: Float64Array, p: number, tol = RANK_TOL): boolean {
  let maxDiag = 0;
  for (let j = 0; j < p; j++) maxDiag = Math.max(maxDiag, Math.abs(a[j + j * p]));
  if (!(maxDiag > 0) || !Number.isFinite(maxDiag)) return false;
  const floor = tol * maxDiag;
  for (let j = 0; j < p; j++) {
    let d = a[j + j * p];
    for (let k = 0; k < j; k++) d -= a[j + k * p] * a[j + k * p];
    if (!(d > floor)) return false;
    const ljj = Math.sqrt(d);
    a[j + j * p] = ljj;
    for (let i = j + 1; i < p; i++) {
      let s = a[i + j * p];
      for (let k = 0; k < j; k++) s -= a[i + k * p] * a[j + k * p];
      a[i + j * p] = s / ljj;
    }
    for (let i = 0; i < j; i++) a[i + j * p] = 0;
  }
  return true;
}

/** Solves L Lᵀ x = b in place (b becomes x), with L from `cholesky`. */
export function choleskySolve(l: Float64Array, p: number, b: Float64Array): void {
  for (let i = 0; i < p; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i + k * p] * b[k];
    b[i] = s / l[i + i * p];
  }
  for (let i = p - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < p; k++) s -= l[k + i * p] * b[k];
    b[i] = s / l[i + i * p];
  }
}

/** Inverse of L Lᵀ from the Cholesky factor (p×p, column-major, symmetric). */
export function choleskyInverse(l: Float64Array, p: number): Float64Array {
  const inv = new Float64Array(p * p);
  const col = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    col.fill(0);
    col[j] = 1;
    choleskySolve(l, p, col);
    inv.set(col, j * p);
  }
  return inv;
}

/** Inverse of a small symmetric positive-definite matrix, or null if it is singular. */
export function spdInverse(a: Float64Array, p: number, tol = RANK_TOL): Float64Array | null {
  const l = Float64Array.from(a);
  if (!cholesky(l, p, tol)) return null;
  return choleskyInverse(l, p);
}

/** Solves A x = b for symmetric positive-definite A (copied, not modified); null if singular. */
export function spdSolve(a: Float64Array, p: number, b: Float64Array, tol = RANK_TOL): Float64Array | null {
  const l = Float64Array.from(a);
  if (!cholesky(l, p, tol)) return null;
  const x = Float64Array.from(b);
  choleskySolve(l, p, x);
  return x;
}

/** log det of L Lᵀ from its Cholesky factor. */
export function choleskyLogDet(l: Float64Array, p: number): number {
  let s = 0;
  for (let j = 0; j < p; j++) s += Math.log(l[j + j * p]);
  return 2 * s;
}

export interface OrthonormalBasis {
  /** n×rank column-major matrix with orthonormal columns spanning the kept columns of X. */
  q: Float64Array;
  rank: number;
  /** indices (into X's columns) of the columns kept, in order. */
  kept: number[];
  /** indices of columns dropped as (numerically) linear combinations of earlier ones. */
  dropped: number[];
}

/**
 * Orthonormal basis of the column space of the n×p matrix X by modified Gram–Schmidt with a
 * second orthogonalisation pass. A column whose residual norm is ≤ tol × its original norm is
 * dropped as collinear with the earlier columns (an all-zero column is always dropped).
 * Optional row weights `sqrtW` give a basis orthonormal in the W-inner product of W^{1/2}X.
 */
export function orthonormalBasis(
  x: Float64Array,
  n: number,
  p: number,
  tol = 1e-8,
  sqrtW?: Float64Array,
): OrthonormalBasis {
  const q = new Float64Array(n * p);
  const kept: number[] = [];
  const dropped: number[] = [];
  const v = new Float64Array(n);
  for (let j = 0; j < p; j++) {
    let norm0 = 0;
    for (let i = 0; i < n; i++) {
      const xi = sqrtW ? x[i + j * n] * sqrtW[i] : x[i + j * n];
      v[i] = xi;
      norm0 += xi * xi;
    }
    norm0 = Math.sqrt(norm0);
    for (let pass = 0; pass < 2; pass++) {
      for (let r = 0; r < kept.length; r++) {
        const off = r * n;
        let d = 0;
        for (let i = 0; i < n; i++) d += q[off + i] * v[i];
        for (let i = 0; i < n; i++) v[i] -= d * q[off + i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    if (!(norm0 > 0) || !(norm > tol * norm0)) {
      dropped.push(j);
      continue;
    }
    const off = kept.length * n;
    for (let i = 0; i < n; i++) q[off + i] = v[i] / norm;
    kept.push(j);
  }
  return { q: q.slice(0, kept.length * n), rank: kept.length, kept, dropped };
}
