/**
 * Parquet layouts the engine writes between steps (not tables of the engine database), as zod
 * row schemas with their DuckDB column types (schemas/columns.ts):
 *
 * - `gwasPartRowSchema`: a GWAS shard's part file (gwas/parts.ts): numbers only; variant names
 *   and the test/status names are joined in when the shard file is written.
 * - `phewasRowSchema`: one predictor's PheWAS rows (phewas/write.ts), the `phewas_results`
 *   contract without `run_id` (the results store adds it).
 * - `phecodeFitSchema`: what a per-phecode fit returns (phewas/fit.ts, phewas/many-fit.ts): the
 *   PheWAS row's statistics, keyed by the phecode's index.
 * - `phewasCoxRowSchema` / `coxPhecodeFitSchema`: the same for the Cox PheWAS (phewas/cox.ts,
 *   phewas/cox-write.ts; the `phewas_cox_results` contract).
 *
 * Pure zod, no I/O.
 */
import { z } from 'zod';
import { col, columnDefinitionsOf, columnsOfSchema } from './columns.js';
import { phewasCoxResultRowSchema, phewasResultRowSchema } from './results.js';

const i32 = () => col(z.int(), 'INTEGER');
const f64 = () => col(z.number().nullable(), 'DOUBLE');
const code = () => col(z.int().min(0).max(255), 'UTINYINT');

export const gwasPartRowSchema = z.strictObject({
  variant_idx: i32(),
  /** Samples in the test (non-missing genotype, phenotype and covariates). */
  n: i32(),
  af: f64(),
  beta: f64(),
  se: f64(),
  stat: f64(),
  p: f64(),
  neg_log10_p: f64(),
  /** Index into stats/status.ts TEST. */
  test: code(),
  /** Index into stats/status.ts STATUS. */
  status: code(),
  /** 0: the main trait; k: the analysis table's y_k. */
  trait: col(z.int().min(0), 'SMALLINT'),
});
/** Column definitions of a GWAS part file (without NOT NULL: a staging table). */
export const GWAS_PART_DDL = columnsOfSchema('gwas part', gwasPartRowSchema)
  .map((c) => `${c.name} ${c.sql}`)
  .join(', ');

export const phewasRowSchema = phewasResultRowSchema.omit({ run_id: true });
export type PhewasRow = z.infer<typeof phewasRowSchema>;
/** Column definitions of one predictor's PheWAS rows, with the results contract's constraints. */
export const PHEWAS_ROW_DDL = columnDefinitionsOf('phewas rows', phewasRowSchema);

export const phecodeFitSchema = phewasRowSchema
  .pick({
    n_cases: true,
    n_controls: true,
    n_excluded: true,
    beta: true,
    se: true,
    odds_ratio: true,
    ci_low: true,
    ci_high: true,
    p: true,
    neg_log10_p: true,
    status: true,
    reason: true,
  })
  .extend({
    /** The phecode's position in the run's phecode list. */
    index: z.int().min(0),
    test: z.enum(['score', 'wald', 'firth', 'spa', 'spa_wald', 'spa_firth']).nullable(),
  });
export type PhecodeFit = z.infer<typeof phecodeFitSchema>;

export const phewasCoxRowSchema = phewasCoxResultRowSchema.omit({ run_id: true });
export type PhewasCoxRow = z.infer<typeof phewasCoxRowSchema>;
/** Column definitions of one predictor's Cox PheWAS rows, with the results contract's constraints. */
export const PHEWAS_COX_ROW_DDL = columnDefinitionsOf('phewas cox rows', phewasCoxRowSchema);

export const coxPhecodeFitSchema = phewasCoxRowSchema
  .omit({
    predictor: true,
    predictor_type: true,
    phecode: true,
    phecode_version: true,
    description: true,
    category: true,
    time_scale: true,
  })
  .extend({
    /** The phecode's position in the run's phecode list. */
    index: z.int().min(0),
  });
export type CoxPhecodeFit = z.infer<typeof coxPhecodeFitSchema>;
