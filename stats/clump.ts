/**
 * Lead loci by distance clumping (no LD): the genome-wide significant variants are taken in order
 * of increasing p (decreasing −log10 p); each one not yet claimed becomes a lead, and claims every
 * other significant, unclaimed variant on the same chromosome within ±`windowBp` of it. Defaults:
 * p < 5e-8 (genome-wide significance for common variants in European-ancestry GWAS, Pe'er et al.
 * 2008) and ±500 kb. Ties in p are broken by chromosome then position, so the result does not
 * depend on input order. Rows with NaN −log10 p are never significant.
 *
 * Input is −log10 p rather than p so that leads below p = 1e-308 are still ordered.
 *
 * Reference: Pe'er I. et al. (2008) Genet Epidemiol 32:381–385; distance-based clumping as in
 * FUMA / `plink --clump` without an r² criterion.
 */

export interface ClumpOptions {
  /** significance threshold on p (default 5e-8). */
  pThreshold?: number;
  /** half window in base pairs (default 500_000). */
  windowBp?: number;
}

export interface LeadLoci {
  /** indices of the lead variants, most significant first. */
  leads: Int32Array;
  /** for every input row, the index of its lead, or −1 (not significant). */
  leadOf: Int32Array;
}

export function distanceClump(
  chrom: readonly string[],
  pos: ArrayLike<number>,
  mlog10p: ArrayLike<number>,
  options: ClumpOptions = {},
): LeadLoci {
  const n = chrom.length;
  if (pos.length !== n || mlog10p.length !== n)
    throw new RangeError('distanceClump: chrom, pos and mlog10p must have equal length');
  const threshold = -Math.log10(options.pThreshold ?? 5e-8);
  const window = options.windowBp ?? 500_000;
  const leadOf = new Int32Array(n).fill(-1);
  const sig: number[] = [];
  for (let i = 0; i < n; i++) if (mlog10p[i] > threshold) sig.push(i);
  sig.sort(
    (a, b) =>
      mlog10p[b] - mlog10p[a] || (chrom[a] < chrom[b] ? -1 : chrom[a] > chrom[b] ? 1 : 0) || pos[a] - pos[b],
  );
  // per chromosome, significant variants sorted by position for window lookups
  const byChrom = new Map<string, number[]>();
  for (const i of sig) {
    let list = byChrom.get(chrom[i]);
    if (!list) byChrom.set(chrom[i], (list = []));
    list.push(i);
  }
  for (const list of byChrom.values()) list.sort((a, b) => pos[a] - pos[b]);
  const leads: number[] = [];
  for (const i of sig) {
    if (leadOf[i] !== -1) continue;
    leads.push(i);
    const list = byChrom.get(chrom[i])!;
    // first position ≥ pos[i] − window
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pos[list[mid]] < pos[i] - window) lo = mid + 1;
      else hi = mid;
    }
    for (let t = lo; t < list.length && pos[list[t]] <= pos[i] + window; t++) {
      if (leadOf[list[t]] === -1) leadOf[list[t]] = i;
    }
  }
  return { leads: Int32Array.from(leads), leadOf };
}
