/**
 * Hardy–Weinberg equilibrium exact test (Wigginton, Cutler & Abecasis 2005).
 *
 * **Model.** Among N diploid individuals with n_AA, n_AB, n_BB genotype counts, let
 * n_A = 2·n_AA + n_AB and n_B = 2·n_BB + n_AB be the allele counts and r = min(n_A, n_B)
 * the rare-allele count. Under HWE, conditional on the allele counts, the number of
 * heterozygotes H has the exact distribution
 *
 *   P(H = h | N, n_A) = 2^h · N! · n_A! · n_B! / ( ((r − h)/2)! · h! · (N − h − (r − h)/2)! · (2N)! )
 *
 * over h ≡ r (mod 2), 0 ≤ h ≤ r. The probabilities are built by the recurrences of
 * Wigginton et al. from the most likely h (near r·(2N − r)/(2N)) outwards and normalised.
 *
 * **Test.** Two-sided: p = Σ_{h: P(h) ≤ P(h_obs)} P(h), capped at 1. A relative tolerance of
 * 1e-7 treats probabilities equal up to rounding as ties (PLINK 2 does the same).
 *
 * **Edge cases.**
 * - Monomorphic variants (r = 0) and N = 0 (no diploid calls): p = 1 by definition; callers
 *   store NULL for N = 0.
 * - Missing calls and haploid calls do not enter N; callers count diploid calls only.
 * - Separation and collinear covariates do not apply (no regression).
 *
 * Reference: Wigginton JE, Cutler DJ, Abecasis GR (2005) A note on exact tests of
 * Hardy-Weinberg equilibrium. Am J Hum Genet 76:887–893.
 */

let scratch = new Float64Array(1024);

/**
 * Exact HWE p-value for genotype counts.
 * @param homRef number of homozygous reference calls (n_AA)
 * @param het number of heterozygous calls (n_AB)
 * @param homAlt number of homozygous alternate calls (n_BB)
 * @returns two-sided exact p-value in [0, 1]
 */
export function hweExactP(homRef: number, het: number, homAlt: number): number {
  if (homRef < 0 || het < 0 || homAlt < 0) throw new RangeError('hweExactP: genotype counts must be ≥ 0');
  const n = homRef + het + homAlt;
  if (n === 0) return 1;
  const homRare = Math.min(homRef, homAlt);
  const rare = 2 * homRare + het;
  if (rare === 0) return 1;
  if (scratch.length < rare + 1) scratch = new Float64Array(2 * (rare + 1));
  const probs = scratch;
  probs.fill(0, 0, rare + 1);

  // Start at the most likely heterozygote count, with the parity of `rare`.
  let mid = Math.floor((rare * (2 * n - rare)) / (2 * n));
  if ((rare - mid) % 2 !== 0) mid++;
  probs[mid] = 1;
  let sum = 1;

  // Downwards: h → h − 2.
  let currHomR = (rare - mid) / 2;
  let currHomC = n - mid - currHomR;
  for (let h = mid; h > 1; h -= 2) {
    probs[h - 2] = (probs[h] * h * (h - 1)) / (4 * (currHomR + 1) * (currHomC + 1));
    sum += probs[h - 2];
    currHomR++;
    currHomC++;
  }
  // Upwards: h → h + 2.
  currHomR = (rare - mid) / 2;
  currHomC = n - mid - currHomR;
  for (let h = mid; h <= rare - 2; h += 2) {
    probs[h + 2] = (probs[h] * 4 * currHomR * currHomC) / ((h + 2) * (h + 1));
    sum += probs[h + 2];
    currHomR--;
    currHomC--;
  }

  const obs = probs[het] / sum;
  const cutoff = obs * (1 + 1e-7);
  let p = 0;
  for (let h = rare % 2; h <= rare; h += 2) {
    const ph = probs[h] / sum;
    if (ph <= cutoff) p += ph;
  }
  return Math.min(1, p);
}
