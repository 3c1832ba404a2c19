/**
 * The meta-analysis spec (`biobank meta run spec.json`, workflow `metaAnalysis`) and the
 * payloads its workflow and activities exchange. A meta-analysis combines k summary-statistics
 * tables, each with a label (a site or a stratum); nothing else is needed, so stratified studies
 * can hand their strata's results to the same core.
 *
 * ```json
 * { "metaId": "ldl-meta",
 *   "inputs": [ { "path": "siteA.tsv.gz", "label": "site A", "nCases": 1200, "nControls": 5400 },
 *               { "path": "siteB.glm.linear", "label": "site B", "format": "plink2" } ],
 *   "leadLoci": { "p": 5e-8, "windowKb": 500 }, "leaveOneOut": "lead" }
 * ```
 *
 * `kind: "phewas"` meta-analyses PheWAS or burden-PheWAS results instead (predictor × phecode
 * rows; meta/phewas.ts), read from this engine's `biobank export phewas` (`biobank-phewas`), the
 * PheWAS R package's `phewas()` result written with `write.csv` (`phewas-r`) or PheTK's results
 * file (`phetk`, which has no predictor column: the input's `predictor` names it). `model` says
 * whether β is a log odds ratio (`logistic`) or a log hazard ratio (`cox`). The GWAS-only fields
 * (`alignment`, `leadLoci`, `leaveOneOut`, `methods`, `trait`) are accepted and unused there.
 *
 * Paths are absolute or relative to `baseDir`, which the CLI sets to the spec file's folder
 * (a spec started with `temporal workflow start --input-file` resolves them against the worker's
 * working folder unless it gives `baseDir` or absolute paths).
 *
 * Pure zod, no I/O: workflow code imports it.
 */
import { z } from 'zod';
import { META_PHEWAS_MODELS, PREDICTOR_TYPES } from './results.js';

/** Formats ingest/sumstats.ts reads (kept equal to its `SUMSTATS_FORMATS`; a test checks it). */
export const META_INPUT_FORMATS = ['biobank-engine', 'gwas-ssf', 'plink2', 'regenie'] as const;
/** Meta-analysis methods: fixed-effect IVW, sample-size-weighted z, DerSimonian–Laird. */
export const META_METHODS = ['fixed', 'sample-size', 'random'] as const;
export const LEAVE_ONE_OUT_MODES = ['lead', 'all', 'none'] as const;
/** What a meta-analysis combines: GWAS summary statistics or PheWAS / burden-PheWAS rows. */
export const META_KINDS = ['gwas', 'phewas'] as const;
/** PheWAS result formats meta/phewas-inputs.ts reads. */
export const META_PHEWAS_INPUT_FORMATS = ['biobank-phewas', 'phewas-r', 'phetk'] as const;
/** What a PheWAS β is: a log odds ratio or a log hazard ratio. */
export const META_PHEWAS_INPUT_MODELS = META_PHEWAS_MODELS;

const count = () => z.int().min(0);

export const metaInputSpecSchema = z.strictObject({
  /** The summary-statistics file (gzipped or not). */
  path: z.string().min(1),
  /** Site or stratum name, shown in the direction string's order, the report and the tables. */
  label: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[^\n\r\t]+$/, 'one line of text'),
  /** Force a format instead of detecting it from the header (GWAS or PheWAS formats, by `kind`). */
  format: z.enum([...META_INPUT_FORMATS, ...META_PHEWAS_INPUT_FORMATS]).optional(),
  /**
   * PheWAS inputs without a predictor column (PheTK): the predictor's name, as the other inputs
   * name it (`chrom:pos:a1:a2` for a variant, `gene__mask__aaf_bin` for a burden score).
   */
  predictor: z.string().min(1).max(256).optional(),
  /** Its type (default: `variant` when the name looks like `chrom:pos:a1:a2`, else `column`). */
  predictorType: z.enum(PREDICTOR_TYPES).optional(),
  /** Sample size, cases and controls as the sender gives them (override the file's metadata). */
  n: z.int().min(1).optional(),
  nCases: count().optional(),
  nControls: count().optional(),
  ancestry: z.string().min(1).max(64).optional(),
});

export const metaSpecSchema = z
  .strictObject({
    metaId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-", at most 64'),
    /** `gwas` (default): summary statistics per variant; `phewas`: predictor × phecode rows. */
    kind: z.enum(META_KINDS).default('gwas'),
    /** `kind: "phewas"` only: β is a log odds ratio (`logistic`, default) or a log hazard ratio (`cox`). */
    model: z.enum(META_PHEWAS_INPUT_MODELS).default('logistic'),
    /** Folder that relative input paths are resolved against (the CLI: the spec file's folder). */
    baseDir: z.string().min(1).optional(),
    inputs: z.array(metaInputSpecSchema).min(2, 'a meta-analysis needs at least two inputs').max(200),
    /** Trait label (lead loci are recorded under it). */
    trait: z.string().min(1).max(128).default('trait'),
    /** Methods reported; `fixed` is required (lead loci and −log10 p use it). */
    methods: z
      .array(z.enum(META_METHODS))
      .min(1)
      .default([...META_METHODS])
      .refine((m) => m.includes('fixed'), 'must include "fixed"'),
    alignment: z
      .strictObject({
        /**
         * Strand-ambiguous SNPs (A/T, C/G) whose effect allele frequency lies within
         * (ambiguousMaf, 1 − ambiguousMaf), or is missing, are dropped.
         */
        ambiguousMaf: z.number().min(0).max(0.5).default(0.4),
        /**
         * Infer an A/T or C/G SNP's strand from which side of 0.5 its allele frequency is on
         * (default false: inputs are on the forward strand, and frequencies differ between
         * ancestries; stats/meta.ts).
         */
        inferStrand: z.boolean().default(false),
      })
      .default({ ambiguousMaf: 0.4, inferStrand: false }),
    leadLoci: z
      .strictObject({
        p: z.number().gt(0).max(1).default(5e-8),
        windowKb: z.number().min(0).default(500),
      })
      .default({ p: 5e-8, windowKb: 500 }),
    /** Leave-one-out rows: for lead loci only (default), every variant, or none. */
    leaveOneOut: z.enum(LEAVE_ONE_OUT_MODES).default('lead'),
  })
  .superRefine((spec, ctx) => {
    const seen = new Set<string>();
    spec.inputs.forEach((input, i) => {
      if (seen.has(input.label))
        ctx.addIssue({
          code: 'custom',
          path: ['inputs', i, 'label'],
          message: `label ${JSON.stringify(input.label)} is used twice`,
        });
      seen.add(input.label);
      const phewasFormat = (META_PHEWAS_INPUT_FORMATS as readonly string[]).includes(input.format ?? '');
      if (input.format !== undefined && phewasFormat !== (spec.kind === 'phewas'))
        ctx.addIssue({
          code: 'custom',
          path: ['inputs', i, 'format'],
          message: `format ${JSON.stringify(input.format)} is not one of kind ${spec.kind}'s: ${(spec.kind === 'phewas' ? META_PHEWAS_INPUT_FORMATS : META_INPUT_FORMATS).join(', ')}`,
        });
      if (spec.kind === 'gwas' && (input.predictor !== undefined || input.predictorType !== undefined))
        ctx.addIssue({
          code: 'custom',
          path: ['inputs', i, input.predictor !== undefined ? 'predictor' : 'predictorType'],
          message: 'only PheWAS inputs (kind "phewas") name a predictor',
        });
    });
    if (spec.kind === 'gwas' && spec.model !== 'logistic')
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'model is for kind "phewas" only' });
  });

export type MetaSpec = z.infer<typeof metaSpecSchema>;
export type MetaSpecInput = z.input<typeof metaSpecSchema>;
export type MetaInputSpec = z.infer<typeof metaInputSpecSchema>;

/** One line per problem of a spec that does not parse. */
export function describeMetaIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${issue.keys.join(', ')}`;
    return `${path}: ${issue.message}`;
  });
}

// --- Payloads between the workflow and its activities ---

/**
 * A meta run's identity and folder. The release fields keep the shape of a study run's context
 * (a meta run has no release: `releaseId` is `summary-statistics`, the fingerprint is the
 * sha256 of the inputs' hashes), so the run bookkeeping is shared.
 */
export interface MetaRunContext {
  runId: string;
  studyId: string;
  releaseId: string;
  releaseFingerprint: string;
  releaseDir: string;
  specHash: string;
  runDir: string;
}

/** Dropped-row counts of one input: the reader's (tests, tool errors) and the alignment's. */
export type MetaDropCounts = Record<string, number>;

/** One input after reading: where its normalised table lies and what was read. */
export interface MetaInputRef {
  index: number;
  label: string;
  format: string;
  /** The file as given (absolute). */
  path: string;
  sha256: string;
  /** Normalised rows (ingest/sumstats.ts columns), content-addressed by the input's sha256. */
  parquet: string;
  rowsRead: number;
  rowsKept: number;
  dropped: MetaDropCounts;
  n: number | null;
  nCases: number | null;
  nControls: number | null;
  ancestry: string | null;
  /** λGC of the input's own p-values. */
  lambdaGc: number | null;
}

export interface MetaAnalysisSummary {
  /** Variants in the union of the inputs. */
  nVariants: number;
  /** Variants with at least one usable input. */
  nAnalysed: number;
  /** Variants per number of contributing inputs: `byK[k]`. */
  byK: number[];
  /** Alignment drops per input (index order). */
  alignDropped: { strand_ambiguous: number; allele_mismatch: number }[];
  /** The per-chromosome parts written (Parquet, meta_results columns). */
  parts: string[];
  lambdaGc: number | null;
  nSignificant: number;
}

export interface MetaLeadLocus {
  chrom: string;
  pos: number;
  effectAllele: string;
  otherAllele: string;
  beta: number;
  se: number;
  p: number;
  negLog10P: number;
  k: number;
  direction: string;
  qP: number | null;
  i2: number | null;
  start: number;
  end: number;
  nVariants: number;
}

/** What a PheWAS meta-analysis wrote (meta/phewas-runs.ts `MetaPhewasSummary`). */
export interface MetaPhewasResultSummary {
  model: (typeof META_PHEWAS_INPUT_MODELS)[number];
  nAssociations: number;
  nMulti: number;
  nSignificant: number;
  nHeterogeneous: number;
}

export interface MetaResult {
  runId: string;
  metaId: string;
  reused: boolean;
  /** `kind: "phewas"` runs: the PheWAS meta-analysis (then nVariants and nAnalysed are 0, no lead loci). */
  phewas?: MetaPhewasResultSummary;
  inputs: { label: string; format: string; rowsKept: number; lambdaGc: number | null }[];
  nVariants: number;
  nAnalysed: number;
  lambdaGc: number | null;
  leadLoci: MetaLeadLocus[];
  reportPath?: string;
}

export const META_PHASES = [
  'validating',
  'reading',
  'analysing',
  'lead-loci',
  'recording',
  'reporting',
  'completed',
  'failed',
  'cancelled',
] as const;

export interface MetaProgress {
  runId: string | null;
  phase: (typeof META_PHASES)[number];
  currentActivity: string | null;
  message: string | null;
}
