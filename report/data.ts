/**
 * The named, parameterised queries behind the HTML report and the results viewer. GWAS rows are
 * read straight from a run's recorded Parquet files (`run_files`, `gwasReadSql(files)`) on the compute
 * instance, so a genome-wide result never passes through JavaScript row by row: the Manhattan
 * and QQ plots are thinned inside DuckDB. The small tables come from the engine database,
 * attached read-only. Values are always bound (`$1`); the only SQL text built here is a glob
 * the engine made itself.
 */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import quantile from '@stdlib/stats-base-dists-normal-quantile';
import { sqlString, withCompute } from '../engine/duckdb.js';
import { gwasReadSql } from '../engine/results.js';
import { runGwasFiles } from '../engine/run-files.js';
import type { EngineConfig } from '../temporal.config.js';
import { selectObjects } from './select.js';

export {
  burdenPhewas,
  coxForPhecode,
  coxForPredictor,
  type GeneVariant,
  geneResults,
  type KmCurves,
  type KmStoredRow,
  kmCurves,
  knownGene,
  knownPhecode,
  phewasForPhecode,
  phewasForPredictor,
  REPORT_MAX_COX_PREDICTORS,
  type RunTables,
  runTables,
  variantsInGene,
} from './data-engine.js';
export { selectObjects } from './select.js';

/** Variants drawn as single points in a Manhattan plot: at most this many … */
export const MANHATTAN_MAX_POINTS = 5000;
/** … of those with −log10 p at least this (p < 1e-4); all other variants are binned. */
export const MANHATTAN_POINT_MIN_NLP = 4;
/** Target number of position bins across the genome. */
export const MANHATTAN_X_BINS = 2000;
/** Height of one −log10 p bin. */
export const MANHATTAN_Y_STEP = 0.05;
/** QQ points kept exactly (the most significant); the rest are rounded to 0.01 and deduplicated. */
export const QQ_EXACT_POINTS = 2000;

/** Rank of a chromosome name for genome order: 1–22, X, Y, MT, then other contigs. */
export function chromRank(chrom: string): number {
  const c = chrom.replace(/^chr/i, '').toUpperCase();
  if (/^\d+$/.test(c)) return Number(c);
  if (c === 'X') return 23;
  if (c === 'Y') return 24;
  if (c === 'M' || c === 'MT') return 25;
  return 1000;
}

export function compareChrom(a: string, b: string): number {
  return chromRank(a) - chromRank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Does the run (or any run) have GWAS Parquet files? */
// --- GWAS: Manhattan, QQ, top hits ---

export interface ChromExtent {
  chrom: string;
  /** Genome-wide coordinate of the chromosome's position 0. */
  offset: number;
  length: number;
  /** Genome-wide coordinate of its middle (axis label position). */
  mid: number;
  parity: 0 | 1;
}

export interface ManhattanPoint {
  variant_id: string;
  rsid: string | null;
  chrom: string;
  pos: number;
  /** Genome-wide coordinate: chromosome offset + position. */
  gpos: number;
  nlp: number;
  beta: number | null;
  af: number | null;
  parity: 0 | 1;
}

/** A run of consecutive −log10 p cells, within one position bin, holding at least one variant. */
export interface ManhattanBin {
  gpos: number;
  lo: number;
  hi: number;
  parity: 0 | 1;
}

export interface ManhattanData {
  chroms: ChromExtent[];
  points: ManhattanPoint[];
  bins: ManhattanBin[];
  /** Variants with a p-value. */
  nVariants: number;
  /** Variants drawn as bins rather than points. */
  nBinned: number;
  /** Width of one position bin in base pairs. */
  binBp: number;
  maxNlp: number;
}

export interface QqData {
  points: { expected: number; observed: number }[];
  nVariants: number;
  /** λGC from the median p of the tested variants (null without any). */
  lambdaGc: number | null;
}

export interface TopHit {
  variant_id: string;
  rsid: string | null;
  chrom: string;
  pos: number;
  ref: string;
  alt: string;
  n: number | null;
  af: number | null;
  beta: number | null;
  se: number | null;
  p: number | null;
  nlp: number;
  test: string;
}

/**
 * Genomic inflation factor λGC (Devlin & Roeder 1999, Biometrics 55:997): the median of the
 * observed 1-df association χ² statistics divided by the median of the χ²₁ distribution,
 * 0.454936. The χ² of a two-sided p is the square of the normal quantile of p/2, and the map
 * is monotone, so the median χ² is the χ² of the median p:
 *   λGC = Φ⁻¹(p_med / 2)² / 0.454936.
 * Only variants with a p-value (tested, status `ok`) count; monomorphic or untested variants
 * (p NULL) are left out. p_med = 0 gives +∞ (reported as given); no tested variant gives null.
 * Assumes 1-df tests (per-variant GWAS); it is not meaningful for multi-df tests.
 */
export function lambdaGcFromMedianP(medianP: number | null): number | null {
  if (medianP === null || !Number.isFinite(medianP)) return null;
  if (medianP <= 0) return Number.POSITIVE_INFINITY;
  if (medianP >= 1) return 0;
  const z = quantile(medianP / 2, 0, 1);
  return (z * z) / 0.454936423119572;
}

/** The SQL source of one run's GWAS rows (empty result when the run has none). */
function gwasSource(files: string[]): string {
  return `(${gwasReadSql(files)})`;
}

/**
 * Manhattan plot data for one phenotype, thinned as PheWeb does: the most significant variants
 * (up to `MANHATTAN_MAX_POINTS` with p < 1e-4) are kept as points; every other variant is put
 * in a cell of (position bin of `binBp` bp within its chromosome) × (−log10 p step of 0.05),
 * and the occupied cells of a position bin are merged into vertical runs [lo, hi]. The plot
 * therefore has at most a few thousand marks whatever the number of variants.
 */
export async function manhattanData(
  config: EngineConfig,
  runId: string,
  phenotype: string,
): Promise<ManhattanData> {
  const files = await runGwasFiles(config, runId);
  return withCompute(config, async (conn) => {
    if (files.length === 0) return emptyManhattan();
    return manhattanOf(
      conn,
      `(SELECT chrom, pos, variant_id, rsid, beta, af, neg_log10_p FROM ${gwasSource(files)}
        WHERE phenotype = ${sqlString(phenotype)})`,
    );
  });
}

/** A Manhattan plot with nothing to draw. */
export function emptyManhattan(): ManhattanData {
  return { chroms: [], points: [], bins: [], nVariants: 0, nBinned: 0, binBp: 1, maxNlp: 0 };
}

/**
 * The thinned Manhattan data (see `manhattanData`) of any relation with the columns chrom, pos,
 * variant_id, rsid, beta, af and neg_log10_p: a run's GWAS of one phenotype, or a meta run's
 * fixed-effect results (report/data-meta.ts).
 */
export async function manhattanOf(conn: DuckDBConnection, rows: string): Promise<ManhattanData> {
  const extents = await selectObjects<{ chrom: string; maxpos: number; n: number; maxnlp: number }>(
    conn,
    `SELECT chrom, max(pos) AS maxpos, count(*) AS n, max(neg_log10_p) AS maxnlp FROM ${rows}
     WHERE neg_log10_p IS NOT NULL GROUP BY chrom`,
  );
  if (extents.length === 0) return emptyManhattan();
  extents.sort((a, b) => compareChrom(a.chrom, b.chrom));
  const chroms: ChromExtent[] = [];
  let offset = 0;
  for (const [i, e] of extents.entries()) {
    const length = Number(e.maxpos) + 1;
    chroms.push({
      chrom: e.chrom,
      offset,
      length,
      mid: Math.round(offset + length / 2),
      parity: (i % 2) as 0 | 1,
    });
    offset += length;
  }
  const byChrom = new Map(chroms.map((c) => [c.chrom, c]));
  const binBp = Math.max(1, Math.ceil(offset / MANHATTAN_X_BINS));
  const ranked = `SELECT chrom, pos, variant_id, rsid, beta, af, neg_log10_p AS nlp,
      row_number() OVER (ORDER BY neg_log10_p DESC, chrom, pos, variant_id) AS rn
    FROM ${rows} WHERE neg_log10_p IS NOT NULL`;
  const isPoint = `(rn <= ${MANHATTAN_MAX_POINTS} AND nlp >= ${MANHATTAN_POINT_MIN_NLP})`;
  const rawPoints = await selectObjects<Omit<ManhattanPoint, 'gpos' | 'parity'>>(
    conn,
    `SELECT variant_id, rsid, chrom, pos, nlp, beta, af FROM (${ranked}) WHERE ${isPoint} ORDER BY rn`,
  );
  const rawBins = await selectObjects<{ chrom: string; xb: number; lo: number; hi: number }>(
    conn,
    `WITH cells AS (
       SELECT DISTINCT chrom, pos // $1 AS xb, CAST(floor(nlp / $2) AS BIGINT) AS yb
       FROM (${ranked}) WHERE NOT ${isPoint}),
     runs AS (
       SELECT chrom, xb, yb, yb - row_number() OVER (PARTITION BY chrom, xb ORDER BY yb) AS grp FROM cells)
     SELECT chrom, xb, min(yb) AS lo, max(yb) + 1 AS hi FROM runs GROUP BY chrom, xb, grp`,
    [binBp, MANHATTAN_Y_STEP],
  );
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const points = rawPoints.map((p) => {
    const c = byChrom.get(p.chrom) as ChromExtent;
    return { ...p, nlp: round(p.nlp), gpos: c.offset + p.pos, parity: c.parity };
  });
  const bins = rawBins.map((b) => {
    const c = byChrom.get(b.chrom) as ChromExtent;
    return {
      gpos: Math.round(c.offset + (b.xb + 0.5) * binBp),
      lo: round(b.lo * MANHATTAN_Y_STEP),
      hi: round(b.hi * MANHATTAN_Y_STEP),
      parity: c.parity,
    };
  });
  const nVariants = extents.reduce((sum, e) => sum + Number(e.n), 0);
  return {
    chroms,
    points,
    bins,
    nVariants,
    nBinned: nVariants - points.length,
    binBp,
    maxNlp: Math.max(...extents.map((e) => Number(e.maxnlp))),
  };
}

/**
 * QQ plot data: observed −log10 p against its expectation under the null, −log10((i − 0.5)/n)
 * for the i-th smallest of n p-values. The `QQ_EXACT_POINTS` most significant are kept exactly;
 * the rest are rounded to 0.01 on both axes and deduplicated (they lie on a dense curve).
 */
export async function qqData(config: EngineConfig, runId: string, phenotype: string): Promise<QqData> {
  const files = await runGwasFiles(config, runId);
  return withCompute(config, async (conn) => {
    if (files.length === 0) return { points: [], nVariants: 0, lambdaGc: null };
    const rows = `(SELECT p, neg_log10_p FROM ${gwasSource(files)} WHERE phenotype = ${sqlString(phenotype)})`;
    const stats = await selectObjects<{ n: number; med: number | null }>(
      conn,
      `SELECT count(*) AS n, median(p) AS med FROM ${rows} WHERE p IS NOT NULL`,
    );
    return {
      points: await qqPointsOf(conn, rows),
      nVariants: Number(stats[0]?.n ?? 0),
      lambdaGc: lambdaGcFromMedianP(stats[0]?.med ?? null),
    };
  });
}

/** The QQ points (see `qqData`) of any relation with a neg_log10_p column. */
export async function qqPointsOf(
  conn: DuckDBConnection,
  rows: string,
): Promise<{ expected: number; observed: number }[]> {
  const ranked = `SELECT neg_log10_p AS o, row_number() OVER (ORDER BY neg_log10_p DESC) AS rn, count(*) OVER () AS n
    FROM ${rows} WHERE neg_log10_p IS NOT NULL`;
  return selectObjects<{ expected: number; observed: number }>(
    conn,
    `WITH r AS (${ranked})
     SELECT round(-log10((rn - 0.5) / n), 4) AS expected, round(o, 4) AS observed FROM r WHERE rn <= ${QQ_EXACT_POINTS}
     UNION
     SELECT DISTINCT round(-log10((rn - 0.5) / n), 2), round(o, 2) FROM r WHERE rn > ${QQ_EXACT_POINTS}`,
  );
}

/** The `limit` most significant variants of a phenotype. */
export async function topHits(
  config: EngineConfig,
  runId: string,
  phenotype: string,
  limit = 20,
): Promise<TopHit[]> {
  const files = await runGwasFiles(config, runId);
  return withCompute(config, async (conn) => {
    if (files.length === 0) return [];
    return selectObjects<TopHit>(
      conn,
      `SELECT variant_id, rsid, chrom, pos, ref, alt, n, af, beta, se, p, neg_log10_p AS nlp, test
       FROM ${gwasSource(files)} WHERE phenotype = $1 AND neg_log10_p IS NOT NULL
       ORDER BY neg_log10_p DESC, chrom, pos LIMIT $2`,
      [phenotype, limit],
    );
  });
}

/** The run's GWAS phenotypes as found in its Parquet files, sorted. */
export async function gwasPhenotypeNames(config: EngineConfig, runId: string): Promise<string[]> {
  const files = await runGwasFiles(config, runId);
  return withCompute(config, async (conn) => {
    if (files.length === 0) return [];
    const rows = await selectObjects<{ phenotype: string }>(
      conn,
      `SELECT DISTINCT phenotype FROM ${gwasSource(files)} ORDER BY 1`,
    );
    return rows.map((r) => r.phenotype);
  });
}

export interface VariantGwasRow extends TopHit {
  run_id: string;
  phenotype: string;
}

/**
 * A variant's GWAS rows across every run. The chromosome partition is pruned by the variant's
 * chromosome (the text before the first `:` of `chrom:pos:ref:alt`).
 */
export async function variantGwasRows(config: EngineConfig, variantId: string): Promise<VariantGwasRow[]> {
  const chrom = variantId.split(':')[0];
  const files = await runGwasFiles(config);
  return withCompute(config, async (conn) => {
    if (files.length === 0) return [];
    return selectObjects<VariantGwasRow>(
      conn,
      `SELECT run_id, phenotype, variant_id, rsid, chrom, pos, ref, alt, n, af, beta, se, p, neg_log10_p AS nlp, test
       FROM (${gwasReadSql(files)}) WHERE chrom = $1 AND variant_id = $2 ORDER BY neg_log10_p DESC NULLS LAST, run_id, phenotype`,
      [chrom, variantId],
    );
  });
}

/** Variants matching an rsid, or a chromosome and position, across every run (distinct). */
export async function findVariants(
  config: EngineConfig,
  query: { rsid: string } | { chrom: string; pos: number },
  limit = 50,
): Promise<{ variant_id: string; rsid: string | null; chrom: string; pos: number }[]> {
  const files = await runGwasFiles(config);
  return withCompute(config, async (conn) => {
    if (files.length === 0) return [];
    const [where, params]: [string, DuckDBValue[]] =
      'rsid' in query
        ? ['rsid = $1', [query.rsid]]
        : ['chrom IN ($1, $2) AND pos = $3', [query.chrom, `chr${query.chrom}`, query.pos]];
    return selectObjects(
      conn,
      `SELECT DISTINCT variant_id, rsid, chrom, pos FROM (${gwasReadSql(files)}) WHERE ${where}
       ORDER BY chrom, pos, variant_id LIMIT ${Math.floor(limit)}`,
      params,
    );
  });
}
