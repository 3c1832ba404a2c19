/**
 * The study spec: one JSON file that works both for
 * `temporal workflow start --type phenotypeFirstStudy --input-file spec.json` and for
 * `biobank study run spec.json`. Every object is strict, so an unknown or misspelt field is
 * rejected before any work, with the field's path in the message.
 *
 * Pure zod, so workflow code validates with it too.
 */
import { z } from 'zod';
import {
  cohortSpecSchema,
  covariateSpecSchema,
  type PhecodeVersion,
  phecodeVersionSchema,
  phenotypeLabel,
  phenotypeSpecSchema,
  SPEC_LIMITS,
  uniqueList,
} from './phenotype.js';

const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1–64 letters, digits, dot, dash or underscore');

/** Variant QC applied before testing; each filter's removals are reported (PLINK2 flag names in brackets). */
export const qcSpecSchema = z.strictObject({
  /** Minimum minor allele count [--mac]; PLINK's docs advise ≥ 20 for regression. */
  minMac: z.number().min(0).default(20),
  /** Minimum minor allele frequency [--maf]. */
  minMaf: z.number().min(0).max(0.5).default(0.01),
  /** Maximum fraction of missing calls per variant [--geno]. */
  maxMissing: z.number().min(0).max(1).default(0.1),
  /** Drop variants with Hardy–Weinberg exact p below this [--hwe]; 0 disables. */
  hweP: z.number().min(0).max(1).default(1e-15),
});

export const gwasSpecSchema = qcSpecSchema.extend({
  /** Missing genotype calls: drop the sample for that variant (PLINK2's rule) or mean-impute. */
  missing: z.enum(['drop', 'mean-impute']).default('drop'),
  /** Binary traits: score test for all, full fit where score p < this. */
  scoreThreshold: z.number().gt(0).max(1).default(0.05),
  /** Binary traits: Firth penalised regression on separation / non-convergence (PLINK2 firth-fallback). */
  firth: z.enum(['fallback', 'always', 'never']).default('fallback'),
  /**
   * Binary traits: saddlepoint-approximated p-values of the score test (Dey et al. 2017, as SAIGE
   * and REGENIE `--spa`) for every tested variant: `auto` when min(cases, controls)/n is below
   * `spaCaseFraction`, `always`, or `never`. β and SE stay those of the Wald/Firth fit where one
   * runs (docs/methods.md). A late default: see LATE_DEFAULTS.
   */
  spa: z.enum(['auto', 'always', 'never']).default('auto'),
  /**
   * `spa: 'auto'` applies SPA when the rarer of cases and controls is less than this fraction of
   * the analysis samples (0.2: case:control worse than 1:4, where the Wald p of a MAF-1 % variant
   * is already ~2× too small at 5e-8; docs/methods.md). A late default: see LATE_DEFAULTS.
   */
  spaCaseFraction: z.number().gt(0).max(0.5).default(0.2),
  /**
   * Relatedness and polygenic structure: `none` (ordinary regression on the covariates) or `loco`
   * (REGENIE-style whole-genome ridge regression, step 1, whose leave-one-chromosome-out
   * prediction of the trait is an offset in every variant's test; docs/methods.md). A late
   * default: see LATE_DEFAULTS.
   */
  relatedness: z.enum(['none', 'loco']).default('none'),
  /** Step 1 of `relatedness: 'loco'` (defaults when absent: see `LOCO_DEFAULTS`). */
  loco: z
    .strictObject({
      /** Step-1 variants per level-0 block (within a chromosome). */
      blockSize: z.int().min(10).max(5000).optional(),
      /** Step-1 variants: minimum minor allele frequency in the analysis sample. */
      minMaf: z.number().min(0).max(0.5).optional(),
      /** Step-1 variants: maximum fraction of missing calls. */
      maxMissing: z.number().min(0).max(1).optional(),
      /** Cross-validation folds of level 0 and level 1. */
      folds: z.int().min(2).max(20).optional(),
      /** At most this many step-1 variants (evenly thinned in genome order beyond it). */
      maxVariants: z.int().min(100).optional(),
      /**
       * Group a step 1's traits by missingness pattern (FinnGen's practice; stats/trait-groups.ts):
       * traits whose observed persons have Jaccard similarity ≥ this share one step 1 fitted on
       * those persons only, e.g. 0.95. 0 (default): one step 1 for all traits over every person,
       * a missing value counting as 0 after residualising (REGENIE's default). Grouping costs about
       * one level 0 per group.
       */
      groupMinJaccard: z.number().min(0).max(1).optional(),
      /**
       * Level 0: `blocks` (REGENIE: one ridge per block of `blockSize` variants, stacked by level
       * 1), `genome` (one out-of-fold ridge on every step-1 variant at once, split by chromosome:
       * closer to a mixed model where relatives are many; its cost grows with persons × variants ×
       * traits; stats/ridge-genome.ts), or `auto` (default): `genome` for a quantitative trait
       * when persons × step-1 variants × traits ≤ 5·10⁷, else `blocks` (binary traits: with
       * relatives the whole genome over-corrects them a little; docs/methods.md).
       */
      level0: z.enum(['auto', 'blocks', 'genome']).optional(),
    })
    .optional(),
  /** Variants per GWAS shard: the genome (or the chosen chromosomes) is cut into runs of about this many variants in genome order. */
  shardVariants: z.int().min(10).default(50_000),
  /** GWAS shards run at once across the worker fleet. */
  maxParallelShards: z.int().min(1).max(256).default(4),
  /** Restrict to these chromosomes (default: all in the release). */
  chromosomes: uniqueList(z.string().min(1), SPEC_LIMITS.chromosomes, 'chromosomes')
    .refine((l) => l.length >= 1, 'list at least one chromosome')
    .optional(),
});

export const leadLociSpecSchema = z.strictObject({
  /** Genome-wide significance threshold for a lead variant. */
  p: z.number().gt(0).max(1).default(5e-8),
  /** Clumping window, ± kb around each lead (LD and distance clumping). */
  windowKb: z.number().min(0).default(500),
  /** At most this many lead loci go on to PheWAS. */
  max: z.int().min(0).max(1000).default(20),
  /**
   * How variants are grouped into loci: `ld` (default; `plink --clump` semantics with r² in the
   * GWAS sample, gwas/ld.ts) or `distance` (every significant variant within the window of a
   * more significant lead). A late default: see LATE_DEFAULTS.
   */
  clump: z.enum(['ld', 'distance']).default('ld'),
  /** LD clumping: a variant joins a lead's locus when its r² with the lead exceeds this (All of Us: 0.1). */
  r2: z.number().gt(0).max(1).default(0.1),
  /** LD clumping: secondary p threshold of a locus member (default: `p`). */
  p2: z.number().gt(0).max(1).optional(),
});

/** A date column of a release table: `persons` or an extra table (`tables/<name>.parquet`). */
export const dateColumnSchema = z.strictObject({
  table: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,62}$/, 'must be a letter then letters, digits or _'),
  column: z.string().min(1),
});

/**
 * How `phewas.model: 'cox'` turns the EHR timeline into time to event (phenotype/timeline.ts).
 * Time is in years (days / 365.25).
 */
export const survivalSpecSchema = z.strictObject({
  /**
   * Time zero. `birth`: age is the time scale, each person enters at their age on the entry
   * date (left truncation). `enrolment`: time since the entry date. A date column: time since
   * that date (persons without one are left out and counted).
   */
  origin: z.union([z.enum(['birth', 'enrolment']), dateColumnSchema]).optional(),
  /** The entry (enrolment) date: a date column; default the person's first dated EHR record. */
  entry: dateColumnSchema.optional(),
  /** Release cut-off: follow-up ends at the earlier of the last EHR record and this date (ISO). */
  cutoff: z.iso.date().optional(),
  /** Tied event times: Efron (default, as R's coxph) or Breslow. */
  ties: z.enum(['efron', 'breslow']).optional(),
});

export const phewasSpecSchema = z
  .strictObject({
    phecodeVersion: phecodeVersionSchema.default('X'),
    /** Folder of the phecode maps (default: `<dataDir>/phecode/<version>`). */
    maps: z.string().min(1).optional(),
    minCases: z.int().min(1).default(20),
    minControls: z.int().min(1).default(20),
    /** Distinct code dates needed to be a case (the rest with ≥ 1 are excluded). */
    minCodeCount: z.int().min(1).default(2),
    /** Apply phecode 1.2 exclusion ranges (ignored for phecodeX, which has none). */
    exclusions: z.boolean().default(true),
    /** Firth regression for low case counts or separation. */
    firth: z.enum(['fallback', 'always', 'never']).default('fallback'),
    /**
     * Many predictors (genotype-first): score test of each predictor against one null fit per
     * phecode, full Wald/Firth fit where the score p < this (default 0.05; 1 = fit every row).
     * A late default: see LATE_DEFAULTS.
     */
    scoreThreshold: z.number().gt(0).max(1).default(0.05),
    /**
     * Many predictors: also refit when the cases or the controls have fewer carriers (predictor ≠ 0)
     * than this. Default 0: the score p alone decides, also for a predictor with no carrier on one
     * side (REGENIE/SAIGE practice); 1 refits every such row (the GWAS zero-count rule; slow for
     * rare burden masks). A late default: see LATE_DEFAULTS.
     */
    scoreMinCarriers: z.int().min(0).default(0),
    /**
     * Who the PheWAS of a phenotype-first study's lead loci is fitted on: `cohort` (default) —
     * every person of the cohort with a genotype sample and every covariate, whether or not the
     * GWAS trait is present — or `gwas-sample`, the GWAS analysis sample (persons with the trait;
     * runs before this option). Genotype-first studies are unaffected: their PheWAS population
     * is their analysis table, which has no trait. A late default: see LATE_DEFAULTS.
     */
    population: z.enum(['cohort', 'gwas-sample']).default('cohort'),
    /**
     * Binary phecodes: saddlepoint-approximated p-values (Dey et al. 2017) for every tested row,
     * `auto` when min(cases, controls)/n is below `spaCaseFraction`, `always` or `never`, as
     * `gwas.spa`. A late default: see LATE_DEFAULTS.
     */
    spa: z.enum(['auto', 'always', 'never']).default('auto'),
    /** `spa: 'auto'` threshold on min(cases, controls)/n. A late default: see LATE_DEFAULTS. */
    spaCaseFraction: z.number().gt(0).max(0.5).default(0.2),
    /**
     * Phenotype-first studies: LOCO offsets (step 1 per phecode) in the PheWAS of lead loci.
     * Default: as `gwas.relatedness`. Genotype-first studies: `none` only, for now.
     */
    relatedness: z.enum(['none', 'loco']).optional(),
    /**
     * The model of every phecode: `logistic` (case/control, default) or `cox` (time to the first
     * qualifying diagnosis from the EHR timeline, prevalent cases excluded; `survival` says how;
     * docs/methods.md). Cox rows go to `phewas_cox_results`. A late default: see LATE_DEFAULTS.
     */
    model: z.enum(['logistic', 'cox']).default('logistic'),
    /** Time-to-event settings of `model: 'cox'` (defaults when absent: see `SURVIVAL_DEFAULTS`). */
    survival: survivalSpecSchema.optional(),
    leadLoci: leadLociSpecSchema.prefault({}),
  })
  .superRefine((p, ctx) => {
    if (p.model === 'cox' && p.relatedness === 'loco')
      ctx.addIssue({
        code: 'custom',
        path: ['relatedness'],
        message: "LOCO offsets are not available in the Cox PheWAS: use 'none' (or model 'logistic')",
      });
    if (p.model !== 'cox' && p.survival !== undefined)
      ctx.addIssue({ code: 'custom', path: ['survival'], message: "applies to model 'cox' only" });
  });

const consequenceSchema = z
  .string()
  .regex(/^[a-z0-9_]+$/, 'must be a Sequence Ontology term, e.g. stop_gained');

/** A burden mask, after REGENIE's `--mask-def` and `--aaf-bins`. */
export const burdenMaskSchema = z.strictObject({
  name: idSchema,
  /** Consequence classes included (union). */
  consequences: z.array(consequenceSchema).min(1),
  /** Missense (or any) variants must also reach this INFO score, e.g. { score: 'revel', min: 0.5 }. */
  score: z.strictObject({ name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), min: z.number() }).optional(),
  /** Upper bounds on alternate-allele frequency; `singleton` means AC = 1. */
  aafBins: z
    .array(z.union([z.number().gt(0).max(0.5), z.literal('singleton')]))
    .min(1)
    .default([0.01, 0.001, 'singleton']),
});

export const PLOF_CONSEQUENCES = [
  'stop_gained',
  'frameshift_variant',
  'splice_acceptor_variant',
  'splice_donor_variant',
  'start_lost',
] as const;

/**
 * A stratified study (issue 15): each stratum runs as its own child study (its own QC, λGC, lead
 * loci, PheWAS), then the strata's GWAS results are meta-analysed (`metaAnalysis`). Strata are
 * the ancestry groups or sexes present in the cohort (`by`), or named cohorts. A binary trait's
 * stratum with fewer than `minCases` cases is skipped and reported (All of Us all-by-all rule:
 * 200); the PheWAS of every stratum tests only phecodes with at least `minCases` cases.
 */
export const strataSpecSchema = z
  .strictObject({
    by: z.enum(['ancestry', 'sex']).optional(),
    cohorts: z
      .array(
        z.strictObject({
          name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/),
          cohort: cohortSpecSchema,
        }),
      )
      .min(2)
      .max(20)
      .optional(),
    minCases: z.int().min(1).default(200),
  })
  .refine((s) => (s.by === undefined) !== (s.cohorts === undefined), {
    message: 'give either "by" or "cohorts"',
  });

/** Set by a stratified study on each of its child studies (not written by users). */
export const stratumOfSchema = z.strictObject({
  /** The stratified study's id and the stratum's name. */
  study: z.string().min(1),
  name: z.string().min(1),
  minCases: z.int().min(1),
  /**
   * The PheWAS round of a phenotype-first stratified study: no GWAS; the PheWAS of these loci
   * (the meta-analysis's lead loci) in this stratum, so every stratum tests the same loci and
   * their PheWAS rows can be meta-analysed.
   */
  loci: z
    .array(
      z.strictObject({
        chrom: z.string().min(1),
        pos: z.int().min(1),
        ref: z.string().min(1),
        alt: z.string().min(1),
      }),
    )
    .min(1)
    .max(200)
    .optional(),
});

const commonFields = {
  studyId: idSchema,
  /** The release, by id, as registered with `biobank release add`. */
  release: z.string().min(1),
  cohort: cohortSpecSchema.prefault({}),
  covariates: covariateSpecSchema.default(['age', 'sex', 'PC1', 'PC2', 'PC3', 'PC4']),
  phewas: phewasSpecSchema.prefault({}),
  /** Run the study per stratum, then meta-analyse (see `strataSpecSchema`). */
  strata: strataSpecSchema.optional(),
  /** Internal: this study is one stratum of a stratified study. */
  stratumOf: stratumOfSchema.optional(),
};

export const phenotypeFirstSpecSchema = z
  .strictObject({
    kind: z.literal('phenotype-first'),
    ...commonFields,
    phenotype: phenotypeSpecSchema,
    /**
     * More quantitative traits tested in the same genotype pass as `phenotype` (one scan of the
     * genotypes for all of them). Every trait is tested on the persons who have all the traits
     * and covariates, i.e. one shared missingness pattern. Their results, λGC and rows in
     * `gwas_phenotypes` are recorded next to the main phenotype's; lead loci and the PheWAS
     * follow the main phenotype.
     */
    extraTraits: uniqueList(phenotypeSpecSchema, SPEC_LIMITS.traits, 'traits', phenotypeLabel).optional(),
    gwas: gwasSpecSchema.prefault({}),
  })
  .superRefine((s, ctx) => {
    // Extra traits share one genotype pass with the main phenotype: each is a new trait. (That
    // each is quantitative is checked on the data: phenotype/analysis.ts.)
    for (const [i, p] of (s.extraTraits ?? []).entries()) {
      if (phenotypeLabel(p) === phenotypeLabel(s.phenotype))
        ctx.addIssue({
          code: 'custom',
          path: ['extraTraits', i],
          message: `${phenotypeLabel(p)} is already tested in this study`,
        });
    }
  });

export const genotypeFirstSpecSchema = z
  .strictObject({
    kind: z.literal('genotype-first'),
    ...commonFields,
    /** Gene symbols whose burden is tested. */
    genes: uniqueList(z.string().min(1), SPEC_LIMITS.genes, 'genes')
      .refine((l) => l.length >= 1, 'list at least one gene')
      .optional(),
    masks: uniqueList(burdenMaskSchema, SPEC_LIMITS.masks, 'mask names', (m) => m.name)
      .refine((l) => l.length >= 1, 'list at least one mask')
      .default([{ name: 'pLoF', consequences: [...PLOF_CONSEQUENCES], aafBins: [0.01, 0.001, 'singleton'] }]),
    /** Or explicit variants, as `chrom:pos:ref:alt`. */
    variants: uniqueList(
      z.string().regex(/^[^:\s]+:\d+:[ACGTN]+:[ACGTN*]+$/i, 'must look like 1:12345:A:G'),
      SPEC_LIMITS.variants,
      'variants',
    )
      .refine((l) => l.length >= 1, 'list at least one variant')
      .optional(),
    /** How a person's variants in a mask combine: carrier (max), count (sum), or sum capped at 2. */
    burden: z.enum(['max', 'sum', 'comphet']).default('max'),
    /** Optional traits for direct burden tests besides the phenome-wide PheWAS. */
    traits: uniqueList(phenotypeSpecSchema, SPEC_LIMITS.traits, 'traits', phenotypeLabel).default([]),
    gwas: qcSpecSchema.pick({ maxMissing: true }).prefault({}),
  })
  .refine((s) => s.genes !== undefined || s.variants !== undefined, {
    message: 'a genotype-first study names genes (with masks) or explicit variants',
    path: ['genes'],
  });

export const studySpecSchema = z.discriminatedUnion('kind', [
  phenotypeFirstSpecSchema,
  genotypeFirstSpecSchema,
]);

export type StudySpec = z.infer<typeof studySpecSchema>;
export type StudySpecInput = z.input<typeof studySpecSchema>;
export type PhenotypeFirstSpec = z.infer<typeof phenotypeFirstSpecSchema>;
export type GenotypeFirstSpec = z.infer<typeof genotypeFirstSpecSchema>;
export type BurdenMask = z.infer<typeof burdenMaskSchema>;

/** The workflow type that runs a spec of this kind. */
export function workflowTypeFor(spec: Pick<StudySpec, 'kind'>): 'phenotypeFirstStudy' | 'genotypeFirstStudy' {
  return spec.kind === 'phenotype-first' ? 'phenotypeFirstStudy' : 'genotypeFirstStudy';
}

/** One line per problem, each naming the field path, e.g. `gwas.minMaf: Too big: expected number to be <=0.5`. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    if (issue.code === 'unrecognized_keys') {
      return `${path === '(root)' ? '' : `${path}.`}${issue.keys.join(', ')}: unknown field${issue.keys.length > 1 ? 's' : ''}`;
    }
    return `${path}: ${issue.message}`;
  });
}

/** Validate a parsed JSON spec. Throws a ZodError; use `describeIssues` for messages. */
export function parseStudySpec(value: unknown): StudySpec {
  return studySpecSchema.parse(value);
}

/** Phecode versions a spec's cohort criteria and phenotype(s) refer to (their maps must be loaded). */
export function phecodeVersionsUsed(spec: StudySpec): Set<PhecodeVersion> {
  const out = new Set<PhecodeVersion>();
  for (const c of [...(spec.cohort.include ?? []), ...(spec.cohort.exclude ?? [])]) {
    if (c.type === 'phecode') out.add(c.phecodeVersion);
  }
  if (spec.kind === 'phenotype-first' && spec.phenotype.type === 'phecode')
    out.add(spec.phenotype.phecodeVersion);
  if (spec.kind === 'genotype-first')
    for (const t of spec.traits) if (t.type === 'phecode') out.add(t.phecodeVersion);
  return out;
}

/**
 * Spec fields whose default was added after studies had already run, with that default. The
 * spec hash (and so the run id) is taken over the parsed spec, defaults included, except that a
 * field listed here is left out while it holds its default: adding a default to the schema
 * never changes an existing study's run id. (A spec that set such a field explicitly to its
 * default before it had one hashes as if it had not set it.)
 */
export const LATE_DEFAULTS: readonly { path: readonly string[]; value: unknown }[] = [
  { path: ['phewas', 'scoreThreshold'], value: 0.05 },
  { path: ['phewas', 'scoreMinCarriers'], value: 0 },
  { path: ['phewas', 'population'], value: 'cohort' },
  { path: ['phewas', 'leadLoci', 'clump'], value: 'ld' },
  { path: ['phewas', 'leadLoci', 'r2'], value: 0.1 },
  { path: ['gwas', 'spa'], value: 'auto' },
  { path: ['gwas', 'spaCaseFraction'], value: 0.2 },
  { path: ['gwas', 'relatedness'], value: 'none' },
  { path: ['phewas', 'spa'], value: 'auto' },
  { path: ['phewas', 'spaCaseFraction'], value: 0.2 },
  { path: ['phewas', 'model'], value: 'logistic' },
];

/** Time-to-event settings of `phewas.model: 'cox'` when the spec leaves them out. */
export const SURVIVAL_DEFAULTS = {
  origin: 'birth',
  ties: 'efron',
} as const;

/** Step-1 settings of `gwas.relatedness: 'loco'` when the spec leaves them out. */
export const LOCO_DEFAULTS = {
  blockSize: 500,
  minMaf: 0.01,
  maxMissing: 0.05,
  folds: 5,
  maxVariants: 500_000,
  groupMinJaccard: 0,
  level0: 'auto',
} as const;

/** `loco.level0: 'auto'` picks the whole-genome level 0 for quantitative traits up to this many persons × step-1 variants × traits. */
export const GENOME_LEVEL0_AUTO_MAX = 5e7;

/** The part of a parsed spec its hash covers: all of it but the release and late defaults at their default. */
export function hashedSpecPart(spec: StudySpec): Record<string, unknown> {
  const { release: _release, ...rest } = structuredClone(spec) as StudySpec & Record<string, unknown>;
  for (const { path, value } of LATE_DEFAULTS) {
    let node = rest as Record<string, unknown>;
    for (const key of path.slice(0, -1)) node = (node?.[key] ?? {}) as Record<string, unknown>;
    const last = path[path.length - 1];
    if (node && node[last] === value) delete node[last];
  }
  return rest;
}
export type SurvivalSpec = z.infer<typeof survivalSpecSchema>;
export type DateColumn = z.infer<typeof dateColumnSchema>;
export type StrataSpec = z.infer<typeof strataSpecSchema>;
