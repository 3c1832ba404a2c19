/**
 * Families: planted relatedness for the synthetic biobank (opt-in, `SynthOptions.families`).
 *
 * Model: nuclear families of which only the children are sampled (full sibships of `size`
 * persons; the two parents are drawn but never written). A share `share` of the persons are
 * in sibships; the others are unrelated, as without families.
 * - **Layout.** Persons of a family are contiguous (`P…01`–`P…04` are one sibship); families
 *   and unrelated persons are interleaved in a shuffled order. A family has one ancestry group
 *   (its first member's) and siblings are born within ±6 years of the first (ages kept in
 *   20–90); sex, batch and everything else stay as drawn.
 * - **Genotypes.** Per LD block, the parents' four haplotypes are drawn exactly like the
 *   haplotypes of unrelated persons (founders: same group weights, drift, LD and rare-variant
 *   model; see genotype-block.ts). Each child then receives one haplotype from each parent, a
 *   mosaic of that parent's two haplotypes: crossovers form a Poisson process along the
 *   chromosome (Haldane's map function, no interference) at 1.2 cM per Mb of the block plan's
 *   expected positions, about 1.6 per chromosome and 34 per genome, and the copying state
 *   carries over from block to block along a chromosome. Siblings are therefore IBD over ~50%
 *   of the genome (kinship 0.25, spread with the number of crossovers), parent–offspring
 *   pairs never occur in the sample, and unrelated persons have kinship 0.
 * - **Expected inflation.** For a trait with (narrow-sense) heritability h² and no shared
 *   environment, the test statistic of a null variant regressed without a kinship model has
 *   E[χ²] ≈ 1 + share·(size − 1)·h²/4 (sibs share half the additive variance and half the
 *   alleles at the locus), e.g. 1.3 for share 0.8, size 4, h² 0.5.
 */
import type { BlockPlan } from './genome.js';
import type { Persons } from './persons.js';
import { Rng } from './prng.js';

/** `SynthOptions.families`. */
export interface FamilyOptions {
  /** Fraction of the persons who are in sibships, in (0, 1]. */
  share: number;
  /** Sampled siblings per family (default 4), 2–12. */
  size?: number;
}

export const DEFAULT_FAMILY_SIZE = 4;
/** Genetic map rate: Morgans per base pair (1.2 cM/Mb, close to the sex-averaged human rate). */
export const MORGANS_PER_BP = 1.2e-8;

/** Which persons are siblings. Family k holds persons `start[k]` … `start[k] + size − 1`. */
export interface FamilyPlan {
  share: number;
  size: number;
  nFamilies: number;
  start: Int32Array;
  /** Family index per person, −1 for unrelated persons. */
  familyOf: Int32Array;
}

/** Checks the options; returns the family size. Throws with a message for the user. */
export function checkFamilyOptions(o: FamilyOptions, nPersons: number): number {
  const size = o.size ?? DEFAULT_FAMILY_SIZE;
  if (!(o.share > 0 && o.share <= 1))
    throw new RangeError(`families.share must be in (0, 1], got ${o.share}`);
  if (!Number.isInteger(size) || size < 2 || size > 12)
    throw new RangeError(`families.size must be an integer from 2 to 12, got ${size}`);
  if (Math.round((o.share * nPersons) / size) < 1)
    throw new RangeError(`families.share ${o.share} of ${nPersons} persons makes no family of ${size}`);
  return size;
}

/** Lays out round(share·n/size) sibships among n persons, in a shuffled order of families and singles. */
export function planFamilies(seed: number, n: number, o: FamilyOptions): FamilyPlan {
  const size = checkFamilyOptions(o, n);
  const rng = new Rng(seed, 'families');
  const nFamilies = Math.min(Math.floor(n / size), Math.round((o.share * n) / size));
  const nSingles = n - nFamilies * size;
  // Units: 1 = a family, 0 = an unrelated person; Fisher–Yates shuffle.
  const units = new Uint8Array(nFamilies + nSingles);
  units.fill(1, 0, nFamilies);
  for (let i = units.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = units[i];
    units[i] = units[j];
    units[j] = t;
  }
  const start = new Int32Array(nFamilies);
  const familyOf = new Int32Array(n).fill(-1);
  let person = 0;
  let k = 0;
  for (const u of units) {
    if (u === 1) {
      start[k] = person;
      familyOf.fill(k, person, person + size);
      k++;
      person += size;
    } else person++;
  }
  return { share: o.share, size, nFamilies, start, familyOf };
}

/** Gives each family its first member's ancestry and birth dates within ±6 years of it (in place). */
export function applyFamiliesToPersons(
  seed: number,
  persons: Persons,
  plan: FamilyPlan,
  extractDay: number,
): void {
  const rng = new Rng(seed, 'families:persons');
  const minDays = Math.ceil(20 * 365.25);
  const maxDays = Math.floor(90 * 365.25);
  for (let k = 0; k < plan.nFamilies; k++) {
    const first = plan.start[k];
    for (let i = first + 1; i < first + plan.size; i++) {
      persons.ancestry[i] = persons.ancestry[first];
      const ageDays = extractDay - persons.birthDay[first] + Math.round(rng.uniform(-6, 6) * 365.25);
      const days = Math.min(maxDays, Math.max(minDays, ageDays));
      persons.birthDay[i] = extractDay - days;
      persons.age[i] = days / 365.25;
    }
  }
}

/**
 * The family part of the genotype model: parents' haplotypes live after the sampled ones
 * (family k's father at 2n + 4k + {0, 1}, mother at 2n + 4k + {2, 3}); each sampled child's
 * haplotype 2i + p copies parent p's haplotype `state` and switches at crossovers.
 */
export interface FamilyGenotypes {
  plan: FamilyPlan;
  seed: number;
  /** Haplotypes drawn as founders: unrelated persons' and parents', ascending. */
  founderHaps: Int32Array;
  /** Per sampled haplotype: which of the parent's two haplotypes is being copied (children only). */
  state: Uint8Array;
  /** Per sampled haplotype: map position (Morgans) of the next crossover. */
  nextCross: Float64Array;
  chrom: string;
  rng: Rng | undefined;
}

/** Haplotype buffers' layout with families: total haplotypes and the founder list. */
export function familyGenotypes(seed: number, n: number, plan: FamilyPlan): FamilyGenotypes {
  const founders: number[] = [];
  for (let i = 0; i < n; i++) if (plan.familyOf[i] < 0) founders.push(2 * i, 2 * i + 1);
  for (let h = 2 * n; h < 2 * n + 4 * plan.nFamilies; h++) founders.push(h);
  return {
    plan,
    seed,
    founderHaps: Int32Array.from(founders),
    state: new Uint8Array(2 * n),
    nextCross: new Float64Array(2 * n),
    chrom: '',
    rng: undefined,
  };
}

/** Map position (Morgans) of a variant of the plan: the expected position of variant j of the block. */
function morgans(block: BlockPlan, j: number): number {
  return (block.start + j * block.spacing) * MORGANS_PER_BP;
}

/** Overwrites the children's haplotypes of a block (variant-major rows of `stride`) from their parents'. */
export function transmitBlock(
  fam: FamilyGenotypes,
  hap: Uint8Array,
  stride: number,
  n: number,
  block: BlockPlan,
): void {
  const { plan, state, nextCross } = fam;
  if (fam.chrom !== block.chrom) {
    // A new chromosome: independent meioses, a random starting haplotype for each.
    fam.chrom = block.chrom;
    const rng = new Rng(fam.seed, `families:chr${block.chrom}`);
    fam.rng = rng;
    for (let k = 0; k < plan.nFamilies; k++)
      for (let i = plan.start[k]; i < plan.start[k] + plan.size; i++)
        for (let p = 0; p < 2; p++) {
          state[2 * i + p] = rng.float() < 0.5 ? 0 : 1;
          nextCross[2 * i + p] = -Math.log(rng.open01());
        }
  }
  const rng = fam.rng!;
  const parentBase = 2 * n;
  for (let j = 0; j < block.nVariants; j++) {
    const x = morgans(block, j);
    const row = j * stride;
    for (let k = 0; k < plan.nFamilies; k++) {
      const parents = row + parentBase + 4 * k;
      // Children's rows start at 0: nothing to copy when the parents carry no ALT allele (most
      // rare variants). Crossovers are caught up lazily, which gives the same states.
      if ((hap[parents] | hap[parents + 1] | hap[parents + 2] | hap[parents + 3]) === 0) continue;
      const end = plan.start[k] + plan.size;
      for (let i = plan.start[k]; i < end; i++) {
        for (let p = 0; p < 2; p++) {
          const h = 2 * i + p;
          while (nextCross[h] <= x) {
            state[h] ^= 1;
            nextCross[h] += -Math.log(rng.open01());
          }
          hap[row + h] = hap[parents + 2 * p + state[h]];
        }
      }
    }
  }
}
