/**
 * Multiple-testing corrections and genomic control for a vector of p-values.
 *
 * - Bonferroni: p_adj = min(1, m·p) with m the number of tests (non-NaN p-values unless given).
 *   Controls the family-wise error rate under any dependence (Dunn 1961).
 * - Benjamini–Hochberg q-values: with the m non-NaN p-values sorted ascending p_(1) ≤ … ≤ p_(m),
 *   q_(i) = min_{j ≥ i} min(1, m·p_(j)/j). Rejecting q ≤ α controls the false discovery rate at
 *   α for independent or positively dependent tests (Benjamini & Hochberg 1995).
 * - Genomic control λGC = median(χ²₁) / 0.4549364, where 0.4549364 = qchisq(0.5, 1)
 *   = Φ⁻¹(0.75)² = 0.454936423119572… is the median of χ²(1); χ² is recovered from p as
 *   Φ⁻¹(p/2)². λ ≈ 1 under the null; > 1 signals inflation (stratification, relatedness) or
 *   polygenicity (Devlin & Roeder 1999).
 *
 * NaN p-values (untested rows) stay NaN and are not counted in m or in the median.
 *
 * References: Dunn O.J. (1961) JASA 56:52–64; Benjamini Y. & Hochberg Y. (1995) JRSS-B
 * 57:289–300; Devlin B. & Roeder K. (1999) Biometrics 55:997–1004.
 */
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';

/** Median of χ²(1): qchisq(0.5, 1). */
export const CHISQ1_MEDIAN = 0.454936423119572;

/**
 * The Bonferroni significance threshold α / m for m tests (m < 1 counts as one test, so a
 * PheWAS with nothing tested has threshold α). A p-value is significant when p < α / m.
 */
export function bonferroniThreshold(alpha: number, m: number): number {
  return alpha / Math.max(1, m);
}

/** Bonferroni-adjusted p-values; `m` defaults to the number of non-NaN p-values. */
export function bonferroni(p: ArrayLike<number>, m?: number): Float64Array {
  let count = 0;
  for (let i = 0; i < p.length; i++) if (!Number.isNaN(p[i])) count++;
  const tests = m ?? count;
  return Float64Array.from({ length: p.length }, (_, i) =>
    Number.isNaN(p[i]) ? Number.NaN : Math.min(1, p[i] * tests),
  );
}

/** Benjamini–Hochberg q-values (step-up FDR-adjusted p-values). */
export function benjaminiHochberg(p: ArrayLike<number>): Float64Array {
  const q = new Float64Array(p.length).fill(Number.NaN);
  const idx: number[] = [];
  for (let i = 0; i < p.length; i++) if (!Number.isNaN(p[i])) idx.push(i);
  idx.sort((a, b) => p[a] - p[b]);
  const m = idx.length;
  let running = 1;
  for (let r = m - 1; r >= 0; r--) {
    const i = idx[r];
    running = Math.min(running, (p[i] * m) / (r + 1));
    q[i] = running;
  }
  return q;
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  values.sort((a, b) => a - b);
  const h = values.length >> 1;
  return values.length % 2 ? values[h] : (values[h - 1] + values[h]) / 2;
}

/** λGC from 1-df χ² statistics (NaN ignored). */
export function lambdaGcFromChiSq(chi2: ArrayLike<number>): number {
  const v: number[] = [];
  for (let i = 0; i < chi2.length; i++) if (!Number.isNaN(chi2[i])) v.push(chi2[i]);
  return median(v) / CHISQ1_MEDIAN;
}

/** λGC from p-values (χ² = Φ⁻¹(p/2)²; NaN ignored). */
export function lambdaGcFromP(p: ArrayLike<number>): number {
  const v: number[] = [];
  for (let i = 0; i < p.length; i++) {
    if (Number.isNaN(p[i])) continue;
    const z = normalQuantile(Math.max(p[i], 1e-300) / 2, 0, 1);
    v.push(z * z);
  }
  return median(v) / CHISQ1_MEDIAN;
}

/**
 * λGC from the middle of the sorted p-values only: the one (odd count) or two (even count)
 * p-values at ranks ⌈n/2⌉ and ⌊n/2⌋ + 1. χ² = Φ⁻¹(p/2)² decreases with p, so these are the
 * p-values of the median χ²; the result equals `lambdaGcFromP` over all n, while the sort can
 * happen where the data are (in SQL).
 */
export function lambdaGcFromMiddleP(middle: readonly number[]): number {
  if (middle.length === 0) return Number.NaN;
  let sum = 0;
  for (const p of middle) {
    const z = normalQuantile(Math.max(p, 1e-300) / 2, 0, 1);
    sum += z * z;
  }
  return sum / middle.length / CHISQ1_MEDIAN;
}
