/**
 * Contracts of the engine database's catalog and bookkeeping tables, beside the results tables
 * of schemas/results.ts: one zod row schema per table, the DDL derived from it
 * (schemas/columns.ts), and the code that writes each table names its columns from here.
 *
 * - `releases`: one row per registered release (engine/release.ts, ingest/release.ts).
 * - `variants`: the queryable core of every release's variants.parquet.
 * - `run_files`: every result file a run recorded, with size and sha256 (engine/run-files.ts).
 * - `phenome_counts`: cases / controls / excluded per phecode of a release (phenotype/build.ts).
 * - `run_comparisons`: a study's new run against its previous one (study/refresh.ts).
 * - `selftest_runs`: the self-test workflow's record (activities/selftest.ts).
 *
 * Pure zod, no I/O.
 */
import { z } from 'zod';
import { bigint, bigintOrNull, col, createTableSqlOf, int, realOrNull, text, textOrNull } from './columns.js';

export const releaseRowSchema = z.strictObject({
  release_id: text(),
  fingerprint: text(),
  manifest_path: text(),
  data_path: text(),
  n_samples: bigintOrNull(),
  n_variants: bigintOrNull(),
  n_persons: bigintOrNull(),
  n_conditions: bigintOrNull(),
  n_measurements: bigintOrNull(),
  n_rejects: bigintOrNull(),
  n_unknown_codes: bigintOrNull(),
  created_at: col(z.string().nullable(), 'TIMESTAMP', { default: 'current_timestamp' }),
  /** GRCh37 or GRCh38, from the manifest or the VCF headers; null when neither says. */
  assembly: textOrNull(),
});
export type ReleaseRow = z.infer<typeof releaseRowSchema>;

/** The `releases` table. */
export const RELEASES_DDL = createTableSqlOf('releases', releaseRowSchema, ['release_id']);
/** Columns added to `releases` since its first version, for catalogs made by older engines. */
export const RELEASES_MIGRATIONS = ['ALTER TABLE releases ADD COLUMN IF NOT EXISTS assembly VARCHAR'];

export const catalogVariantRowSchema = z.strictObject({
  release_id: textOrNull(),
  variant_idx: bigintOrNull(),
  chrom: textOrNull(),
  pos: bigintOrNull(),
  rsid: textOrNull(),
  ref: textOrNull(),
  alt: textOrNull(),
  qual: realOrNull(),
  filter: textOrNull(),
  af: realOrNull(),
  ac: bigintOrNull(),
  an: bigintOrNull(),
  call_rate: realOrNull(),
  hwe_p: realOrNull(),
  gene: textOrNull(),
  consequence: textOrNull(),
  impact: textOrNull(),
  shard: textOrNull(),
});

/** Catalog `variants` table: the queryable core of every release's variants.parquet. */
export const CATALOG_VARIANTS_DDL = createTableSqlOf('variants', catalogVariantRowSchema);
/** Columns of the catalog `variants` table, in order (a subset of variants.parquet). */
export const CATALOG_VARIANT_COLUMNS = Object.keys(catalogVariantRowSchema.shape) as (keyof z.infer<
  typeof catalogVariantRowSchema
>)[];

export const runFileRowSchema = z.strictObject({
  run_id: text(),
  /** Relative to the data folder. */
  path: text(),
  size: bigint(),
  sha256: text(),
});
export type RunFile = z.infer<typeof runFileRowSchema>;
export const RUN_FILES_DDL = createTableSqlOf('run_files', runFileRowSchema, ['run_id', 'path']);

export const phenomeCountRowSchema = z.strictObject({
  release_id: text(),
  phecode_version: text(),
  phecode: text(),
  n_cases: bigint(),
  n_controls: bigint(),
  n_excluded: bigint(),
});
export const PHENOME_COUNTS_DDL = createTableSqlOf('phenome_counts', phenomeCountRowSchema, [
  'release_id',
  'phecode_version',
  'phecode',
]);

export const RUN_CHANGES = ['new', 'lost', 'shared'] as const;
export const runComparisonRowSchema = z.strictObject({
  new_run_id: textOrNull(),
  previous_run_id: textOrNull(),
  /** `lead_locus` or `phewas`. */
  kind: textOrNull(),
  /** The variant id, or `predictor ~ phecode`. */
  key: textOrNull(),
  change: textOrNull(),
  neg_log10_p_before: realOrNull(),
  neg_log10_p_after: realOrNull(),
});
export const RUN_COMPARISONS_DDL = createTableSqlOf('run_comparisons', runComparisonRowSchema);

export const selftestRunRowSchema = z.strictObject({
  run_id: text(),
  workflow_id: textOrNull(),
  parquet_path: textOrNull(),
  n_variants: col(int().nullable(), 'INTEGER'),
  mean_af: realOrNull(),
  recorded_at: col(z.string().nullable(), 'TIMESTAMP', { default: 'current_timestamp' }),
});
export const SELFTEST_RUNS_DDL = createTableSqlOf('selftest_runs', selftestRunRowSchema, ['run_id']);
