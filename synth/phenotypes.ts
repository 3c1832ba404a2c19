/**
 * Person-level latent phenotypes from the planted genotypes (see `planted.ts` for the
 * models): LDL in mg/dL (with its AFR-only effect) and case status for every planted phecode;
 * with families, the polygenic trait (HEIGHT, cm).
 */
import type { CausalVariant, PolygenicScore } from './genotypes.js';
import type { Persons } from './persons.js';
import {
  type CovariateEffects,
  LDL_ANCESTRY_SPECIFIC,
  LDL_VARIANTS,
  PLANTED_BINARY,
  PLANTED_BURDEN,
  type PlantedVariantSpec,
  POLYGENIC_TRAIT,
} from './planted.js';
import { Rng } from './prng.js';

export interface PlantedEffect {
  key: string;
  r2: number;
  /** Effect per standardised ALT count (SD units of the trait or liability). */
  betaStd: number;
  /** Effect per ALT allele, in trait units (LDL) or liability SDs (phecodes). */
  betaPerAllele: number;
}

export interface Phenotypes {
  /** Person-level LDL "true" value, mg/dL. */
  ldl: Float64Array;
  ldlEffects: PlantedEffect[];
  /** Case flag per planted phecode key. */
  cases: Map<string, Uint8Array>;
  effects: Map<string, PlantedEffect[]>;
  /** With families only: the polygenic trait. */
  polygenic?: PolygenicTrait;
  /** The LDL effect present in one ancestry group only (absent: no variant was given). */
  ancestrySpecific?: AncestrySpecificEffect;
}

export interface AncestrySpecificEffect {
  key: string;
  /** Index into persons.ts `ANCESTRIES`. */
  ancestry: number;
  r2: number;
  /** Effect per standardised (within the group) ALT count, LDL SD units. */
  betaStd: number;
  /** Effect per ALT allele in each group (mg/dL; 0 outside `ancestry`). */
  betaPerAllele: number[];
  /** Persons in the group. */
  n: number;
}

export interface PolygenicTrait {
  /** Trait value per person, in `POLYGENIC_TRAIT.unit`. */
  values: Float64Array;
  large: PlantedEffect[];
  /** Variance share of the small effects (h² − Σ large R²). */
  h2Small: number;
  /** Factor c turning a small effect's weight into its effect per standardised ALT count. */
  scale: number;
  nSmall: number;
  /** Variance of the genetic part (large + small effects) in the sample, ≈ h². */
  realisedH2: number;
}

export const LDL_SD = 32;

function standardise(v: CausalVariant): { mean: number; sd: number } {
  const n = v.dosage.length;
  let s = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    s += v.dosage[i];
    ss += v.dosage[i] * v.dosage[i];
  }
  const mean = s / n;
  const sd = Math.sqrt(Math.max(1e-12, ss / n - mean * mean));
  return { mean, sd };
}

function addGenetic(
  target: Float64Array,
  specs: PlantedVariantSpec[],
  causal: Map<string, CausalVariant>,
  scale: number,
): PlantedEffect[] {
  return specs.map((spec) => {
    const v = causal.get(spec.key);
    if (!v) throw new Error(`planted variant ${spec.key} was not generated`);
    const { mean, sd } = standardise(v);
    const b = Math.sqrt(spec.r2);
    for (let i = 0; i < target.length; i++) target[i] += (b * (v.dosage[i] - mean)) / sd;
    return { key: spec.key, r2: spec.r2, betaStd: b, betaPerAllele: (scale * b) / sd };
  });
}

function covariates(persons: Persons, e: CovariateEffects, i: number): number {
  return (
    e.age * (persons.age[i] - 55) + (persons.sex[i] === 1 ? e.male : 0) + e.ancestry[persons.ancestry[i]]
  );
}

function topFraction(liability: Float64Array, k: number): Uint8Array {
  const sorted = Float64Array.from(liability).sort();
  const cut = sorted[Math.min(sorted.length - 1, Math.floor((1 - k) * sorted.length))];
  const out = new Uint8Array(liability.length);
  for (let i = 0; i < liability.length; i++) out[i] = liability[i] >= cut ? 1 : 0;
  return out;
}

export function computePhenotypes(
  seed: number,
  persons: Persons,
  causalList: CausalVariant[],
  burdenCarrier: Uint8Array,
  poly?: PolygenicScore,
  ancestrySpecific?: CausalVariant,
): Phenotypes {
  const rng = new Rng(seed, 'phenotypes');
  const n = persons.n;
  const causal = new Map(causalList.map((c) => [c.key, c]));
  const g = new Float64Array(n);
  const ldlEffects = addGenetic(g, LDL_VARIANTS, causal, LDL_SD);
  const h2 = LDL_VARIANTS.reduce((s, v) => s + v.r2, 0);
  const ldl = new Float64Array(n);
  const ancestryOffset = [0, -10, 8];
  const eps = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const base = 120 + 0.35 * (persons.age[i] - 55) + (persons.sex[i] === 2 ? 4 : 0);
    eps[i] = rng.normal();
    ldl[i] = base + ancestryOffset[persons.ancestry[i]] + LDL_SD * (g[i] + Math.sqrt(1 - h2) * eps[i]);
  }
  // After the draws above, so every other person's LDL (and every later draw) is unchanged.
  const specific = ancestrySpecific
    ? addAncestrySpecific(ldl, eps, h2, persons, ancestrySpecific)
    : undefined;
  const cases = new Map<string, Uint8Array>();
  const effects = new Map<string, PlantedEffect[]>();
  for (const spec of PLANTED_BINARY) {
    const l = new Float64Array(n);
    const eff = addGenetic(l, spec.variants, causal, 1);
    const r2 = spec.variants.reduce((s, v) => s + v.r2, 0);
    for (let i = 0; i < n; i++) l[i] += covariates(persons, spec, i) + Math.sqrt(1 - r2) * rng.normal();
    cases.set(spec.key, topFraction(l, spec.prevalence));
    effects.set(spec.key, eff);
  }
  for (const spec of PLANTED_BURDEN) {
    const l = new Float64Array(n);
    for (let i = 0; i < n; i++)
      l[i] = spec.shift * burdenCarrier[i] + covariates(persons, spec, i) + rng.normal();
    cases.set(spec.key, topFraction(l, spec.prevalence));
  }
  const polygenic = poly ? polygenicTrait(seed, persons, causal, poly) : undefined;
  return { ldl, ldlEffects, cases, effects, polygenic, ...(specific ? { ancestrySpecific: specific } : {}) };
}

/**
 * The AFR-only LDL effect (planted.ts): LDL_SD·b·(x − m)/s added to the group's persons, m and
 * s the ALT count's mean and SD within the group, with the group's residual scaled from √(1 − h²)
 * to √(1 − h² − b²) (same total variance as the other groups); a variant monomorphic in the group
 * adds nothing (betaPerAllele 0).
 */
function addAncestrySpecific(
  ldl: Float64Array,
  eps: Float64Array,
  h2: number,
  persons: Persons,
  v: CausalVariant,
): AncestrySpecificEffect {
  const spec = LDL_ANCESTRY_SPECIFIC;
  let k = 0;
  let s = 0;
  let ss = 0;
  for (let i = 0; i < persons.n; i++) {
    if (persons.ancestry[i] !== spec.ancestry) continue;
    k++;
    s += v.dosage[i];
    ss += v.dosage[i] * v.dosage[i];
  }
  const mean = k > 0 ? s / k : 0;
  const sd = k > 0 ? Math.sqrt(Math.max(0, ss / k - mean * mean)) : 0;
  const b = Math.sqrt(spec.r2);
  const perAllele = sd > 0 ? (LDL_SD * b) / sd : 0;
  // The group's residual SD shrinks to √(1 − h² − b²) so its LDL variance stays that of the other
  // groups: a pooled analysis then sees no heteroscedasticity, only the effect itself.
  const shrink = Math.sqrt(Math.max(0, 1 - h2 - spec.r2)) - Math.sqrt(1 - h2);
  if (perAllele !== 0)
    for (let i = 0; i < persons.n; i++)
      if (persons.ancestry[i] === spec.ancestry)
        ldl[i] += perAllele * (v.dosage[i] - mean) + LDL_SD * shrink * eps[i];
  const betaPerAllele = [0, 0, 0];
  betaPerAllele[spec.ancestry] = perAllele;
  return { key: spec.key, ancestry: spec.ancestry, r2: spec.r2, betaStd: b, betaPerAllele, n: k };
}

function variance(x: Float64Array): number {
  let s = 0;
  let ss = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i];
    ss += x[i] * x[i];
  }
  const m = s / x.length;
  return ss / x.length - m * m;
}

/** The polygenic trait (model in planted.ts): large planted effects, scaled small effects, noise. */
function polygenicTrait(
  seed: number,
  persons: Persons,
  causal: Map<string, CausalVariant>,
  poly: PolygenicScore,
): PolygenicTrait {
  const spec = POLYGENIC_TRAIT;
  const rng = new Rng(seed, 'phenotypes:polygenic');
  const n = persons.n;
  const g = new Float64Array(n);
  const large = addGenetic(g, spec.large, causal, spec.sd);
  const h2Small = spec.h2 - spec.large.reduce((s, v) => s + v.r2, 0);
  const v = variance(poly.score);
  if (!(v > 0)) throw new Error('the polygenic trait has no small-effect variant (too few variants)');
  const scale = Math.sqrt(h2Small / v);
  for (let i = 0; i < n; i++) g[i] += scale * poly.score[i];
  const realisedH2 = variance(g);
  const values = new Float64Array(n);
  const e = Math.sqrt(1 - spec.h2);
  for (let i = 0; i < n; i++)
    values[i] = spec.mean + spec.sd * (spec.ancestry[persons.ancestry[i]] + g[i] + e * rng.normal());
  return { values, large, h2Small, scale, nSmall: poly.variants.length, realisedH2 };
}
