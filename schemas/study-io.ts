/**
 * What study workflows and their activities pass to each other: references (paths, ids,
 * hashes) and counts, never data. Each payload is a zod schema (the TypeScript type is inferred
 * from it); the worker validates every activity's input against `ACTIVITY_INPUTS` before the
 * activity runs (activities/payloads.ts), so a malformed payload fails at once, non-retryably,
 * naming the field. Pure zod, safe in workflow code.
 */
import { z } from 'zod';
import { phecodeVersionSchema } from './phenotype.js';
import { genotypeFirstSpecSchema, phenotypeFirstSpecSchema, studySpecSchema } from './study.js';

const count = () => z.int().min(0);
const path = () => z.string().min(1);

/** A study run: one study spec on one release. */
export const runContextSchema = z.object({
  /** `<studyId>-<16 hex>` from study, release fingerprint and spec hash (engine/results.ts `runIdFor`): a re-run for the same release and spec has the same id. */
  runId: z.string().min(1),
  studyId: z.string().min(1),
  releaseId: z.string().min(1),
  releaseFingerprint: z.string().min(1),
  /** Folder of the ingested release (Parquet tables). */
  releaseDir: path(),
  specHash: z.string().min(1),
  /** Folder for this run's outputs. */
  runDir: path(),
});
export type RunContext = z.infer<typeof runContextSchema>;

/** The per-person analysis table: phenotype, covariates and genotype column index, aligned. */
export const analysisTableSchema = z.object({
  /** Parquet with sample_idx, person_id, y (then y_1, y_2, … for `traits[1…]`), covariate columns. */
  path: path(),
  trait: z.enum(['quantitative', 'binary', 'none']),
  /**
   * Labels of the traits in the table when there are several (the study's `extraTraits`):
   * traits[0] is y, traits[k] is y_k. Absent: one trait, y.
   */
  traits: z.array(z.string()).optional(),
  nSamples: count(),
  nCases: count().optional(),
  nControls: count().optional(),
  covariates: z.array(z.string()),
  /** Covariates dropped as constant or collinear, with the reason. */
  droppedCovariates: z.array(z.object({ name: z.string(), reason: z.string() })),
  /**
   * Whose rows: `gwas-sample` (absent: the same) — persons with the trait, the GWAS table;
   * `cohort` — every cohort person with a genotype sample and every covariate, y NULL where the
   * trait is missing (the PheWAS population of a phenotype-first study, `phewas.population`).
   */
  population: z.enum(['gwas-sample', 'cohort']).optional(),
});
export type AnalysisTable = z.infer<typeof analysisTableSchema>;

/**
 * File names, in a run's folder, of the GWAS analysis table and of the PheWAS population's
 * (`population: 'cohort'`); each has its record (the `AnalysisTable` as JSON) at `<file>.json`.
 */
export const ANALYSIS_FILES = {
  'gwas-sample': 'analysis.parquet',
  cohort: 'analysis-phewas-cohort.parquet',
} as const;

/** A contiguous slice of the genome's variants. */
export const gwasShardSchema = z.object({
  shardId: z.string().min(1),
  /** The shard's chromosome, or `<first>-<last>` when it spans the end of one and the start of the next. */
  chrom: z.string().min(1),
  /** Genotype Parquet file(s) of the release holding these variants. */
  files: z.array(path()),
  firstVariantIdx: count(),
  lastVariantIdx: count(),
  nVariants: count(),
});
export type GwasShard = z.infer<typeof gwasShardSchema>;

export const qcCountsSchema = z.object({
  /** Variants entering the shard. */
  nInput: count(),
  removedMac: count(),
  removedMaf: count(),
  removedMissing: count(),
  removedHwe: count(),
  /** Variants tested after QC. */
  nTested: count(),
});
export type QcCounts = z.infer<typeof qcCountsSchema>;

export const gwasShardResultSchema = z.object({
  shardId: z.string(),
  /** Parquet of this shard's result rows. */
  path: path(),
  sha256: z.string(),
  qc: qcCountsSchema,
  /** Rows with a status other than `ok`. */
  nNotOk: count(),
  /** Smallest p in the shard (for progress display). */
  minP: z.number().nullable(),
});
export type GwasShardResult = z.infer<typeof gwasShardResultSchema>;

export const leadLocusSchema = z.object({
  locusId: z.string(),
  variantIdx: count(),
  chrom: z.string(),
  pos: count(),
  ref: z.string(),
  alt: z.string(),
  p: z.number(),
  beta: z.number().nullable(),
  start: count(),
  end: count(),
  nVariants: count(),
});
export type LeadLocus = z.infer<typeof leadLocusSchema>;

const statusCounts = () => z.record(z.string(), z.number());

export const gwasSummarySchema = z.object({
  /** Glob of the merged result Parquet partitions. */
  resultsGlob: z.string(),
  nTested: count(),
  /**
   * Result rows of the main phenotype by status (`ok`, `collinear`, …; stats/status.ts). Absent
   * in results recorded before this field existed.
   */
  statusCounts: statusCounts().optional(),
  /** λGC of the main phenotype (the first trait). */
  lambdaGc: z.number().nullable(),
  /** With several traits in one pass: λGC and result rows by status per trait label, the main phenotype first. */
  traits: z
    .array(
      z.object({
        phenotype: z.string(),
        lambdaGc: z.number().nullable(),
        statusCounts: statusCounts().optional(),
      }),
    )
    .optional(),
  leadLoci: z.array(leadLocusSchema),
  /** How the lead loci were clumped (absent in results recorded before LD clumping: distance). */
  clumping: z.enum(['ld', 'distance']).optional(),
  /**
   * `relatedness: 'loco'`: the step 1 whose LOCO predictions were the offsets (gwas/step1.ts).
   * Absent: ordinary regression on the covariates.
   */
  step1: z
    .object({
      key: z.string(),
      nVariants: count(),
      nBlocks: count(),
      /**
       * Level 0 as run: REGENIE's per-block ridges, or one whole-genome ridge whose blocks are the
       * chromosomes (`loco.level0`). Absent in results recorded before the choice: blocks.
       */
      level0: z.enum(['blocks', 'genome']).optional(),
      /** Reused from an earlier run (cache hit) rather than computed by this one. */
      cached: z.boolean(),
      /** Level-1 status per trait (`ok`, or why the offset is 0 for it: stats/ridge-level1.ts). */
      statuses: z.array(z.string()).optional(),
    })
    .optional(),
  qc: qcCountsSchema,
});
export type GwasSummary = z.infer<typeof gwasSummarySchema>;

export const phenomeRefSchema = z.object({
  /** Folder of the materialised phenome (phenome.parquet, cohort.parquet, counts.parquet). */
  dir: path(),
  /** Parquet of every phecode of the version: phecode, description, category, sex ('M'|'F'|NULL). */
  phecodesPath: path(),
  phecodeVersion: phecodeVersionSchema,
  nPhecodes: count(),
  /** Map files and their sha256, recorded with the run. */
  maps: z.array(z.object({ name: z.string(), sha256: z.string() })),
});
export type PhenomeRef = z.infer<typeof phenomeRefSchema>;

/**
 * The time-to-event view of a phenome (phenotype/timeline.ts), for `phewas.model: 'cox'`:
 * entry/exit per cohort person and the onsets per person × phecode, with the resolved settings.
 */
export const timelineRefSchema = z.object({
  dir: path(),
  /** timeline.parquet: person_idx, entry, exit (years from the origin; NULL = left out), reason. */
  persons: path(),
  /** onsets.parquet: phecode, person_idx, first_time, event_time. */
  onsets: path(),
  origin: z.enum(['birth', 'enrolment', 'column']),
  cutoff: z.string(),
  ties: z.enum(['efron', 'breslow']),
  nPersons: count(),
  nFollowed: count(),
  leftOut: z.record(z.string(), count()),
  personYears: z.number().min(0),
});
export type TimelineRefPayload = z.infer<typeof timelineRefSchema>;

/** A predictor for PheWAS: a variant's dosage, a burden score, or a person-level column. */
export const phewasPredictorSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('variant'),
    id: z.string().min(1),
    variantIdx: count(),
    chrom: z.string(),
    pos: count(),
    ref: z.string(),
    alt: z.string(),
  }),
  z.object({ type: z.literal('burden'), id: z.string().min(1), path: path(), column: z.string().min(1) }),
  z.object({ type: z.literal('column'), id: z.string().min(1), path: path(), column: z.string().min(1) }),
]);
export type PhewasPredictor = z.infer<typeof phewasPredictorSchema>;

export const phewasResultSchema = z.object({
  predictorId: z.string(),
  path: path(),
  nTested: count(),
  nSignificant: count(),
  top: z.array(
    z.object({
      phecode: z.string(),
      description: z.string(),
      p: z.number(),
      oddsRatio: z.number().nullable(),
      nCases: count(),
    }),
  ),
  /** `cox`: rows in `phewas_cox_results` and `top[].oddsRatio` holds the hazard ratio (absent: logistic). */
  model: z.enum(['logistic', 'cox']).optional(),
  /** The population the predictor was tested in and its size (absent: runs before the option). */
  population: z.object({ kind: analysisTableSchema.shape.population.unwrap(), nSamples: count() }).optional(),
});
export type PhewasResult = z.infer<typeof phewasResultSchema>;

export const burdenPlanSchema = z.object({
  /** Parquet of per-person burden scores, one column per gene × mask × bin. */
  scoresPath: path(),
  masks: z.array(
    z.object({
      gene: z.string(),
      mask: z.string(),
      aafBin: z.string(),
      column: z.string(),
      nVariants: count(),
      nCarriers: count(),
    }),
  ),
});
export type BurdenPlan = z.infer<typeof burdenPlanSchema>;

export type StudyPhase =
  | 'validating'
  | 'planning'
  | 'ingesting'
  | 'ehr'
  | 'finalizing'
  | 'preparing'
  | 'phenotyping'
  | 'gwas'
  | 'merging'
  | 'masks'
  | 'burden'
  | 'phewas'
  | 'reporting'
  | 'recording'
  | 'completed'
  | 'failed'
  | 'cancelled';

/** Answer of the `progress` query. */
export interface StudyProgress {
  runId: string | null;
  phase: StudyPhase;
  shardsDone: number;
  shardsTotal: number;
  phewasDone: number;
  phewasTotal: number;
  currentActivity: string | null;
  message: string | null;
}

/** What a PheWAS meta-analysis of strata or sites wrote (meta/phewas-runs.ts). */
export const metaPhewasSummarySchema = z.object({
  model: z.enum(['logistic', 'cox']),
  nAssociations: count(),
  nMulti: count(),
  nSignificant: count(),
  nHeterogeneous: count(),
});

export const studyResultSchema = z.object({
  runId: z.string(),
  workflowKind: z.enum(['phenotype-first', 'genotype-first']),
  releaseId: z.string(),
  releaseFingerprint: z.string(),
  /** True if this release and spec had already been run and nothing new was written. */
  reused: z.boolean(),
  /** Who was analysed: trait type and counts (person counts; exports suppress 1–20). */
  analysis: z.object({
    trait: analysisTableSchema.shape.trait,
    nSamples: count(),
    nCases: count().optional(),
    nControls: count().optional(),
  }),
  gwas: gwasSummarySchema.optional(),
  phewas: z.array(phewasResultSchema),
  burden: burdenPlanSchema.optional(),
  reportPath: z.string().optional(),
  /** A stratum study skipped by the strata rule (e.g. fewer than 200 cases): why. */
  skipped: z.string().optional(),
  /** A stratified study: its strata (child studies) and the meta-analysis of their GWAS. */
  strata: z
    .array(
      z.object({
        name: z.string(),
        workflowId: z.string(),
        runId: z.string(),
        nSamples: count(),
        nCases: count().optional(),
        nControls: count().optional(),
        lambdaGc: z.number().nullable(),
        nLeadLoci: count(),
        skipped: z.string().nullable(),
        /** Phenotype-first: the stratum's run of the PheWAS of the meta-analysis's lead loci. */
        phewasRunId: z.string().optional(),
      }),
    )
    .optional(),
  meta: z
    .object({
      runId: z.string(),
      nLeadLoci: count(),
      reportPath: z.string().nullable(),
      /** The strata's PheWAS meta-analysed (tables meta_phewas_results / meta_phewas_forest of this run). */
      phewas: metaPhewasSummarySchema.optional(),
    })
    .optional(),
});
export type StudyResult = z.infer<typeof studyResultSchema>;

/** One stratum of a stratified study, as `planStrata` resolves it. */
export const stratumPlanSchema = z.object({
  name: z.string(),
  workflowId: z.string(),
  workflowType: z.enum(['phenotypeFirstStudy', 'genotypeFirstStudy']),
  spec: studySpecSchema,
});
export type StratumPlan = z.infer<typeof stratumPlanSchema>;

const phenotypeFirstGwas = phenotypeFirstSpecSchema.shape.gwas;
const phewasSpec = phenotypeFirstSpecSchema.shape.phewas;
const leadLociSpec = z.object({
  p: z.number(),
  windowKb: z.number(),
  max: count(),
  clump: z.enum(['ld', 'distance']).optional(),
  r2: z.number().optional(),
  p2: z.number().optional(),
});
export type LeadLociSpec = z.infer<typeof leadLociSpec>;

/**
 * The input of every study activity that takes references, by activity name. The worker checks
 * each payload against its schema before the activity runs (activities/payloads.ts).
 */
export const ACTIVITY_INPUTS = {
  prepareRun: z.object({ spec: studySpecSchema, workflowId: z.string().min(1) }),
  materializeAnalysis: z.object({ run: runContextSchema, spec: studySpecSchema }),
  planGwasShards: z.object({
    run: runContextSchema,
    chromosomes: z.array(z.string()).nullable(),
    shardVariants: z.int().min(1),
  }),
  runGwasShard: z.object({
    run: runContextSchema,
    shard: gwasShardSchema,
    analysis: analysisTableSchema,
    gwas: phenotypeFirstGwas,
    batchVariants: z.int().min(1).optional(),
    partVariants: z.int().min(1).optional(),
  }),
  mergeGwas: z.object({
    run: runContextSchema,
    nShards: count(),
    leadLoci: leadLociSpec,
    traits: z.array(z.string()).optional(),
    /** The analysis table: LD clumping computes r² in its samples. Absent: distance clumping. */
    analysis: analysisTableSchema.optional(),
  }),
  materializePhewasPopulation: z.object({ run: runContextSchema, spec: phenotypeFirstSpecSchema }),
  buildRunPhenome: z.object({ run: runContextSchema, analysis: analysisTableSchema, phewas: phewasSpec }),
  runPhewas: z.object({
    run: runContextSchema,
    analysis: analysisTableSchema,
    phenome: phenomeRefSchema,
    phewas: phewasSpec,
    predictor: phewasPredictorSchema,
  }),
  runPhewasMany: z.object({
    run: runContextSchema,
    analysis: analysisTableSchema,
    phenome: phenomeRefSchema,
    phewas: phewasSpec,
    predictors: z.array(phewasPredictorSchema),
  }),
  planStrata: z.object({
    run: runContextSchema,
    spec: studySpecSchema,
    loci: z.array(z.object({ chrom: z.string(), pos: count(), ref: z.string(), alt: z.string() })).optional(),
  }),
  resolveLoci: z.object({
    run: runContextSchema,
    loci: z.array(z.object({ chrom: z.string(), pos: count(), ref: z.string(), alt: z.string() })),
  }),
  metaPhewasStrata: z.object({
    run: runContextSchema,
    strata: z.array(z.object({ name: z.string(), runId: z.string() })),
    model: z.enum(['logistic', 'cox']),
  }),
  exportStrataSumstats: z.object({
    run: runContextSchema,
    spec: studySpecSchema,
    strata: z.array(z.object({ name: z.string(), runId: z.string() })),
  }),
  buildRunTimeline: z.object({
    run: runContextSchema,
    phenome: phenomeRefSchema,
    phewas: phewasSpec,
  }),
  runPhewasCox: z.object({
    run: runContextSchema,
    analysis: analysisTableSchema,
    phenome: phenomeRefSchema,
    timeline: timelineRefSchema,
    phewas: phewasSpec,
    predictor: phewasPredictorSchema,
  }),
  runPhewasCoxMany: z.object({
    run: runContextSchema,
    analysis: analysisTableSchema,
    phenome: phenomeRefSchema,
    timeline: timelineRefSchema,
    phewas: phewasSpec,
    predictors: z.array(phewasPredictorSchema),
  }),
  buildBurden: z.object({
    run: runContextSchema,
    spec: genotypeFirstSpecSchema,
    analysis: analysisTableSchema,
  }),
  runBurdenTests: z.object({
    run: runContextSchema,
    spec: genotypeFirstSpecSchema,
    analysis: analysisTableSchema,
    burden: burdenPlanSchema,
  }),
  recordRun: z.object({
    run: runContextSchema,
    spec: studySpecSchema,
    status: z.literal('completed'),
    result: studyResultSchema,
    workflowId: z.string(),
  }),
  discardRun: z.object({
    run: runContextSchema,
    status: z.enum(['cancelled', 'failed']),
    reason: z.string(),
  }),
  writeReport: z.object({ run: runContextSchema }),
} as const;
