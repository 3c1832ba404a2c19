/**
 * What the generator plants, and how strongly. All effects are on standardised scales so
 * the signal does not depend on the size preset; `truth.json` restates them per allele.
 * They are sized so that at the demo size (2,500 persons) every planted common variant is
 * genome-wide significant in the whole cohort (and the LDL ones also in an EUR, age 40–80
 * subset of ~850), and the burden gene's phecodes pass Bonferroni across the demo phenome.
 *
 * - **LDL (quantitative):** LDL = 120 + 0.35·(age − 55) + 4·female + ancestry offset (EUR 0, AFR −10, EAS +8)
 *   + 32·(Σ_j b_j·z_j + √(1 − Σ b_j²)·ε) mg/dL, where z_j is the standardised ALT count of
 *   causal variant j and b_j² its share of variance (R²).
 * - **Common-variant phecodes (liability threshold model, Falconer 1965):**
 *   L = Σ_j b_j·z_j + covariate terms + √(1 − Σ b_j²)·ε; the persons with the top K·N
 *   liabilities are cases (K = prevalence).
 * - **Burden phecodes (genotype-first, modelled on LMNA pLoF studies):** carriers of
 *   ≥ 1 pLoF allele in the burden gene have their liability raised by `shift` SDs.
 * - **Time to event (modelled on earlier onset in carriers; issue 16):** carriers of ≥ 1 pLoF
 *   allele in the burden gene get coronary atherosclerosis EARLIER: proportional hazards on
 *   the age scale, h(a) = h0(a)·HR^carrier·e^{β_male·male}, with a Weibull baseline
 *   h0(a) = (k/λ)(a/λ)^(k−1) (cumulative hazard (a/λ)^k). Onset age = λ·(E/m)^(1/k) with
 *   E ~ Exp(1) and m the person's hazard multiplier (inverse CDF of S(a) = e^{−m(a/λ)^k}).
 *   Onsets after the extract date are not cases (censored); onsets before the person's EHR start
 *   are prevalent (first code on the EHR start date). See ehr.ts.
 * - **Ancestry-specific LDL effect (generator version 4; issue 15):** one more common variant,
 *   in an LD block of its own that the generator already writes (no VCF byte changes: the
 *   block is picked on its own random stream among non-causal blocks), raises LDL in AFR persons
 *   only: LDL += 32·b·(x − m_AFR)/s_AFR for AFR persons, 0 for EUR and EAS, with b² = `r2` the
 *   share of the AFR persons' LDL variance (before the effect) it explains, x the ALT count and
 *   m_AFR, s_AFR its mean and SD in AFR. Centred within AFR, so the AFR mean is unchanged; EUR and
 *   EAS LDL values are byte-identical to version 3. Pooled or meta-analysed with EUR, its β is
 *   heterogeneous (Cochran's Q), the point of the effect.
 * - **Polygenic trait (only with families, see families.ts):** HEIGHT = mean + sd·(a_k +
 *   Σ_j b_j·z_j + c·Σ_m w_m·z_m + √(1 − h²)·ε) cm: four large planted effects b_j² (0.6–1%
 *   of variance), one small effect w_m ~ N(0, 1) in each of up to `maxSmall` LD blocks (a
 *   share `blockShare` of the non-gene blocks, genome-wide), c set so that the small effects
 *   explain h² − Σ b_j² of the variance in the sample (realised, not expected), a_k a small
 *   ancestry offset. No shared environment: siblings' residuals ε are independent.
 */

export interface PlantedVariantSpec {
  key: string;
  /** Share of phenotypic (or liability) variance explained. */
  r2: number;
}

export interface CovariateEffects {
  /** Per year of age minus 55, on the liability scale. */
  age: number;
  /** Males versus females. */
  male: number;
  /** Per ancestry group (EUR, AFR, EAS). */
  ancestry: [number, number, number];
}

export interface PlantedBinarySpec extends CovariateEffects {
  key: string;
  name: string;
  phecode12: string;
  phecodeX: string;
  prevalence: number;
  variants: PlantedVariantSpec[];
}

export interface PlantedBurdenPhecodeSpec extends CovariateEffects {
  key: string;
  name: string;
  phecode12: string;
  phecodeX: string;
  prevalence: number;
  /** Liability increase of pLoF carriers, in SDs. */
  shift: number;
}

export const LDL_VARIANTS: PlantedVariantSpec[] = [
  { key: 'LDL_1', r2: 0.08 },
  { key: 'LDL_2', r2: 0.06 },
  { key: 'LDL_3', r2: 0.05 },
];

export const PLANTED_BINARY: PlantedBinarySpec[] = [
  {
    key: 'T2D',
    name: 'Type 2 diabetes',
    phecode12: '250.2',
    phecodeX: 'EM_202.2',
    prevalence: 0.14,
    variants: [
      { key: 'T2D_1', r2: 0.1 },
      { key: 'T2D_2', r2: 0.09 },
    ],
    age: 0.025,
    male: 0.1,
    ancestry: [0, 0.25, 0.2],
  },
  {
    key: 'gout',
    name: 'Gout',
    phecode12: '274.1',
    phecodeX: 'MS_703.1',
    prevalence: 0.1,
    variants: [{ key: 'gout_1', r2: 0.11 }],
    age: 0.02,
    male: 0.5,
    ancestry: [0, 0.1, 0.1],
  },
  {
    key: 'asthma',
    name: 'Asthma',
    phecode12: '495',
    phecodeX: 'RE_475',
    prevalence: 0.11,
    variants: [{ key: 'asthma_1', r2: 0.11 }],
    age: -0.005,
    male: -0.1,
    ancestry: [0, 0.2, -0.1],
  },
];

export const BURDEN_GENE = 'LMNA';
/** Targeted share of persons carrying a pLoF allele in the burden gene. */
export const BURDEN_CARRIER_FREQ = 0.03;

export const PLANTED_BURDEN: PlantedBurdenPhecodeSpec[] = [
  {
    key: 'cardiomyopathy',
    name: 'Cardiomyopathy',
    phecode12: '425',
    phecodeX: 'CV_414',
    prevalence: 0.03,
    shift: 1.8,
    age: 0.02,
    male: 0.2,
    ancestry: [0, 0, 0],
  },
  {
    key: 'afib',
    name: 'Atrial fibrillation and flutter',
    phecode12: '427.2',
    phecodeX: 'CV_416.2',
    prevalence: 0.07,
    shift: 1.6,
    age: 0.04,
    male: 0.2,
    ancestry: [0, 0, 0],
  },
  {
    key: 'heart_failure',
    name: 'Congestive heart failure',
    phecode12: '428',
    phecodeX: 'CV_424',
    prevalence: 0.05,
    shift: 1.7,
    age: 0.035,
    male: 0.15,
    ancestry: [0, 0, 0],
  },
];

/** A quantitative effect present in one ancestry group only (truth.json `ancestrySpecific`). */
export interface PlantedAncestrySpecificSpec {
  key: string;
  /** pheno.txt / labs trait it acts on. */
  trait: 'LDL';
  /** The one group with the effect (index into persons.ts `ANCESTRIES`). */
  ancestry: number;
  /** Share of the group's LDL variance (before the effect) explained, b². */
  r2: number;
  /** The variant chosen is the common one whose MAF in the group is closest to this. */
  targetMaf: number;
  /** Candidate LD blocks drawn (the variant is the best one over all of them). */
  candidateBlocks: number;
}

/**
 * LDL in AFR only (R² 0.1 within AFR; at the demo size ~625 AFR persons give an expected
 * χ² ≈ 60, p ≈ 1e-14, while EUR and EAS carry no effect).
 */
export const LDL_ANCESTRY_SPECIFIC: PlantedAncestrySpecificSpec = {
  key: 'LDL_AFR',
  trait: 'LDL',
  ancestry: 1,
  r2: 0.1,
  targetMaf: 0.3,
  candidateBlocks: 8,
};

/** A planted time-to-event effect: a phecode whose onset age follows a proportional-hazards model. */
export interface PlantedTimeToEventSpec {
  key: string;
  name: string;
  phecode12: string;
  phecodeX: string;
  /** Hazard ratio of burden-gene pLoF carriers (age time scale). */
  hr: number;
  /** Hazard ratio of males versus females. */
  hrMale: number;
  /** Weibull shape k and scale λ (years) of the baseline (female non-carrier) hazard. */
  shape: number;
  scale: number;
}

/**
 * Coronary atherosclerosis (1.2 411.4, X CV_404.2), earlier in LMNA pLoF carriers: HR 5 (HR 4
 * gave Cox p < 1e-6 at demo size for only 3 of 5 seeds: ~75 carriers, ~20 carrier events).
 * Baseline: k = 5, λ = 102.6 years, so 1 − e^{−(80/λ)^k} ≈ 25 % of female non-carriers have had
 * an onset by age 80 (≈ 4 % by 55).
 */
export const PLANTED_TIME_TO_EVENT: PlantedTimeToEventSpec = {
  key: 'cad_onset',
  name: 'Coronary atherosclerosis',
  phecode12: '411.4',
  phecodeX: 'CV_404.2',
  hr: 5,
  hrMale: 1.3,
  shape: 5,
  scale: 102.6,
};

/** The polygenic quantitative trait written with families (pheno.txt column `name`). */
export interface PolygenicTraitSpec {
  name: string;
  unit: string;
  mean: number;
  sd: number;
  /** Total heritability (large + small effects), share of the trait's variance within ancestry. */
  h2: number;
  /** Large planted effects, R² each. */
  large: PlantedVariantSpec[];
  /** Most small-effect causal variants (one per block). */
  maxSmall: number;
  /** Share of the eligible (non-gene, non-planted) blocks that hold a small effect. */
  blockShare: number;
  /** Mean offset per ancestry group (EUR, AFR, EAS), in trait SDs. */
  ancestry: [number, number, number];
}

export const POLYGENIC_TRAIT: PolygenicTraitSpec = {
  name: 'HEIGHT',
  unit: 'cm',
  mean: 170,
  sd: 7,
  h2: 0.5,
  large: [
    { key: 'HEIGHT_1', r2: 0.01 },
    { key: 'HEIGHT_2', r2: 0.0085 },
    { key: 'HEIGHT_3', r2: 0.0075 },
    { key: 'HEIGHT_4', r2: 0.006 },
  ],
  maxSmall: 1000,
  blockShare: 0.5,
  ancestry: [0, 0.15, -0.3],
};

/** Keys of every planted common variant, in the order their blocks are assigned. */
export function plantedVariantKeys(): string[] {
  return [...LDL_VARIANTS.map((v) => v.key), ...PLANTED_BINARY.flatMap((b) => b.variants.map((v) => v.key))];
}
