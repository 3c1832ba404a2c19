/**
 * Rank-based inverse normal transform (RINT).
 *
 * Model: y'_i = Φ⁻¹((r_i − c) / (n − 2c + 1)) with the Blom offset c = 3/8, where r_i is the
 * rank of y_i among the n non-missing values (1 = smallest; ties get the average of their
 * ranks) and Φ⁻¹ the standard normal quantile. The result is approximately N(0, 1) whatever
 * the shape of y; it is a rank transform, so effect sizes are in SD units of the transformed
 * trait, and GWAS of RINT traits controls type-I error for skewed traits (Beasley, Erickson &
 * Allison 2009, Behav Genet 39:580; Blom 1958).
 * Edge cases: NaN inputs stay NaN and do not count in n; n = 1 gives 0; all-tied values
 * give all 0.
 */
import quantile from '@stdlib/stats-base-dists-normal-quantile';

export function rankInverseNormal(values: Float64Array, offset = 3 / 8): Float64Array {
  const out = new Float64Array(values.length).fill(Number.NaN);
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i])) idx.push(i);
  const n = idx.length;
  idx.sort((a, b) => values[a] - values[b]);
  let k = 0;
  while (k < n) {
    let e = k;
    while (e + 1 < n && values[idx[e + 1]] === values[idx[k]]) e++;
    const rank = (k + 1 + (e + 1)) / 2; // average of ranks k+1..e+1
    const z = quantile((rank - offset) / (n - 2 * offset + 1), 0, 1);
    for (let t = k; t <= e; t++) out[idx[t]] = z;
    k = e + 1;
  }
  return out;
}
