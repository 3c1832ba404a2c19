/**
 * Drawing one LD block of the genotype model (see genotypes.ts): its variants' frequencies and
 * gene annotations, the haplotypes (founder mosaics for common variants, independent alleles for
 * rare ones), missing calls, allele counts and the planted variant. With families
 * (families.ts), only the founder haplotypes (unrelated persons' and the unsampled parents')
 * are drawn this way; the children's are then copied from their parents' with crossovers,
 * before singletons, missing calls and allele counts, which concern sampled haplotypes only.
 */
import { type FamilyGenotypes, transmitBlock } from './families.js';
import type { BlockPlan } from './genome.js';
import type { Rng } from './prng.js';

export const PLOF_CONSEQUENCES = [
  'stop_gained',
  'frameshift_variant',
  'splice_donor_variant',
  'splice_acceptor_variant',
  'start_lost',
] as const;

export type Annot = {
  consequence: string;
  impact: string;
  cadd: number;
  revel?: number;
};

function geneAnnotation(rng: Rng, forcePlof: boolean): Annot {
  const u = forcePlof ? 0 : rng.float();
  if (u < 0.16) {
    const c = PLOF_CONSEQUENCES[rng.int(PLOF_CONSEQUENCES.length)];
    return { consequence: c, impact: 'HIGH', cadd: rng.uniform(25, 48) };
  }
  if (u < 0.6)
    return {
      consequence: 'missense_variant',
      impact: 'MODERATE',
      cadd: rng.uniform(5, 34),
      revel: rng.beta(0.8, 2),
    };
  if (u < 0.82) return { consequence: 'synonymous_variant', impact: 'LOW', cadd: rng.uniform(0, 14) };
  if (u < 0.9) return { consequence: 'splice_region_variant', impact: 'LOW', cadd: rng.uniform(3, 20) };
  if (u < 0.95) return { consequence: '3_prime_UTR_variant', impact: 'MODIFIER', cadd: rng.uniform(0, 12) };
  return { consequence: 'intron_variant', impact: 'MODIFIER', cadd: rng.uniform(0, 10) };
}

/** The cohort and the buffers the blocks are drawn into (allocated once by `writeGenotypes`). */
export interface BlockModel {
  /** Persons; haplotype h < nHap belongs to person ⌊h/2⌋. */
  n: number;
  /** Sampled haplotypes, 2n. */
  nHap: number;
  /** Haplotypes per variant row of `hap`: nHap, plus the unsampled parents' with families. */
  stride: number;
  /** Haplotypes drawn as founders, ascending (all sampled ones without families). */
  founderHaps: Int32Array;
  /** Founder haplotype indices per ancestry group. */
  popHaps: Int32Array[];
  /** Ancestry group per haplotype (length `stride`). */
  hapPop: Uint8Array;
  /** Share of the haplotypes per group, and its cumulative form. */
  popShare: number[];
  popCum: number[];
  /** Balding–Nichols drift. */
  fst: number;
  /** Lowest ancestral frequency of a rare variant, 1/(4N). */
  pMin: number;
  burdenGene: number;
  burdenCarrierFreq: number;
  /** Sibships (see families.ts): children's haplotypes are copied from their parents'. */
  families?: FamilyGenotypes;
  /** Alleles, variant-major: hap[j·stride + h] (filled here). */
  hap: Uint8Array;
  /** Missing calls, variant-major: missing[j·n + i] (filled here). */
  missing: Uint8Array;
  /** Per-haplotype scratch of the founder copying. */
  founderOf: Uint8Array;
  nextRec: Float64Array;
  nextMut: Float64Array;
}

/** A drawn block: per variant its kind, annotation and allele counts. */
export interface BlockDraw {
  /** 1 for a founder-borne common variant. */
  common: Uint8Array;
  /** Gene blocks: the annotation of each variant. */
  annots: (Annot | undefined)[];
  /** ALT allele count and called alleles. */
  ac: Int32Array;
  an: Int32Array;
  /** Index of the planted causal variant (planted blocks), else −1. */
  causalJ: number;
  /** Index of the polygenic causal variant (polygenic blocks), else −1. */
  polyJ: number;
}

/** Draws block `block` with `rng` (the chromosome's stream) into `model.hap` and `model.missing`. */
export function drawBlock(model: BlockModel, block: BlockPlan, rng: Rng): BlockDraw {
  const { n, nHap, stride, founderHaps, popHaps, hapPop, popShare, popCum, pMin, hap, missing } = model;
  const { founderOf, nextRec, nextMut } = model;
  const nPop = 3;
  const F = model.fst;
  const alpha = (1 - F) / F;
  const V = block.nVariants;
  const isGene = block.gene >= 0;
  const isBurden = block.gene === model.burdenGene;
  hap.fill(0, 0, V * stride);
  missing.fill(0, 0, V * n);

  // --- draw the block's variants ---
  const common = new Uint8Array(V);
  const annots: (Annot | undefined)[] = new Array(V);
  const popFreq = new Float64Array(V * nPop);
  const missRate = new Float64Array(V);
  const pCommon = block.causal ? 0.6 : 0.3;
  const nPlofBurden = isBurden ? Math.max(6, Math.round(V * 0.25)) : 0;
  for (let j = 0; j < V; j++) {
    if (isGene) {
      const a = geneAnnotation(
        rng,
        j % Math.max(1, Math.floor(V / Math.max(1, nPlofBurden))) === 0 && isBurden,
      );
      annots[j] = a;
      let p: number;
      if (isBurden && PLOF_CONSEQUENCES.includes(a.consequence as (typeof PLOF_CONSEQUENCES)[number])) {
        p = 0; // set below, once the pLoF count is known
      } else {
        const hi = a.impact === 'HIGH' ? 0.002 : a.impact === 'MODERATE' ? 0.01 : 0.03;
        p = Math.exp(rng.uniform(Math.log(pMin), Math.log(hi)));
      }
      for (let k = 0; k < nPop; k++) popFreq[j * nPop + k] = p;
    } else if (rng.float() < pCommon) {
      common[j] = 1;
    } else {
      const p = Math.exp(rng.uniform(Math.log(pMin), Math.log(0.05)));
      if (p >= 0.005) {
        for (let k = 0; k < nPop; k++)
          popFreq[j * nPop + k] = rng.beta((p * (1 - F)) / F, ((1 - p) * (1 - F)) / F);
      } else {
        // Very rare variants are mostly private to the group where they arose.
        const origin = rng.pickCumulative(popCum);
        for (let k = 0; k < nPop; k++) popFreq[j * nPop + k] = k === origin ? p / popShare[k] : 0.05 * p;
      }
    }
    const u = rng.float();
    missRate[j] =
      block.causal || isBurden ? 0 : u < 0.85 ? 0 : u < 0.99 ? rng.uniform(0, 0.02) : rng.uniform(0.05, 0.2);
  }
  if (isBurden) {
    const plofIdx: number[] = [];
    for (let j = 0; j < V; j++)
      if (PLOF_CONSEQUENCES.includes(annots[j]!.consequence as (typeof PLOF_CONSEQUENCES)[number]))
        plofIdx.push(j);
    const each = model.burdenCarrierFreq / (2 * Math.max(1, plofIdx.length));
    for (const j of plofIdx) {
      const p = each * rng.uniform(0.5, 1.5);
      for (let k = 0; k < nPop; k++) popFreq[j * nPop + k] = p;
    }
  }

  // Founder haplotypes for the block's common variants.
  const commonIdx: number[] = [];
  for (let j = 0; j < V; j++) if (common[j]) commonIdx.push(j);
  if (commonIdx.length > 0) {
    const H = 4 + rng.int(5);
    const Vc = commonIdx.length;
    const founders = new Uint8Array(H * Vc);
    for (let c = 0; c < Vc; c++) {
      const p = rng.uniform(0.05, 0.5);
      let ones = 0;
      for (let f = 0; f < H; f++) ones += founders[f * Vc + c] = rng.float() < p ? 1 : 0;
      if (ones === 0 || ones === H) {
        const f = rng.int(H);
        founders[f * Vc + c] ^= 1;
      }
      if (rng.float() < 0.1) for (let f = 0; f < H; f++) founders[f * Vc + c] ^= 1;
    }
    const w0 = rng.dirichlet(new Array(H).fill(1.5));
    const cums = [0, 1, 2].map(() => {
      const w = rng.dirichlet(w0.map((x) => Math.max(1e-3, x * alpha)));
      const cum = new Float64Array(H);
      let s = 0;
      for (let f = 0; f < H; f++) cum[f] = s += w[f];
      return cum;
    });
    const rho = rng.uniform(0.01, 0.08);
    const mu = 0.002;
    const nFounder = founderHaps.length;
    for (let t = 0; t < nFounder; t++) {
      const h = founderHaps[t];
      founderOf[h] = rng.pickCumulative(cums[hapPop[h]]);
      nextRec[h] = 1 + rng.skip(rho);
      nextMut[h] = rng.skip(mu);
    }
    for (let c = 0; c < Vc; c++) {
      const row = commonIdx[c] * stride;
      for (let t = 0; t < nFounder; t++) {
        const h = founderHaps[t];
        if (nextRec[h] <= c) {
          founderOf[h] = rng.pickCumulative(cums[hapPop[h]]);
          nextRec[h] = c + 1 + rng.skip(rho);
        }
        let a = founders[founderOf[h] * Vc + c];
        if (nextMut[h] <= c) {
          a ^= 1;
          nextMut[h] = c + 1 + rng.skip(mu);
        }
        hap[row + h] = a;
      }
    }
  }
  // Independent (rare) variants: jump from carrier allele to carrier allele.
  for (let j = 0; j < V; j++) {
    if (common[j]) continue;
    const row = j * stride;
    for (let k = 0; k < nPop; k++) {
      const p = popFreq[j * nPop + k];
      const haps = popHaps[k];
      if (p <= 0) continue;
      for (let t = rng.skip(p); t < haps.length; t += 1 + rng.skip(p)) hap[row + haps[t]] = 1;
    }
  }
  if (model.families) transmitBlock(model.families, hap, stride, n, block);
  // Variants drawn with no copy become singletons, except ~10% kept monomorphic (as in a
  // subset of a larger call set). Planted and burden-gene variants always segregate.
  for (let j = 0; j < V; j++) {
    if (common[j]) continue;
    const row = j * stride;
    let any = 0;
    for (let h = 0; h < nHap && !any; h++) any = hap[row + h];
    if (!any && (isBurden || rng.float() < 0.9)) hap[row + rng.int(nHap)] = 1;
  }
  for (let j = 0; j < V; j++) {
    const m = missRate[j];
    if (m <= 0) continue;
    for (let i = rng.skip(m); i < n; i += 1 + rng.skip(m)) missing[j * n + i] = 1;
  }

  // --- allele counts, planted variant choice ---
  const ac = new Int32Array(V);
  const an = new Int32Array(V);
  for (let j = 0; j < V; j++) {
    let a = 0;
    let called = 0;
    const row = j * stride;
    const mrow = j * n;
    if (missRate[j] <= 0) {
      for (let h = row; h < row + nHap; h++) a += hap[h];
      ac[j] = a;
      an[j] = nHap;
      continue;
    }
    for (let i = 0; i < n; i++) {
      if (missing[mrow + i]) continue;
      called++;
      a += hap[row + 2 * i] + hap[row + 2 * i + 1];
    }
    ac[j] = a;
    an[j] = 2 * called;
  }
  let causalJ = -1;
  if (block.causal) {
    let best = Number.POSITIVE_INFINITY;
    for (let j = 0; j < V; j++) {
      if (!common[j] || an[j] === 0) continue;
      const af = ac[j] / an[j];
      const maf = Math.min(af, 1 - af);
      const score = Math.abs(maf - 0.3);
      if (score < best) {
        best = score;
        causalJ = j;
      }
    }
    if (causalJ < 0) throw new Error(`planted block ${block.index} has no common variant`);
  }
  // A polygenic block's causal variant: a random common variant with MAF ≥ 0.05 (none: −1).
  let polyJ = -1;
  if (block.polygenic) {
    const eligible: number[] = [];
    for (let j = 0; j < V; j++) {
      const af = an[j] > 0 ? ac[j] / an[j] : 0;
      if (common[j] && Math.min(af, 1 - af) >= 0.05) eligible.push(j);
    }
    if (eligible.length > 0) polyJ = eligible[rng.int(eligible.length)];
  }
  return { common, annots, ac, an, causalJ, polyJ };
}
