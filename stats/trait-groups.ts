/**
 * Grouping of traits by missingness pattern, so that each group shares one REGENIE step 1 fitted
 * on the persons who have its traits (gwas/step1.ts).
 *
 * Practice followed: FinnGen's REGENIE pipelines (github.com/FINNGEN/regenie-pipelines, README
 * "Running GWAS" §2.2) run many phenotypes through one step 1 only when they have "< 5 %
 * non-shared missingness": persons missing in every phenotype of the group (shared
 * missingness, e.g. the men for a set of female-only endpoints) are left out of that step 1, and
 * the non-shared missing values are mean-imputed at level 0 (here: 0 after residualising, which
 * is the mean of the prepared trait; stats/ridge-level0.ts). Written from that description, not
 * from FinnGen's code; the greedy rule below is this engine's.
 *
 * Definitions. A_k = the persons (rows) where trait k is observed (a finite value; NaN is
 * missing). For a group G of traits, U(G) = ∪_{k∈G} A_k are its persons (who enter its step 1) and
 * I(G) = ∩_{k∈G} A_k those observed in every trait; the group's Jaccard similarity is
 *
 *     J(G) = |I(G)| / |U(G)|        (for two traits, the Jaccard index |A ∩ B| / |A ∪ B|),
 *
 * so 1 − J(G) is the share of the group's persons with some non-shared missing value: the
 * requirement J(G) ≥ 0.95 is FinnGen's "< 5 % non-shared missingness" (≤ 5 %, precisely).
 *
 * Rule (greedy first fit, deterministic):
 *   1. Traits with no observed person form no group (`unobserved`; their step 1 cannot be fitted).
 *   2. The others are visited by |A_k| descending, ties by index ascending.
 *   3. A trait joins the first group, in order of creation, that has fewer than `maxGroupSize`
 *      traits and for which J(G ∪ {k}) ≥ `minJaccard`; if there is none it starts a new group.
 * J(G ∪ {k}) is bounded above by min(|I(G)|, |A_k|) / max(|U(G)|, |A_k|), which rejects most
 * candidate groups without touching the person sets. Sets are bit sets (32 persons a word), so
 * a full check costs n/32 word operations; K traits and g groups cost at most K·g·n/32.
 *
 * Output: the groups in order of creation, each with its traits (ascending), its persons U(G)
 * (ascending rows), |I(G)| and J(G). A group of one trait has J = 1. With `minJaccard` = 1 only
 * traits with identical missingness share a group; with every trait fully observed there is one
 * group per `maxGroupSize` traits, holding every person.
 *
 * Edge cases: K = 0 → no groups; a trait observed nowhere → `unobserved`; columns of unequal
 * length, `minJaccard` outside (0, 1] or `maxGroupSize` not a positive integer → Error.
 */

export interface TraitGroupOptions {
  /** Least J(G) = |∩ A_k| / |∪ A_k| of a group (default 0.95: FinnGen's < 5 % non-shared missingness). */
  minJaccard?: number;
  /** Most traits in one group (default 100). */
  maxGroupSize?: number;
}

export const TRAIT_GROUP_DEFAULTS = { minJaccard: 0.95, maxGroupSize: 100 } as const;

export interface TraitGroup {
  /** Trait indices (columns), ascending. */
  traits: number[];
  /** U(G): rows observed in at least one of the traits, ascending. */
  persons: Int32Array;
  /** |I(G)|: rows observed in every trait of the group. */
  nComplete: number;
  /** J(G) = nComplete / persons.length. */
  jaccard: number;
}

export interface TraitGrouping {
  groups: TraitGroup[];
  /** Traits observed in no row (no group). */
  unobserved: number[];
}

function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Bit set of the rows where `y` is observed (finite), and its size. */
function observedBits(y: Float64Array, words: number): { bits: Uint32Array; count: number } {
  const bits = new Uint32Array(words);
  let count = 0;
  for (let i = 0; i < y.length; i++) {
    if (Number.isFinite(y[i])) {
      bits[i >>> 5] |= 1 << (i & 31);
      count++;
    }
  }
  return { bits, count };
}

interface Building {
  traits: number[];
  inter: Uint32Array;
  union: Uint32Array;
  nInter: number;
  nUnion: number;
}

/** |I ∩ A| and |U ∪ A| in one pass. */
function joinCounts(g: Building, a: Uint32Array): { nInter: number; nUnion: number } {
  let nInter = 0;
  let nUnion = 0;
  for (let w = 0; w < a.length; w++) {
    nInter += popcount32(g.inter[w] & a[w]);
    nUnion += popcount32(g.union[w] | a[w]);
  }
  return { nInter, nUnion };
}

/**
 * Groups K traits (columns of n values, NaN = missing) by missingness pattern; see the module
 * comment for the rule.
 */
export function groupTraitsByMissingness(
  columns: readonly Float64Array[],
  options: TraitGroupOptions = {},
): TraitGrouping {
  const minJaccard = options.minJaccard ?? TRAIT_GROUP_DEFAULTS.minJaccard;
  const maxGroupSize = options.maxGroupSize ?? TRAIT_GROUP_DEFAULTS.maxGroupSize;
  if (!(minJaccard > 0 && minJaccard <= 1))
    throw new Error(`trait groups: minJaccard must be in (0, 1], got ${minJaccard}`);
  if (!Number.isInteger(maxGroupSize) || maxGroupSize < 1)
    throw new Error(`trait groups: maxGroupSize must be a positive integer, got ${maxGroupSize}`);
  const K = columns.length;
  if (K === 0) return { groups: [], unobserved: [] };
  const n = columns[0].length;
  for (const [k, y] of columns.entries())
    if (y.length !== n) throw new Error(`trait groups: column ${k} has ${y.length} rows, column 0 has ${n}`);
  const words = (n + 31) >>> 5;
  const sets = columns.map((y) => observedBits(y, words));
  const unobserved: number[] = [];
  const order: number[] = [];
  for (let k = 0; k < K; k++) (sets[k].count === 0 ? unobserved : order).push(k);
  order.sort((a, b) => sets[b].count - sets[a].count || a - b);

  const building: Building[] = [];
  for (const k of order) {
    const { bits, count } = sets[k];
    let joined = false;
    for (const g of building) {
      if (g.traits.length >= maxGroupSize) continue;
      // upper bound of J(G ∪ {k}) from the sizes alone
      if (Math.min(g.nInter, count) < minJaccard * Math.max(g.nUnion, count)) continue;
      const c = joinCounts(g, bits);
      if (c.nInter < minJaccard * c.nUnion) continue;
      for (let w = 0; w < words; w++) {
        g.inter[w] &= bits[w];
        g.union[w] |= bits[w];
      }
      g.nInter = c.nInter;
      g.nUnion = c.nUnion;
      g.traits.push(k);
      joined = true;
      break;
    }
    if (!joined)
      building.push({
        traits: [k],
        inter: Uint32Array.from(bits),
        union: Uint32Array.from(bits),
        nInter: count,
        nUnion: count,
      });
  }
  const groups = building.map((g): TraitGroup => {
    const persons = new Int32Array(g.nUnion);
    let t = 0;
    for (let i = 0; i < n; i++) if ((g.union[i >>> 5] >>> (i & 31)) & 1) persons[t++] = i;
    return {
      traits: [...g.traits].sort((a, b) => a - b),
      persons,
      nComplete: g.nInter,
      jaccard: g.nInter / g.nUnion,
    };
  });
  return { groups, unobserved };
}
