/**
 * Per-person gene burden scores from the hard calls of the variants in a mask.
 *
 * For person i and variants v = 1..V in the mask with ALT allele counts g_iv ∈ {0, 1, 2}:
 *   - `max` (carrier):  s_i = max_v g_iv   (0, 1 or 2: the person carries a qualifying allele);
 *   - `sum`:            s_i = Σ_v g_iv     (qualifying allele count);
 *   - `comphet`:        s_i = min(2, Σ_v g_iv)  (two or more qualifying alleles in the gene, as
 *                       REGENIE's `--build-mask comphet`; phase is not used).
 * Missing calls (255) count as 0 (not carrying the allele), as REGENIE does when building masks;
 * a person missing every call in the mask therefore scores 0. This slightly dilutes the burden
 * when call rates are low; filter variants on call rate first.
 * Carriers are persons with s_i > 0.
 *
 * Reference: Mbatchou J. et al. (2021) Nat Genet 53:1097–1103 (REGENIE burden masks);
 * Li B. & Leal S.M. (2008) AJHG 83:311–321 (collapsing tests).
 */

export type BurdenMode = 'max' | 'sum' | 'comphet';

export interface BurdenScore {
  /** per-person score, in genotype (sample_idx) order. */
  score: Float32Array;
  /** number of persons with score > 0. */
  carriers: number;
  /** number of variants combined. */
  nVariants: number;
}

export function burdenScore(gts: readonly Uint8Array[], mode: BurdenMode, nSamples?: number): BurdenScore {
  const n = nSamples ?? gts[0]?.length ?? 0;
  const acc = new Uint32Array(n);
  for (const [v, gt] of gts.entries()) {
    if (gt.length !== n)
      throw new RangeError(`burdenScore: variant ${v} has ${gt.length} calls, expected ${n}`);
    if (mode === 'max') {
      for (let i = 0; i < n; i++) {
        const g = gt[i];
        if (g !== 255 && g > acc[i]) acc[i] = g;
      }
    } else {
      for (let i = 0; i < n; i++) {
        const g = gt[i];
        if (g !== 255) acc[i] += g;
      }
    }
  }
  const score = new Float32Array(n);
  let carriers = 0;
  for (let i = 0; i < n; i++) {
    const s = mode === 'comphet' ? Math.min(2, acc[i]) : acc[i];
    score[i] = s;
    if (s > 0) carriers++;
  }
  return { score, carriers, nVariants: gts.length };
}
