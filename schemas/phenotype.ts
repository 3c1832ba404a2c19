/**
 * Contracts of the phenotyping area: which phecode map version, the cohort spec, the
 * phenotype spec and the covariate spec. The study spec (`schemas/study.ts`) embeds these.
 * Every object is strict: unknown fields are rejected with a message naming the field.
 */
import { z } from 'zod';

/** Phecode map versions the engine knows: PheWAS catalog 1.2 and phecodeX. */
/**
 * Caps on the lists a spec may hold, so a runaway file (a 10 MB spec with a million covariates)
 * is refused with a named error before any workflow starts.
 */
export const SPEC_LIMITS = {
  covariates: 200,
  genes: 5000,
  masks: 50,
  traits: 99,
  variants: 10_000,
  chromosomes: 100,
  criteria: 100,
  codes: 10_000,
  values: 10_000,
} as const;

/**
 * An array schema with at most `max` items, each unique (by `key`), for lists of names: a
 * repeated gene, mask or covariate is refused naming the duplicate and its position.
 */
export function uniqueList<T extends z.ZodType>(
  item: T,
  max: number,
  what: string,
  key?: (v: z.infer<T>) => unknown,
) {
  return z
    .array(item)
    .max(max, `at most ${max} ${what}`)
    .superRefine((list, ctx) => {
      const seen = new Map<unknown, number>();
      list.forEach((v, i) => {
        const k = key ? key(v) : typeof v === 'object' ? JSON.stringify(v) : v;
        const first = seen.get(k);
        if (first !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `${JSON.stringify(k)} is listed twice (also at ${first}); ${what} must be unique`,
          });
        else seen.set(k, i);
      });
    });
}

export const phecodeVersionSchema = z.enum(['1.2', 'X']);
export type PhecodeVersion = z.infer<typeof phecodeVersionSchema>;

/** ICD vocabularies of the canonical `conditions` table. ICD10 is WHO ICD-10, not ICD-10-CM. */
export const vocabularySchema = z.enum(['ICD9CM', 'ICD10CM', 'ICD10']);
export type Vocabulary = z.infer<typeof vocabularySchema>;

const isoDate = z.iso.date();

/** A closed date window; either end may be left open. */
export const dateWindowSchema = z
  .strictObject({ from: isoDate.optional(), to: isoDate.optional() })
  .refine((w) => !w.from || !w.to || w.from <= w.to, { message: 'window.from must not be after window.to' });
export type DateWindow = z.infer<typeof dateWindowSchema>;

/** A name that will be checked against the real schema before it reaches SQL. */
const identifier = z.string().min(1).max(128);

/** One inclusion or exclusion criterion of a cohort. */
export const cohortCriterionSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('phecode'),
    phecode: z.string().min(1),
    phecodeVersion: phecodeVersionSchema,
    /** Distinct dates with a code mapping to the phecode (after rollup) needed to count. Default 1. */
    minCodeCount: z.int().min(1).default(1),
    window: dateWindowSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('icd'),
    /** Canonical dotted codes; with `prefix` each matches itself and its children (`E11` → `E11.9`). */
    codes: z.array(z.string().min(1)).min(1).max(SPEC_LIMITS.codes, `at most ${SPEC_LIMITS.codes} codes`),
    vocabulary: vocabularySchema.optional(),
    prefix: z.boolean().default(false),
    window: dateWindowSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('measurement'),
    name: z.string().min(1),
    op: z.enum(['<', '<=', '>', '>=', '=', '!=']),
    value: z.number().finite(),
    unit: z.string().optional(),
    window: dateWindowSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('table'),
    /** A user table of the release (`tables/<name>.parquet`): the person must have a row. */
    table: identifier,
    /** Optionally also require this column to be non-NULL, or to equal one of `values`. */
    column: identifier.optional(),
    values: z
      .array(z.union([z.string(), z.number(), z.boolean()]))
      .min(1)
      .max(SPEC_LIMITS.values, `at most ${SPEC_LIMITS.values} values`)
      .optional(),
  }),
]);
export type CohortCriterion = z.infer<typeof cohortCriterionSchema>;

/** Who is in a study. Every clause is optional; an empty cohort spec is every person of the release. */
export const cohortSpecSchema = z
  .strictObject({
    /** Date at which age is computed; default: the latest condition or measurement date in the release. */
    referenceDate: isoDate.optional(),
    /** Inclusive age range in years at the reference date. */
    ageRange: z.tuple([z.number().min(0), z.number().max(150)]).optional(),
    sex: z
      .array(z.enum(['M', 'F', 'U']))
      .min(1)
      .optional(),
    ancestry: z.array(z.string().min(1)).min(1).optional(),
    /** The person must meet every one of these. */
    include: z.array(cohortCriterionSchema).max(SPEC_LIMITS.criteria).default([]),
    /** The person must meet none of these. */
    exclude: z.array(cohortCriterionSchema).max(SPEC_LIMITS.criteria).default([]),
  })
  .refine((c) => !c.ageRange || c.ageRange[0] <= c.ageRange[1], {
    message: 'ageRange must be [min, max] with min <= max',
    path: ['ageRange'],
  });
export type CohortSpec = z.infer<typeof cohortSpecSchema>;

export const aggregateSchema = z.enum(['median', 'mean', 'min', 'max', 'first', 'last']);
export type MeasurementAggregate = z.infer<typeof aggregateSchema>;

/** The phenotype of a study: a phecode, a measurement-derived trait or a user-table column. */
export const phenotypeSpecSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('phecode'),
    phecode: z.string().min(1),
    phecodeVersion: phecodeVersionSchema,
    minCodeCount: z.int().min(1).default(2),
    /** Apply the 1.2 exclusion ranges (default true for 1.2; phecodeX has none). */
    exclusions: z.boolean().optional(),
  }),
  z.strictObject({
    type: z.literal('measurement'),
    name: z.string().min(1),
    aggregate: aggregateSchema.default('median'),
    /** Keep only rows in this unit (case-insensitive); rows in other units are an error unless listed here. */
    unit: z.string().optional(),
    /** Drop per-person values further than this many SDs from the mean (after aggregation). */
    outlierSd: z.number().positive().optional(),
    transform: z.enum(['none', 'rint']).default('none'),
    window: dateWindowSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('column'),
    table: identifier,
    column: identifier,
    trait: z.enum(['binary', 'quantitative']),
    transform: z.enum(['none', 'rint']).default('none'),
  }),
]);
export type PhenotypeSpec = z.infer<typeof phenotypeSpecSchema>;

/** The name a phenotype's results carry (`phenotype` column): `phecode_<code>`, the measurement, or `table.column`. */
export function phenotypeLabel(p: PhenotypeSpec): string {
  return p.type === 'phecode'
    ? `phecode_${p.phecode}`
    : p.type === 'measurement'
      ? p.name
      : `${p.table}.${p.column}`;
}

/**
 * A covariate: a built-in name or `table.column`.
 * Built-ins: `age`, `age2` (age²), `sex`, `ehrLength` (years between first and last record),
 * `nVisits` (distinct dates with any condition or measurement), `PC1`…`PC50`.
 */
export const covariateNameSchema = z
  .string()
  .regex(
    /^(age|age2|sex|ehrLength|nVisits|PC([1-9]|[1-4][0-9]|50)|[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_ -]*)$/,
    {
      message: 'expected age, age2, sex, ehrLength, nVisits, PC1..PC50 or table.column',
    },
  );

export const covariateOptionsSchema = z.strictObject({
  /** Age at the cohort's reference date (default) or at the person's last record. */
  ageAt: z.enum(['reference', 'lastRecord']).default('reference'),
  /** Centre and scale continuous covariates to mean 0, SD 1. */
  standardize: z.boolean().default(true),
  /** Reject a pair of covariates whose |Pearson r| exceeds this (PLINK2 uses 0.999). */
  maxCorrelation: z.number().gt(0).max(1).default(0.999),
  /** Reject a covariate whose variance inflation factor exceeds this (PLINK2 --vif default 50). */
  maxVif: z.number().gt(1).default(50),
});
export type CovariateOptions = z.infer<typeof covariateOptionsSchema>;

export const covariateSpecSchema = uniqueList(covariateNameSchema, SPEC_LIMITS.covariates, 'covariates');
export type CovariateSpec = z.infer<typeof covariateSpecSchema>;

/** What a study stores about the phecode map it used. */
export const phecodeMapInfoSchema = z.strictObject({
  version: phecodeVersionSchema,
  folder: z.string(),
  files: z.array(
    z.strictObject({ name: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/), rows: z.int() }),
  ),
});
export type PhecodeMapInfo = z.infer<typeof phecodeMapInfoSchema>;
