/**
 * The report's and the viewer's queries of the engine database's result tables (PheWAS, burden,
 * lead loci, QC, studies; the catalog's variants), attached read-only.
 */

import type { DuckDBConnection } from '@duckdb/node-api';
import { hasTable, withEngineDb } from '../engine/duckdb.js';
import { exists } from '../engine/fsutil.js';
import type {
  BurdenResultRow,
  GwasPhenotypeRow,
  LeadLocusRow,
  PhewasCoxResultRow,
  PhewasResultRow,
  QcSummaryRow,
  ResultRow,
} from '../schemas/results.js';
import { variantIdSql } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import { selectObjects } from './select.js';

/** Run `fn` on the engine database read-only; without a database or the table, return `empty`. */
async function fromEngine<T>(
  config: EngineConfig,
  table: string,
  empty: T,
  fn: (conn: DuckDBConnection) => Promise<T>,
): Promise<T> {
  if (!(await exists(config.database))) return empty;
  return withEngineDb(config, async (conn) => ((await hasTable(conn, table)) ? fn(conn) : empty), {
    readOnly: true,
    lockTimeoutMs: 15_000,
  });
}

/** PheWAS rows of one predictor (a variant id or a burden mask) across runs, or in one run. */
export async function phewasForPredictor(
  config: EngineConfig,
  predictor: string,
  runId?: string,
): Promise<PhewasResultRow[]> {
  return fromEngine(config, 'phewas_results', [], (conn) =>
    selectObjects<PhewasResultRow>(
      conn,
      `SELECT * FROM phewas_results WHERE predictor = $1 AND ($2 IS NULL OR run_id = $2)
       ORDER BY run_id, category NULLS LAST, phecode`,
      [predictor, runId ?? null],
    ),
  );
}

/** One run's PheWAS rows of burden predictors (the genotype-first burden PheWAS). */
export async function burdenPhewas(config: EngineConfig, runId: string): Promise<PhewasResultRow[]> {
  return fromEngine(config, 'phewas_results', [], (conn) =>
    selectObjects<PhewasResultRow>(
      conn,
      `SELECT * FROM phewas_results WHERE run_id = $1 AND predictor_type = 'burden'
       ORDER BY category NULLS LAST, phecode, predictor`,
      [runId],
    ),
  );
}

/** PheWAS rows of one phecode across runs and predictors, most significant first. */
export async function phewasForPhecode(
  config: EngineConfig,
  phecode: string,
  limit = 500,
): Promise<PhewasResultRow[]> {
  return fromEngine(config, 'phewas_results', [], (conn) =>
    selectObjects<PhewasResultRow>(
      conn,
      `SELECT * FROM phewas_results WHERE phecode = $1 ORDER BY neg_log10_p DESC NULLS LAST, run_id, predictor LIMIT $2`,
      [phecode, limit],
    ),
  );
}

/** Cox (time-to-event) PheWAS rows of one predictor across runs, or in one run. */
export async function coxForPredictor(
  config: EngineConfig,
  predictor: string,
  runId?: string,
): Promise<PhewasCoxResultRow[]> {
  return fromEngine(config, 'phewas_cox_results', [], (conn) =>
    selectObjects<PhewasCoxResultRow>(
      conn,
      `SELECT * FROM phewas_cox_results WHERE predictor = $1 AND ($2 IS NULL OR run_id = $2)
       ORDER BY run_id, category NULLS LAST, phecode`,
      [predictor, runId ?? null],
    ),
  );
}

/** Cox PheWAS rows of one phecode across runs and predictors, most significant first. */
export async function coxForPhecode(
  config: EngineConfig,
  phecode: string,
  limit = 500,
): Promise<PhewasCoxResultRow[]> {
  return fromEngine(config, 'phewas_cox_results', [], (conn) =>
    selectObjects<PhewasCoxResultRow>(
      conn,
      `SELECT * FROM phewas_cox_results WHERE phecode = $1 ORDER BY neg_log10_p DESC NULLS LAST, run_id, predictor LIMIT $2`,
      [phecode, limit],
    ),
  );
}

/** A stored Kaplan–Meier step (`phewas_cox_km`). */
export type KmStoredRow = ResultRow<'phewas_cox_km'>;

/** One curve pair: the exact steps of both groups of a run × predictor × phecode. */
export interface KmCurves {
  run_id: string;
  predictor: string;
  phecode: string;
  rows: KmStoredRow[];
}

/** Group stored KM rows (ordered by run, predictor, phecode, group, time) into curve pairs. */
function groupKm(rows: KmStoredRow[]): KmCurves[] {
  const out: KmCurves[] = [];
  for (const r of rows) {
    const last = out.at(-1);
    if (last && last.run_id === r.run_id && last.predictor === r.predictor && last.phecode === r.phecode)
      last.rows.push(r);
    else out.push({ run_id: r.run_id, predictor: r.predictor, phecode: r.phecode, rows: [r] });
  }
  return out;
}

/**
 * KM curves of the `perPredictor` most significant Cox associations (status ok, by p) that have
 * curves, for each of the given predictors, or of every predictor when `predictors` is null; in
 * one run, or across runs when `runId` is null. Restricted further to one phecode when given.
 */
export async function kmCurves(
  config: EngineConfig,
  filter: { runId?: string; predictors?: string[]; phecode?: string; perPredictor: number },
): Promise<KmCurves[]> {
  if (filter.predictors && filter.predictors.length === 0) return [];
  if (!(await exists(config.database))) return [];
  return withEngineDb(
    config,
    async (conn) => {
      if (!(await hasTable(conn, 'phewas_cox_km')) || !(await hasTable(conn, 'phewas_cox_results')))
        return [];
      const rows = await selectObjects<KmStoredRow>(
        conn,
        `WITH pairs AS (SELECT DISTINCT run_id, predictor, phecode FROM phewas_cox_km
           WHERE ($1 IS NULL OR run_id = $1) AND ($2 IS NULL OR list_contains(CAST(json_extract_string($2, '$[*]') AS VARCHAR[]), predictor))
             AND ($3 IS NULL OR phecode = $3)),
         top AS (SELECT c.run_id, c.predictor, c.phecode, c.p FROM phewas_cox_results c
           JOIN pairs USING (run_id, predictor, phecode) WHERE c.p IS NOT NULL
           QUALIFY row_number() OVER (PARTITION BY c.run_id, c.predictor ORDER BY c.p, c.phecode) <= $4)
         SELECT k.* FROM phewas_cox_km k JOIN top USING (run_id, predictor, phecode)
         ORDER BY top.p, k.run_id, k.predictor, k.phecode, k."group", k.time`,
        [
          filter.runId ?? null,
          filter.predictors ? JSON.stringify(filter.predictors) : null,
          filter.phecode ?? null,
          filter.perPredictor,
        ],
      );
      return groupKm(rows);
    },
    { readOnly: true, lockTimeoutMs: 15_000 },
  );
}

/** Burden test rows of a gene across runs, and its burden PheWAS rows (predictor `gene/…`). */
export async function geneResults(
  config: EngineConfig,
  gene: string,
): Promise<{ burden: BurdenResultRow[]; phewas: PhewasResultRow[] }> {
  const burden = await fromEngine(config, 'burden_results', [] as BurdenResultRow[], (conn) =>
    selectObjects<BurdenResultRow>(
      conn,
      `SELECT * FROM burden_results WHERE gene = $1 ORDER BY p NULLS LAST, run_id, mask, aaf_bin, phenotype`,
      [gene],
    ),
  );
  const phewas = await fromEngine(config, 'phewas_results', [] as PhewasResultRow[], (conn) =>
    selectObjects<PhewasResultRow>(
      conn,
      // Burden predictors are named gene__mask__bin (activities/burden.ts columnName); runs of
      // other tools, and older ones, name them gene/mask/bin.
      `SELECT * FROM phewas_results WHERE predictor_type = 'burden'
         AND (starts_with(predictor, $1 || '__') OR starts_with(predictor, $1 || '/'))
       ORDER BY run_id, category NULLS LAST, phecode, predictor`,
      [gene],
    ),
  );
  return { burden, phewas };
}

/** A variant of a registered release annotated with the gene. */
export interface GeneVariant {
  release_id: string;
  variant_id: string;
  rsid: string | null;
  consequence: string | null;
  af: number | null;
}

/** Variants annotated with `gene` in the registered releases (the catalog's `variants` table). */
export async function variantsInGene(
  config: EngineConfig,
  gene: string,
  limit = 500,
): Promise<GeneVariant[]> {
  return fromEngine(config, 'variants', [] as GeneVariant[], (conn) =>
    selectObjects<GeneVariant>(
      conn,
      `SELECT release_id, ${variantIdSql()} AS variant_id, rsid, consequence, af
       FROM variants WHERE gene = $1 ORDER BY release_id, chrom, pos, ref, alt LIMIT ${Math.floor(limit)}`,
      [gene],
    ),
  );
}

/** Does any result or release know this gene? (for search) */
export async function knownGene(config: EngineConfig, gene: string): Promise<boolean> {
  const r = await geneResults(config, gene);
  return r.burden.length > 0 || r.phewas.length > 0 || (await variantsInGene(config, gene, 1)).length > 0;
}

export async function knownPhecode(config: EngineConfig, phecode: string): Promise<boolean> {
  return (
    (await phewasForPhecode(config, phecode, 1)).length > 0 ||
    (await coxForPhecode(config, phecode, 1)).length > 0
  );
}

/** Everything the report needs from the engine database for one run, in one read-only visit. */
export interface RunTables {
  phenotypes: GwasPhenotypeRow[];
  lead: LeadLocusRow[];
  qc: QcSummaryRow[];
  burden: BurdenResultRow[];
  /** PheWAS rows of the lead variants. */
  leadPhewas: PhewasResultRow[];
  /** PheWAS rows of burden predictors. */
  burdenPhewas: PhewasResultRow[];
  /** Cox PheWAS rows of the run's `REPORT_MAX_COX_PREDICTORS` most significant predictors. */
  cox: PhewasCoxResultRow[];
  /** Predictors with Cox rows in the run (also those not loaded). */
  coxPredictors: number;
  spec: unknown;
}

/** The report shows the Cox PheWAS of at most this many predictors (the most significant). */
export const REPORT_MAX_COX_PREDICTORS = 10;

export async function runTables(config: EngineConfig, runId: string): Promise<RunTables> {
  const out: RunTables = {
    phenotypes: [],
    lead: [],
    qc: [],
    burden: [],
    leadPhewas: [],
    burdenPhewas: [],
    cox: [],
    coxPredictors: 0,
    spec: null,
  };
  if (!(await exists(config.database))) return out;
  return withEngineDb(
    config,
    async (conn) => {
      const tables = new Set(
        (
          await selectObjects<{ table_name: string }>(
            conn,
            `SELECT table_name FROM information_schema.tables
             WHERE table_catalog = current_database() AND table_schema = current_schema()`,
          )
        ).map((r) => r.table_name),
      );
      const q = async <T>(table: string, sql: string): Promise<T[]> =>
        tables.has(table) ? selectObjects<T>(conn, sql, [runId]) : [];
      out.phenotypes = await q(
        'gwas_phenotypes',
        'SELECT * FROM gwas_phenotypes WHERE run_id = $1 ORDER BY phenotype',
      );
      out.lead = await q(
        'lead_loci',
        'SELECT * FROM lead_loci WHERE run_id = $1 ORDER BY phenotype, locus_id',
      );
      out.qc = await q(
        'qc_summary',
        'SELECT * FROM qc_summary WHERE run_id = $1 ORDER BY step, n_before DESC, filter',
      );
      out.burden = await q(
        'burden_results',
        'SELECT * FROM burden_results WHERE run_id = $1 ORDER BY p NULLS LAST, gene, mask, aaf_bin, phenotype',
      );
      out.leadPhewas = await q(
        'phewas_results',
        `SELECT * FROM phewas_results WHERE run_id = $1
           AND predictor IN (SELECT variant_id FROM lead_loci WHERE run_id = $1)
         ORDER BY predictor, category NULLS LAST, phecode`,
      );
      out.burdenPhewas = await q(
        'phewas_results',
        `SELECT * FROM phewas_results WHERE run_id = $1 AND predictor_type = 'burden'
         ORDER BY category NULLS LAST, phecode, predictor`,
      );
      out.cox = await q(
        'phewas_cox_results',
        `WITH top AS (SELECT predictor FROM phewas_cox_results WHERE run_id = $1 GROUP BY predictor
           ORDER BY min(p) NULLS LAST, predictor LIMIT ${REPORT_MAX_COX_PREDICTORS})
         SELECT * FROM phewas_cox_results WHERE run_id = $1 AND predictor IN (SELECT predictor FROM top)
         ORDER BY predictor, category NULLS LAST, phecode`,
      );
      out.coxPredictors = Number(
        (
          await q<{ n: number }>(
            'phewas_cox_results',
            'SELECT count(DISTINCT predictor) AS n FROM phewas_cox_results WHERE run_id = $1',
          )
        )[0]?.n ?? 0,
      );
      const spec = await q<{ spec_json: string }>(
        'studies',
        'SELECT s.spec_json FROM studies s JOIN runs r USING (study_id) WHERE r.run_id = $1 AND s.spec_hash = r.spec_hash',
      );
      out.spec = spec[0] ? JSON.parse(String(spec[0].spec_json)) : null;
      return out;
    },
    { readOnly: true, lockTimeoutMs: 30_000 },
  );
}
