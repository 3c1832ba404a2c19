/**
 * Results database contract: one zod schema per table gives the TypeScript row type, and the
 * DuckDB DDL is derived from the same schemas (`resultsDdl`), so the two cannot drift.
 *
 * Tables in the engine database (`config.database`):
 * - `studies`, `runs`: provenance of every run.
 * - `phewas_results`, `burden_results`, `lead_loci`, `qc_summary`, `gwas_phenotypes`: ordinary
 *   tables, written idempotently per run by `engine/results.ts`.
 * - `gwas_results`: per-variant GWAS results live in Parquet partitions under
 *   `<dataDir>/runs/<run_id>/gwas/phenotype=<p>/chrom=<c>/*.parquet`; the database exposes them
 *   as a VIEW named `gwas_results` (an empty table until the first partition exists).
 *
 * `releases` belongs to the data layer (`schemas/release.ts`); results refer to it by
 * `release_id` and `release_fingerprint` as plain columns.
 *
 * Pure zod, no I/O: workflow code may import it.
 */
import { z } from 'zod';
import {
  bigint,
  bigintOrNull,
  type ColumnInfo,
  col,
  columnDefinitionsOf,
  columnsOfSchema,
  createTableSqlOf,
  int,
  intOrNull,
  json,
  jsonOrNull,
  oneOf,
  oneOfOrNull,
  prob,
  realOrNull,
  text,
  textOrNull,
  timestamp,
  timestampOrNull,
  violationPredicatesOf,
} from './columns.js';

export type { ColumnInfo } from './columns.js';

/**
 * A variant's id in every results table, report and export: `chrom:pos:ref:alt` (the chromosome
 * as the release names it). `variantIdSql` builds the same from columns of that name.
 */
export function variantId(v: { chrom: string; pos: number; ref: string; alt: string }): string {
  return `${v.chrom}:${v.pos}:${v.ref}:${v.alt}`;
}

/** SQL of {@link variantId} over the columns chrom, pos, ref, alt (optionally of a table alias). */
export function variantIdSql(alias?: string): string {
  const c = (name: string) => (alias ? `${alias}.${name}` : name);
  return `${c('chrom')} || ':' || ${c('pos')} || ':' || ${c('ref')} || ':' || ${c('alt')}`;
}

/**
 * The engine's GWAS-SSF export columns, in the standard's order: eight mandatory columns, then
 * the encouraged ones it fills (export/gwas-ssf.ts writes them, ingest/sumstats.ts recognises them).
 */
export const GWAS_SSF_COLUMNS = [
  'chromosome',
  'base_pair_location',
  'effect_allele',
  'other_allele',
  'beta',
  'standard_error',
  'effect_allele_frequency',
  'p_value',
  'variant_id',
  'rsid',
  'n',
  'ref_allele',
] as const;

/** Run ids: `<studyId>-<16 hex>` (see `runIdFor` in engine/results.ts); safe as a folder name. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}-[0-9a-f]{16}$/;
const runId = () => col(z.string().regex(RUN_ID_PATTERN, 'must be <studyId>-<16 hex digits>'), 'VARCHAR');

// --- Enumerations ---

export const STUDY_KINDS = ['phenotype-first', 'genotype-first', 'meta'] as const;
/**
 * A run's state. `terminated` and `timed_out` come from Temporal when a workflow was ended from
 * outside (by hand, or by a Temporal limit): the catalog is reconciled with Temporal
 * (engine/reconcile.ts) so a closed workflow never stays `running`.
 */
export const RUN_STATUSES = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'timed_out',
] as const;
/**
 * Which test produced a GWAS row: linear t test; logistic score, Wald or Firth. A binary trait
 * whose p-values are saddlepoint-approximated (`gwas.spa`; docs/methods.md) has the SPA p and a
 * name saying where β and SE come from: `spa_wald` (the ML logistic fit), `spa_firth` (the Firth
 * fit) or `spa` (no fit, or the fit failed: the score-based β̂ = S/V, SE = |β̂|/z_p).
 */
export const GWAS_TESTS = ['linear', 'score', 'wald', 'firth', 'spa', 'spa_wald', 'spa_firth'] as const;
/**
 * Tests a PheWAS or burden row may come from (NULL when the phecode was not tested). A superset
 * of GWAS_TESTS (test/architecture/contracts.test.ts); PheWAS and burden rows take the `spa`,
 * `spa_wald` and `spa_firth` names under `phewas.spa` too, with the GWAS meanings.
 */
export const ASSOCIATION_TESTS = [
  'linear',
  'score',
  'wald',
  'firth',
  'spa',
  'spa_wald',
  'spa_firth',
] as const;
export const PREDICTOR_TYPES = ['variant', 'burden', 'column'] as const;
export const TRAIT_TYPES = ['quantitative', 'binary'] as const;

// --- Row schemas ---

export const studyRowSchema = z.strictObject({
  study_id: text(),
  kind: oneOf(STUDY_KINDS),
  /** The validated study spec, as canonical JSON. */
  spec_json: json(),
  /** sha256 of `spec_json`. */
  spec_hash: text(),
  created_at: timestamp(),
});

export const runRowSchema = z.strictObject({
  /** Deterministic: `<studyId>-` + sha256(study id, release fingerprint, spec hash)[:16]. */
  run_id: runId(),
  study_id: text(),
  release_id: text(),
  release_fingerprint: text(),
  spec_hash: text(),
  /** `{ "<version>": { "sha256": "…", "files": {…} } }` of the phecode maps used. */
  phecode_maps_json: json(),
  /** package.json version, plus `git describe` when available, e.g. `0.1.0 (b5319ed-dirty)`. */
  software_version: text(),
  status: oneOf(RUN_STATUSES),
  started_at: timestamp(),
  finished_at: timestampOrNull(),
  /** `{ "<phase>": milliseconds }`. */
  timings_json: jsonOrNull(),
  workflow_id: textOrNull(),
  workflow_run_id: textOrNull(),
  /** One line for failed/cancelled runs. */
  error: textOrNull(),
});

export const gwasResultRowSchema = z.strictObject({
  run_id: runId(),
  phenotype: text(),
  chrom: text(),
  pos: bigint(),
  ref: text(),
  alt: text(),
  /** `chrom:pos:ref:alt` as in the release. */
  variant_id: text(),
  rsid: textOrNull(),
  /** Samples with a non-missing call, phenotype and covariates (a person count). */
  n: intOrNull(),
  /** ALT allele frequency in the tested samples. */
  af: prob(),
  /**
   * Effect of one ALT allele: linear β, or log odds ratio for binary traits: the ML (Wald) or
   * Firth estimate, or where no fit ran (`score` rows, `spa` rows without a fit) the one-step
   * score estimate U/V (REGENIE's score-test estimate; docs/methods.md). NULL only when not `ok`.
   */
  beta: realOrNull(),
  /**
   * SE of beta: from the fit; 1/√V for `score` rows; |beta|/z_p for `spa` rows without a fit, so
   * that beta/se reproduces the SPA p's z.
   */
  se: realOrNull(),
  /** t (linear), score χ² signed z, Wald z, Firth z, or (spa) the signed z of the SPA p. */
  stat: realOrNull(),
  /** p of the row's test; for `spa` rows the SPA p also where β and SE come from a fit. */
  p: prob(),
  neg_log10_p: realOrNull(),
  /**
   * `linear`; `score` (score p ≥ `gwas.scoreThreshold`, no fit); `wald`/`firth` (fitted); `spa`
   * (binary trait under `gwas.spa`: SPA p, β/SE from the Wald/Firth fit when one ran, else the
   * score estimates).
   */
  test: oneOf(GWAS_TESTS),
  /** `ok`, `monomorphic`, `all_missing`, `collinear`, `too_few_cases`, `separation`, … */
  status: text(),
});

export const gwasPhenotypeRowSchema = z.strictObject({
  run_id: runId(),
  phenotype: text(),
  trait_type: oneOf(TRAIT_TYPES),
  description: textOrNull(),
  category: textOrNull(),
  n_samples: intOrNull(),
  n_cases: intOrNull(),
  n_controls: intOrNull(),
  lambda_gc: realOrNull(),
});

export const phewasResultRowSchema = z.strictObject({
  run_id: runId(),
  /** Variant id, `gene__mask__aaf_bin` for a burden score (`gene/mask/aaf_bin` from older runs), or `table.column`. */
  predictor: text(),
  predictor_type: oneOf(PREDICTOR_TYPES),
  phecode: text(),
  phecode_version: text(),
  description: textOrNull(),
  category: textOrNull(),
  n_cases: int(),
  n_controls: int(),
  n_excluded: int(),
  /**
   * log odds ratio per unit of the predictor: the ML (Wald) or Firth estimate, or for
   * `test = 'score'` rows (many-predictor PheWAS, score p ≥ the threshold) the one-step score
   * estimate U/V (docs/methods.md).
   */
  beta: realOrNull(),
  /** SE of beta; 1/√V for `score` rows. */
  se: realOrNull(),
  /** exp(beta) and the Wald 95% CI exp(beta ± 1.96·se), also for `score` rows. */
  odds_ratio: realOrNull(),
  ci_low: realOrNull(),
  ci_high: realOrNull(),
  /** Wald, Firth or (for `score` rows) score-test p-value. */
  p: prob(),
  neg_log10_p: realOrNull(),
  /** `wald`, `firth`, or `score` (many-predictor PheWAS: score p ≥ `scoreThreshold`, not refitted). */
  test: oneOfOrNull(ASSOCIATION_TESTS),
  /** `ok`, `too_few_cases`, `too_few_controls`, `separation`, `not_converged`, … */
  status: text(),
  reason: textOrNull(),
});

/** Time scale of a Cox PheWAS: age (origin birth), time since enrolment, or since a date column. */
export const COX_TIME_SCALES = ['age', 'enrolment', 'column'] as const;
/** `cox`: ML fit, Wald p; `cox_firth`: Firth-penalised fit, Wald p; `cox_score`: score test only. */
export const COX_TESTS = ['cox', 'cox_firth', 'cox_score'] as const;
export const COX_STATUSES = [
  'ok',
  'too_few_events',
  'too_few_controls',
  'monomorphic',
  'collinear',
  'monotone_likelihood',
  'not_converged',
] as const;

/** Time-to-event PheWAS rows (`phewas.model: "cox"`; phewas/cox.ts, docs/methods.md). */
export const phewasCoxResultRowSchema = z.strictObject({
  run_id: runId(),
  /** As in `phewas_results`. */
  predictor: text(),
  predictor_type: oneOf(PREDICTOR_TYPES),
  phecode: text(),
  phecode_version: text(),
  description: textOrNull(),
  category: textOrNull(),
  /** `age` (origin birth, left truncation at entry), `enrolment`, or `column` (a date column). */
  time_scale: oneOf(COX_TIME_SCALES),
  /** Incident cases with their event inside follow-up. */
  n_events: int(),
  /** Controls and cases diagnosed after their exit, censored at exit. */
  n_censored: int(),
  /** Cases whose first code is at or before entry (left out). */
  n_prevalent: int(),
  /** Phenome exclusions and persons left out (no follow-up, no predictor value). */
  n_excluded: int(),
  /** Persons in the model: n_events + n_censored. */
  n_at_risk: int(),
  /** Σ (stop − start) over the persons in the model, in years. */
  person_years: col(z.number().min(0), 'DOUBLE'),
  /** log hazard ratio per unit of the predictor (ML, Firth, or the score estimate U/V). */
  beta: realOrNull(),
  /** SE of beta; 1/√V for `cox_score` rows. */
  se: realOrNull(),
  /** exp(beta) and the Wald 95% CI exp(beta ± 1.96·se). */
  hazard_ratio: realOrNull(),
  ci_low: realOrNull(),
  ci_high: realOrNull(),
  /** p of `test`. */
  p: prob(),
  neg_log10_p: realOrNull(),
  /** Wald p of the fit (NULL for `cox_score` rows). */
  p_wald: prob(),
  /** Score-test p of beta = 0 against the covariates-only fit. */
  p_score: prob(),
  test: oneOfOrNull(COX_TESTS),
  /** Proportional-hazards check (cox.zph) of the predictor and of the model, for ML rows with p < 0.05. */
  zph_p: prob(),
  zph_global_p: prob(),
  status: oneOf(COX_STATUSES),
  reason: textOrNull(),
});

/**
 * Kaplan–Meier curves (carriers vs non-carriers) of the top Cox PheWAS associations (phewas/km.ts):
 * one row per group × distinct event/censoring time, exact (local database; the report and the
 * viewer show them coarsened, engine/privacy.ts `coarsenKmCurve`).
 */
export const phewasCoxKmRowSchema = z.strictObject({
  run_id: runId(),
  predictor: text(),
  phecode: text(),
  group: oneOf(['carrier', 'non_carrier'] as const),
  time: col(z.number(), 'DOUBLE'),
  n_at_risk: int(),
  n_events: int(),
  n_censored: int(),
  survival: col(z.number().min(0).max(1), 'DOUBLE'),
  ci_low: realOrNull(),
  ci_high: realOrNull(),
});

export const burdenResultRowSchema = z.strictObject({
  run_id: runId(),
  gene: text(),
  mask: text(),
  /** AAF bin upper bound as written in the spec (`0.01`, `0.001`, `singleton`). */
  aaf_bin: text(),
  n_variants: int(),
  /** Persons carrying at least one qualifying allele (a person count). */
  n_carriers: int(),
  phenotype: text(),
  beta: realOrNull(),
  se: realOrNull(),
  p: prob(),
  test: oneOfOrNull(ASSOCIATION_TESTS),
  status: text(),
});

export const leadLocusRowSchema = z.strictObject({
  run_id: runId(),
  phenotype: text(),
  /** 1-based rank of the locus within its phenotype, by p. */
  locus_id: int(),
  chrom: text(),
  pos: bigint(),
  ref: text(),
  alt: text(),
  variant_id: text(),
  p: col(z.number().min(0).max(1), 'DOUBLE'),
  beta: realOrNull(),
  start: bigint(),
  end: bigint(),
  n_variants_in_locus: int(),
});

export const qcSummaryRowSchema = z.strictObject({
  run_id: runId(),
  /** `variant_qc`, `cohort`, `phenotype`, … */
  step: text(),
  /** `min_mac`, `min_maf`, `max_missing`, `hwe_p`, … */
  filter: text(),
  threshold: realOrNull(),
  n_before: bigint(),
  n_removed: bigint(),
  n_after: bigint(),
});

/** Per-variant meta-analysis status (stats/meta.ts META_STATUS). */
export const META_RESULT_STATUSES = ['ok', 'single_input', 'no_inputs'] as const;

/**
 * One row per variant of a meta-analysis (meta/run.ts; formulas in stats/meta.ts). β is per copy
 * of `effect_allele`; NULL statistics only where `status` is `no_inputs` (every input dropped)
 * or the method was not requested. Stored as Parquet like `gwas_results`.
 */
export const metaResultRowSchema = z.strictObject({
  run_id: runId(),
  chrom: text(),
  pos: bigint(),
  effect_allele: text(),
  other_allele: text(),
  /** Inputs that contributed. */
  k: int(),
  /** METAL's direction string, one character per input in spec order (`+`, `-`, `0`, `?`). */
  direction: text(),
  /** Fixed-effect inverse-variance β, SE, z, p, −log10 p. */
  beta: realOrNull(),
  se: realOrNull(),
  z: realOrNull(),
  p: prob(),
  neg_log10_p: realOrNull(),
  /** Sample-size-weighted z and its p (NULL when an input has no n). */
  z_n: realOrNull(),
  p_n: prob(),
  /** DerSimonian–Laird random effects. */
  beta_random: realOrNull(),
  se_random: realOrNull(),
  p_random: prob(),
  tau2: realOrNull(),
  /** Cochran's Q, its p (k − 1 df; NULL for k = 1) and I² in percent. */
  q: realOrNull(),
  q_p: prob(),
  i2: realOrNull(),
  /** Σ n over the contributing inputs (NULL when one lacks n). */
  n: realOrNull(),
  status: oneOf(META_RESULT_STATUSES),
});

/** The inputs of a meta-analysis run with their provenance, as given and as read. */
export const metaInputRowSchema = z.strictObject({
  run_id: runId(),
  /** 0-based position in the spec (the direction string's order). */
  input_index: int(),
  label: text(),
  format: text(),
  path: text(),
  sha256: text(),
  rows_read: bigint(),
  rows_kept: bigint(),
  /** `{ "not_additive_test": …, "tool_error": …, "missing_estimate": …, "strand_ambiguous": …, "allele_mismatch": … }`. */
  dropped_json: json(),
  /** As given by the sender (spec, else the file's metadata). */
  n: bigintOrNull(),
  n_cases: bigintOrNull(),
  n_controls: bigintOrNull(),
  ancestry: textOrNull(),
  /** λGC of the input's own p-values. */
  lambda_gc: realOrNull(),
});

/** Leave-one-out status (stats/meta.ts LOO_STATUS). */
export const META_LOO_STATUSES = ['ok', 'absent', 'none_left', 'single_left'] as const;

/** The fixed-effect meta-analysis without one input, for lead loci (or every variant). */
export const metaLeaveOneOutRowSchema = z.strictObject({
  run_id: runId(),
  chrom: text(),
  pos: bigint(),
  effect_allele: text(),
  other_allele: text(),
  /** The input left out. */
  left_out: text(),
  beta: realOrNull(),
  se: realOrNull(),
  p: prob(),
  q_p: prob(),
  i2: realOrNull(),
  status: oneOf(META_LOO_STATUSES),
});

/** Per lead locus and input: the aligned β and SE a forest plot draws. */
export const metaForestRowSchema = z.strictObject({
  run_id: runId(),
  chrom: text(),
  pos: bigint(),
  effect_allele: text(),
  other_allele: text(),
  label: text(),
  /** β for `effect_allele` after alignment; NULL where the input lacks the variant or it was dropped. */
  beta: realOrNull(),
  se: realOrNull(),
  /** stats/meta.ts ALIGN action: `reference`, `same`, `swapped`, `strand`, … `absent`. */
  aligned: text(),
});

/**
 * Per input, its own lead loci (its own p below the lead-loci p, distance-clumped as the pooled
 * lead loci are: meta/loci.ts), with the pooled meta-analysis at the same variant.
 */
export const metaInputLocusRowSchema = z.strictObject({
  run_id: runId(),
  /** The input whose own lead the variant is. */
  label: text(),
  chrom: text(),
  pos: bigint(),
  /** As in `meta_results` (the reference input's orientation). */
  effect_allele: text(),
  other_allele: text(),
  /** The input's β for `effect_allele` after alignment; NULL where alignment dropped its entry. */
  beta: realOrNull(),
  se: realOrNull(),
  /** The input's own p, as its file gave it. */
  p: col(z.number().min(0).max(1), 'DOUBLE'),
  /** The pooled fixed-effect β, p, contributing inputs, Cochran's Q p, I² and direction there. */
  meta_beta: realOrNull(),
  meta_p: prob(),
  meta_k: int(),
  q_p: prob(),
  i2: realOrNull(),
  direction: text(),
  /** Inputs whose own p at this variant is below the lead-loci p (this one included). */
  n_inputs_significant: int(),
  /** Whether the pooled fixed-effect p is below the lead-loci p. */
  pooled_significant: col(z.boolean(), 'BOOLEAN'),
});

/** Models whose PheWAS rows a PheWAS meta-analysis combines: `phewas_results` or `phewas_cox_results`. */
export const META_PHEWAS_MODELS = ['logistic', 'cox'] as const;

/**
 * One predictor × phecode of a PheWAS (or burden PheWAS) meta-analysis across strata or sites
 * (meta/phewas.ts): fixed effect, DerSimonian–Laird, Cochran's Q and I² of the inputs' β and SE.
 */
export const metaPhewasResultRowSchema = z.strictObject({
  run_id: runId(),
  /** `logistic` (β = log odds ratio) or `cox` (β = log hazard ratio). */
  model: oneOf(META_PHEWAS_MODELS),
  /** As in `phewas_results`; a variant is named with the first contributing input's alleles. */
  predictor: text(),
  predictor_type: oneOf(PREDICTOR_TYPES),
  phecode: text(),
  description: textOrNull(),
  category: textOrNull(),
  /** Inputs that contributed (a usable β and SE). */
  k: int(),
  /** METAL's direction string, one character per input in input order (`?`: absent or not tested). */
  direction: text(),
  /** Σ cases (Cox: events) and Σ controls (Cox: at risk − events) of the contributing inputs; NULL when one is unknown. */
  n_cases: intOrNull(),
  n_controls: intOrNull(),
  /** Fixed-effect inverse-variance β, SE, z, p. */
  beta: realOrNull(),
  se: realOrNull(),
  z: realOrNull(),
  p: prob(),
  neg_log10_p: realOrNull(),
  /** DerSimonian–Laird random effects. */
  beta_random: realOrNull(),
  se_random: realOrNull(),
  p_random: prob(),
  tau2: realOrNull(),
  /** Cochran's Q, its p (k − 1 df; NULL for k = 1) and I² in percent. */
  q: realOrNull(),
  q_p: prob(),
  i2: realOrNull(),
  status: oneOf(META_RESULT_STATUSES),
});

/** Per PheWAS meta association and input: the input's own (aligned) row, for forest plots. */
export const metaPhewasForestRowSchema = z.strictObject({
  run_id: runId(),
  model: oneOf(META_PHEWAS_MODELS),
  /** The association's predictor as in `meta_phewas_results`. */
  predictor: text(),
  phecode: text(),
  label: text(),
  /** β after alignment (negated where the input's alleles are swapped); NULL: absent or not tested. */
  beta: realOrNull(),
  se: realOrNull(),
  p: prob(),
  /** Cases (Cox: events) and controls of the input's row (NULL: absent, or suppressed by the sender). */
  n_cases: intOrNull(),
  n_controls: intOrNull(),
  /** The input's `test` (`wald`, `firth`, `score`, `spa`, `cox`, …; NULL when absent). */
  test: textOrNull(),
  /** `reference`, `same`, `swapped`, `not_tested` (present without a usable β and SE) or `absent`. */
  aligned: text(),
});

export type StudyRow = z.infer<typeof studyRowSchema>;
export type RunRow = z.infer<typeof runRowSchema>;
export type GwasResultRow = z.infer<typeof gwasResultRowSchema>;
export type GwasPhenotypeRow = z.infer<typeof gwasPhenotypeRowSchema>;
export type PhewasResultRow = z.infer<typeof phewasResultRowSchema>;
export type PhewasCoxResultRow = z.infer<typeof phewasCoxResultRowSchema>;
export type BurdenResultRow = z.infer<typeof burdenResultRowSchema>;
export type LeadLocusRow = z.infer<typeof leadLocusRowSchema>;
export type QcSummaryRow = z.infer<typeof qcSummaryRowSchema>;
export type MetaResultRow = z.infer<typeof metaResultRowSchema>;
export type MetaInputRow = z.infer<typeof metaInputRowSchema>;
export type MetaLeaveOneOutRow = z.infer<typeof metaLeaveOneOutRowSchema>;
export type MetaForestRow = z.infer<typeof metaForestRowSchema>;
export type MetaInputLocusRow = z.infer<typeof metaInputLocusRowSchema>;
export type MetaPhewasResultRow = z.infer<typeof metaPhewasResultRowSchema>;
export type MetaPhewasForestRow = z.infer<typeof metaPhewasForestRowSchema>;

/**
 * Per-run result tables and their row schemas. `gwas_results` and `meta_results` are stored as
 * Parquet (PARQUET_RESULT_TABLES).
 */
export const RESULT_TABLES = {
  gwas_results: gwasResultRowSchema,
  gwas_phenotypes: gwasPhenotypeRowSchema,
  phewas_results: phewasResultRowSchema,
  phewas_cox_results: phewasCoxResultRowSchema,
  phewas_cox_km: phewasCoxKmRowSchema,
  burden_results: burdenResultRowSchema,
  lead_loci: leadLocusRowSchema,
  qc_summary: qcSummaryRowSchema,
  meta_results: metaResultRowSchema,
  meta_inputs: metaInputRowSchema,
  meta_leave_one_out: metaLeaveOneOutRowSchema,
  meta_forest: metaForestRowSchema,
  meta_input_loci: metaInputLocusRowSchema,
  meta_phewas_results: metaPhewasResultRowSchema,
  meta_phewas_forest: metaPhewasForestRowSchema,
} as const;
export type ResultTable = keyof typeof RESULT_TABLES;

/**
 * Result tables stored as Parquet under `<dataDir>/runs/<run_id>/<area>/<partitions…>/*.parquet`
 * (recorded in `run_files`) and exposed as a VIEW over the recorded files.
 */
export const PARQUET_RESULT_TABLES = {
  gwas_results: { area: 'gwas', partitions: ['phenotype', 'chrom'] },
  meta_results: { area: 'meta', partitions: ['chrom'] },
} as const;
export type ParquetResultTable = keyof typeof PARQUET_RESULT_TABLES;
export function isParquetResultTable(table: string): table is ParquetResultTable {
  return table in PARQUET_RESULT_TABLES;
}
export type ResultRow<T extends ResultTable> = z.infer<(typeof RESULT_TABLES)[T]>;
export const RESULT_TABLE_NAMES = Object.keys(RESULT_TABLES) as ResultTable[];

/** Every table of this contract with its schema (catalog tables first). */
export const TABLE_SCHEMAS = {
  studies: studyRowSchema,
  runs: runRowSchema,
  ...RESULT_TABLES,
} as const;
export type TableName = keyof typeof TABLE_SCHEMAS;

/** Primary keys; the per-run tables have none (they are replaced per run). */
const PRIMARY_KEYS: Partial<Record<TableName, string[]>> = {
  studies: ['study_id'],
  runs: ['run_id'],
};

// --- Derived column metadata and DDL (schemas/columns.ts) ---

/** Columns of a table, in order, as the DDL declares them. */
export function columnsOf(table: TableName): ColumnInfo[] {
  return columnsOfSchema(table, TABLE_SCHEMAS[table]);
}

/** SQL column definitions of a table (name, type, NOT NULL, CHECK on enumerations). */
export function columnDefinitions(table: TableName): string {
  return columnDefinitionsOf(table, TABLE_SCHEMAS[table], PRIMARY_KEYS[table]);
}

/** `CREATE TABLE IF NOT EXISTS` for one table. */
export function createTableSql(table: TableName): string {
  return createTableSqlOf(table, TABLE_SCHEMAS[table], PRIMARY_KEYS[table]);
}

/**
 * A predicate that is true for a row breaking the contract (NULL in a NOT NULL column, a value
 * outside an enumeration, a negative count, p outside [0, 1]). Used to check Parquet inputs that
 * bypass the table constraints.
 */
export function violationPredicates(table: TableName): { column: string; predicate: string }[] {
  return violationPredicatesOf(table, TABLE_SCHEMAS[table]);
}
