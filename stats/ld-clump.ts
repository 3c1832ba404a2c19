/**
 * LD clumping with the semantics of PLINK 1.9 `--clump` (Purcell et al. 2007; Chang et al. 2015),
 * as a pure function of the variants (sorted by chromosome and position), their p-values and an
 * r² function; plus the r² PLINK 1.9 uses for it (`haplotypeR2`, from a two-variant genotype
 * table). Facts below are from the PLINK 1.9 source (`clump_reports` in plink_ld.c, v1.90b6.26)
 * and were confirmed against `plink1.9 --clump` by test/gwas/ld-clump-plink.test.ts.
 *
 * Clumping:
 * - Index candidates are the variants with p ≤ p1 (≤, not <), taken in increasing p; ties in p
 *   are broken by input order (PLINK: the order of the .bim, i.e. chromosome then position).
 * - A candidate already claimed by an earlier clump is skipped: it never becomes an index.
 * - An index claims every not-yet-claimed variant on its chromosome with |Δpos| ≤ radius, where
 *   radius = ⌊kb·1000·(1 + 2⁻⁴⁴) − 1⌋ bp (PLINK's parsing of `--clump-kb`: strictly less than kb
 *   kilobases), whose r² with the index is defined and strictly greater than the r² threshold.
 *   Every such variant is claimed and counted in the clump's p-value histogram (TOTAL, NSIG
 *   p ≥ 0.05, S05 p < 0.05, S01 p < 0.01, S001 p < 0.001, S0001 p < 0.0001, each bucket
 *   excluding the smaller ones); only those with p < p2 (strict) are listed as members (SP2).
 *   So a variant in LD with p ≥ p2 is claimed without being listed.
 * - The index itself is not marked as claimed (PLINK marks it only when the file repeats its
 *   ID); with a symmetric r² no later index can claim it, so this only matters for odd inputs.
 * - Variants with an undefined r² (one of the two is monomorphic among the samples called at
 *   both) are neither claimed nor counted. Rows with NaN p are ignored (PLINK skips a line whose
 *   p-value does not parse).
 *
 * r² (`haplotypeR2`): PLINK 1.9 clumping does NOT use the correlation of allele counts (that is
 * its `--r2`); it estimates two-locus haplotype frequencies by maximum likelihood from the 3×3
 * table of genotype classes over the samples called at both variants (missing calls at either
 * variant drop the sample from that pair only) and reports r² = D² / (p₁ q₁ p₂ q₂) with
 * D = f₁₁ − p₁ p₂. Only double heterozygotes are ambiguous: with h = (their count) / (2N) the
 * MLE adds x ∈ [0, h] to f₁₁ (and f₂₂), h − x to f₁₂ and f₂₁, where x is a real root of the
 * cubic x³ + a x² + b x + c with
 *   a = (f₁₁ + f₂₂ − f₁₂ − f₂₁ − 3h) / 2,
 *   b = (f₁₁f₂₂ + f₁₂f₂₁ + h (f₁₂ + f₂₁ − f₁₁ − f₂₂ + h)) / 2,
 *   c = −h f₁₁ f₂₂ / 2
 * (f = unambiguous haplotype counts / 2N). Roots within ε of [0, h] are kept (clamped); if none,
 * the end points 0 and h are the candidates. If f₁₁f₂₂ = f₁₂f₂₁ = 0 the candidates are 0,
 * (h + f₁₂ + f₂₁ − f₁₁ − f₂₂)/2 when strictly inside, and h. Among several candidates PLINK 1.9
 * keeps the LAST one whose log-likelihood exceeds the FIRST candidate's (its loop never updates
 * the running best; fixed in PLINK 2) — matched here. |D| < 2⁻⁴⁴ gives r² = 0. Without double
 * heterozygotes and with f₁₁f₂₂ = f₁₂f₂₁ = 0 (or no called samples) r² is undefined (NaN).
 * Haploid calls (males on chrX, chrY, MT) count as one haplotype when haploid at both variants
 * (PLINK subtracts one haplotype per male hom/hom cell on chrX).
 */

/** Engine defaults (All of Us all-by-all): p < 5e-8 for index and members, r² 0.1, 500 kb. */
export const AOU_CLUMP: Required<LdClumpOptions> = { p1: 5e-8, p2: 5e-8, r2: 0.1, kb: 500 };
/** PLINK 1.9's own defaults for `--clump`. */
export const PLINK_CLUMP: Required<LdClumpOptions> = { p1: 1e-4, p2: 0.01, r2: 0.5, kb: 250 };

export interface LdClumpOptions {
  /** Index threshold: p ≤ p1 (default 5e-8). */
  p1?: number;
  /** Member threshold: p < p2 (default p1). */
  p2?: number;
  /** r² threshold: r² > r2 (default 0.1). */
  r2?: number;
  /** Window in kilobases either side of the index (default 500). */
  kb?: number;
}

export interface ClumpVariants {
  /** Chromosome per row; each chromosome's rows must be contiguous. */
  chrom: readonly string[];
  /** Position per row, non-decreasing within a chromosome. */
  pos: ArrayLike<number>;
  /** p-value per row (NaN: ignored). */
  p: ArrayLike<number>;
  /**
   * −log10 p per row, optional: when given it orders the index candidates (larger first), so
   * leads whose p underflows to 0 are still ordered. Thresholds always use `p`.
   */
  mlog10p?: ArrayLike<number>;
}

/** r² between rows i (the index) and j; NaN when undefined. */
export type R2Function = (i: number, j: number) => number;

export interface LdClump {
  /** Row of the index variant. */
  index: number;
  /** Rows listed as members (p < p2), in position order; the index is not among them. */
  members: Int32Array;
  /** r² of each member with the index. */
  r2: Float64Array;
  /** Variants claimed by this clump (listed or not), and their p-value histogram. */
  total: number;
  nsig: number;
  s05: number;
  s01: number;
  s001: number;
  s0001: number;
}

export interface LdClumpResult {
  /** Clumps in the order they were formed (increasing index p). */
  clumps: LdClump[];
  /**
   * Per row: the index row of the clump that claimed it (its own row for an index), or −1.
   * Claimed rows with p ≥ p2 are included although they are not listed members.
   */
  clumpOf: Int32Array;
  /** r² evaluations made. */
  nR2: number;
}

/** 2⁻⁴⁴: PLINK's SMALL_EPSILON (window rounding, |D| ≈ 0). */
const SMALL_EPSILON = 2 ** -44;
/** 2⁻³⁵: PLINK's SMALLISH_EPSILON (root bounds of the EM cubic). */
const SMALLISH_EPSILON = 2 ** -35;
/** 2⁻³⁰: PLINK's EPSILON (equal cubic roots). */
const EPSILON = 2 ** -30;

function resolveOptions(options: LdClumpOptions): Required<LdClumpOptions> {
  const p1 = options.p1 ?? AOU_CLUMP.p1;
  const p2 = options.p2 ?? p1;
  const r2 = options.r2 ?? AOU_CLUMP.r2;
  const kb = options.kb ?? AOU_CLUMP.kb;
  if (!(p1 > 0 && p1 <= 1)) throw new RangeError(`ldClump: p1 must be in (0, 1], got ${p1}`);
  if (!(p2 >= p1 && p2 <= 1)) throw new RangeError(`ldClump: p2 must be in [p1, 1], got ${p2}`);
  if (!(r2 < 1)) throw new RangeError(`ldClump: r2 must be below 1, got ${r2}`);
  if (!(kb >= 0.001)) throw new RangeError(`ldClump: kb must be at least 0.001, got ${kb}`);
  return { p1, p2, r2, kb };
}

/** Half window in bp as PLINK 1.9 derives it from `--clump-kb`. */
export function clumpRadiusBp(kb: number): number {
  const bp = kb * 1000;
  return bp > 2147483647 ? 0x7ffffffe : Math.trunc(bp * (1 + SMALL_EPSILON) - 1);
}

/** [start, end) row range of each chromosome run; throws when rows are not sorted. */
function chromRuns(v: ClumpVariants): Int32Array {
  const n = v.chrom.length;
  if (v.pos.length !== n || v.p.length !== n || (v.mlog10p && v.mlog10p.length !== n))
    throw new RangeError('ldClump: chrom, pos, p (and mlog10p) must have equal length');
  const runOf = new Int32Array(n);
  const seen = new Set<string>();
  let run = -1;
  for (let i = 0; i < n; i++) {
    if (i === 0 || v.chrom[i] !== v.chrom[i - 1]) {
      if (seen.has(v.chrom[i]))
        throw new RangeError(`ldClump: rows of chromosome ${v.chrom[i]} are not contiguous (row ${i})`);
      seen.add(v.chrom[i]);
      run = i;
    } else if (v.pos[i] < v.pos[i - 1])
      throw new RangeError(`ldClump: positions are not sorted on chromosome ${v.chrom[i]} (row ${i})`);
    runOf[i] = run;
  }
  return runOf;
}

/** First row in [lo, hi) with pos ≥ x. */
function lowerBound(pos: ArrayLike<number>, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pos[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Rows of each window: [first, last] (inclusive) for row i. */
function windowOf(
  v: ClumpVariants,
  runStart: Int32Array,
  runEnd: Int32Array,
  i: number,
  radius: number,
): [number, number] {
  const start = runStart[i];
  const end = runEnd[i];
  const first = lowerBound(v.pos, start, i, v.pos[i] - radius);
  const last = lowerBound(v.pos, i, end, v.pos[i] + radius + 1) - 1;
  return [first, last];
}

function runBounds(runOf: Int32Array): { runStart: Int32Array; runEnd: Int32Array } {
  const n = runOf.length;
  const runEnd = new Int32Array(n);
  for (let i = n - 1; i >= 0; i--) runEnd[i] = i + 1 < n && runOf[i + 1] === runOf[i] ? runEnd[i + 1] : i + 1;
  return { runStart: runOf, runEnd };
}

/** Index candidates (p ≤ p1), most significant first; ties by row. */
function indexOrder(v: ClumpVariants, p1: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < v.p.length; i++) if (v.p[i] <= p1) out.push(i);
  const key = v.mlog10p;
  if (key) out.sort((a, b) => key[b] - key[a] || a - b);
  else out.sort((a, b) => v.p[a] - v.p[b] || a - b);
  return out;
}

/**
 * The rows clumping may compare: every index candidate (p ≤ p1) and every row with a p-value
 * within the window of one on its chromosome, in row order. Only their genotypes are needed.
 */
export function ldClumpCandidates(v: ClumpVariants, options: LdClumpOptions = {}): Int32Array {
  const { p1, kb } = resolveOptions(options);
  const { runStart, runEnd } = runBounds(chromRuns(v));
  const radius = clumpRadiusBp(kb);
  const n = v.p.length;
  const need = new Uint8Array(n);
  // sweep: windows of successive candidates overlap, so mark from the furthest row marked so far
  let marked = -1;
  for (let i = 0; i < n; i++) {
    if (!(v.p[i] <= p1)) continue;
    const [first, last] = windowOf(v, runStart, runEnd, i, radius);
    for (let j = Math.max(first, marked + 1); j <= last; j++) if (!Number.isNaN(v.p[j])) need[j] = 1;
    if (last > marked) marked = last;
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (need[i]) out.push(i);
  return Int32Array.from(out);
}

/** Histogram bucket of a claimed variant's p: 0 NSIG, 1 S05, 2 S01, 3 S001, 4 S0001. */
function bucketOf(p: number): number {
  if (p < 0.001) return p < 0.0001 ? 4 : 3;
  if (p < 0.01) return 2;
  return p < 0.05 ? 1 : 0;
}

/**
 * Clump `v` (sorted by chromosome and position) with r² from `r2` (see the module comment for
 * the rules). `r2(i, j)` is called with i = the index row and only for rows in its window.
 */
export function ldClump(v: ClumpVariants, r2: R2Function, options: LdClumpOptions = {}): LdClumpResult {
  const opt = resolveOptions(options);
  const { runStart, runEnd } = runBounds(chromRuns(v));
  const radius = clumpRadiusBp(opt.kb);
  const n = v.p.length;
  const claimed = new Uint8Array(n);
  const clumpOf = new Int32Array(n).fill(-1);
  const clumps: LdClump[] = [];
  let nR2 = 0;
  for (const i of indexOrder(v, opt.p1)) {
    if (claimed[i]) continue;
    const [first, last] = windowOf(v, runStart, runEnd, i, radius);
    const members: number[] = [];
    const memberR2: number[] = [];
    const histo = [0, 0, 0, 0, 0];
    clumpOf[i] = i;
    for (let j = first; j <= last; j++) {
      if (j === i || claimed[j] || Number.isNaN(v.p[j])) continue;
      const r = r2(i, j);
      nR2++;
      if (!(r > opt.r2)) continue; // NaN (undefined) never clumps
      claimed[j] = 1;
      clumpOf[j] = i;
      histo[bucketOf(v.p[j])]++;
      if (v.p[j] < opt.p2) {
        members.push(j);
        memberR2.push(r);
      }
    }
    clumps.push({
      index: i,
      members: Int32Array.from(members),
      r2: Float64Array.from(memberR2),
      total: histo[0] + histo[1] + histo[2] + histo[3] + histo[4],
      nsig: histo[0],
      s05: histo[1],
      s01: histo[2],
      s001: histo[3],
      s0001: histo[4],
    });
  }
  return { clumps, clumpOf, nR2 };
}

/**
 * Real roots of x³ + a x² + b x + c, ascending, equal roots (within 2⁻³⁰) once: the
 * trigonometric form for three real roots, Cardano's otherwise (Numerical Recipes §5.6).
 */
export function cubicRealRoots(a: number, b: number, c: number): number[] {
  const q = (a * a - 3 * b) / 9;
  const r = (2 * a * a * a - 9 * a * b + 27 * c) / 54;
  const a3 = a / 3;
  if (r * r < q * q * q) {
    const sq = Math.sqrt(q);
    const theta = Math.acos(r / (q * sq)) / 3;
    const roots = [
      -2 * sq * Math.cos(theta) - a3,
      -2 * sq * Math.cos(theta + (2 * Math.PI) / 3) - a3,
      -2 * sq * Math.cos(theta - (2 * Math.PI) / 3) - a3,
    ].sort((x, y) => x - y);
    const out = [roots[0]];
    for (let k = 1; k < 3; k++) if (roots[k] - out[out.length - 1] >= EPSILON) out.push(roots[k]);
    return out;
  }
  let s = -Math.cbrt(Math.abs(r) + Math.sqrt(r * r - q * q * q));
  if (s === 0) return [-a3];
  if (r < 0) s = -s;
  const t = q / s;
  const x0 = s + t - a3;
  if (Math.abs(s - t) >= EPSILON * 8) return [x0];
  // a double root as well
  const x1 = -s - a3;
  return x1 < x0 ? [x1, x0] : [x0, x1];
}

/**
 * Two-locus haplotype r² from genotype classes (PLINK 1.9 `--clump`): `counts[3·g₁ + g₂]` = number
 * of samples with genotype class g₁ at the first variant and g₂ at the second (0 = hom allele 1,
 * 1 = het, 2 = hom allele 2), over samples called at both. `haploid` (optional, 4 numbers) =
 * samples haploid at both variants in cells hom/hom 11, 12, 21, 22 (already counted in `counts`
 * as the homozygous diploid class): each is one haplotype, not two. NaN when undefined.
 */
export function haplotypeR2(counts: ArrayLike<number>, haploid?: ArrayLike<number>): number {
  let k11 = 2 * counts[0] + counts[1] + counts[3];
  let k12 = 2 * counts[2] + counts[1] + counts[5];
  let k21 = 2 * counts[6] + counts[3] + counts[7];
  let k22 = 2 * counts[8] + counts[5] + counts[7];
  if (haploid) {
    k11 -= haploid[0];
    k12 -= haploid[1];
    k21 -= haploid[2];
    k22 -= haploid[3];
  }
  const hetHet = counts[4];
  const total2 = k11 + k12 + k21 + k22 + 2 * hetHet;
  if (total2 === 0) return Number.NaN;
  const f11 = k11 / total2;
  const f12 = k12 / total2;
  const f21 = k21 / total2;
  const f22 = k22 / total2;
  const h = hetHet / total2;
  const p1 = f11 + f12 + h;
  const p2 = f11 + f21 + h;
  let freq11 = f11;
  if (hetHet > 0) freq11 += hetHetShare(k11, k12, k21, k22, hetHet, f11, f12, f21, f22, h);
  else if (f11 * f22 === 0 && f12 * f21 === 0) return Number.NaN;
  const expected = p1 * p2;
  const d = freq11 - expected;
  if (Math.abs(d) < SMALL_EPSILON) return 0;
  return (d * d) / (expected * (1 - p1) * (1 - p2));
}

/** Log-likelihood of giving x of the double-heterozygote share h to haplotypes 11/22. */
function lnLike(
  k11: number,
  k12: number,
  k21: number,
  k22: number,
  hetHet: number,
  f11: number,
  f12: number,
  f21: number,
  f22: number,
  h: number,
  x: number,
): number {
  const g11 = f11 + x;
  const g22 = f22 + x;
  const g12 = f12 + h - x;
  const g21 = f21 + h - x;
  let ll = hetHet * Math.log(g11 * g22 + g12 * g21);
  if (k11 !== 0) ll += k11 * Math.log(g11);
  if (k12 !== 0) ll += k12 * Math.log(g12);
  if (k21 !== 0) ll += k21 * Math.log(g21);
  if (k22 !== 0) ll += k22 * Math.log(g22);
  return ll;
}

/** The part x ∈ [0, h] of the double heterozygotes' frequency phased as 11/22 (module comment). */
function hetHetShare(
  k11: number,
  k12: number,
  k21: number,
  k22: number,
  hetHet: number,
  f11: number,
  f12: number,
  f21: number,
  f22: number,
  h: number,
): number {
  const p1122 = f11 * f22;
  const p1221 = f12 * f21;
  let candidates: number[];
  if (p1122 !== 0 || p1221 !== 0) {
    const roots = cubicRealRoots(
      0.5 * (f11 + f22 - f12 - f21 - 3 * h),
      0.5 * (p1122 + p1221 + h * (f12 + f21 - f11 - f22 + h)),
      -0.5 * h * p1122,
    ).filter((x) => x >= -SMALLISH_EPSILON && x <= h + SMALLISH_EPSILON);
    if (roots.length === 0) candidates = [0, h];
    else candidates = roots.map((x) => Math.min(Math.max(x, 0), h));
  } else {
    const xx = f11 + f22;
    const xy = f12 + f21;
    candidates =
      xx + SMALLISH_EPSILON < h + xy && xy + SMALLISH_EPSILON < h + xx ? [0, (h + xy - xx) * 0.5, h] : [0, h];
  }
  let best = candidates[0];
  if (candidates.length > 1) {
    // PLINK 1.9 compares every later candidate with the FIRST one's likelihood (see above)
    const first = lnLike(k11, k12, k21, k22, hetHet, f11, f12, f21, f22, h, best);
    for (let k = 1; k < candidates.length; k++) {
      const x = candidates[k];
      if (lnLike(k11, k12, k21, k22, hetHet, f11, f12, f21, f22, h, x) > first) best = x;
    }
  }
  return best;
}
