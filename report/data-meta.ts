/**
 * What the report and the viewer read about a meta-analysis run (meta/), and the heterogeneity
 * and fairness tables derived from it.
 *
 * Reads: `meta_inputs`, `lead_loci`, `meta_forest`, `meta_leave_one_out`, `meta_input_loci` and the study's spec
 * from the engine database (read-only), and the run's `meta_results` from its recorded Parquet
 * files (`run_files`, area `meta`) on the compute instance — the Manhattan and QQ plots are
 * thinned inside DuckDB with the study report's rule (report/data.ts: the `MANHATTAN_MAX_POINTS`
 * most significant variants with p < 1e-4 as points, every other in a position × −log10 p cell),
 * so a genome-wide meta-analysis never passes through JavaScript row by row.
 *
 * A meta variant's id is `chrom:pos:other:effect` (ref = other allele, alt = effect allele), as
 * `lead_loci` records it (meta/write.ts).
 *
 * Derived tables (pure functions, documented where defined):
 *  - heterogeneous leads: pooled p < the lead-loci p and Cochran's Q p < 0.05 / m, m the lead loci
 *    with a Q test (k ≥ 2) — Bonferroni (Dunn 1961) over the loci tested;
 *  - loci significant in only one input (`singleInputLoci`): each input's own lead loci
 *    (`meta_input_loci`: the input's own p below the lead-loci p, distance-clumped as the pooled
 *    leads are) at which no other input's own p is below it — whether or not the pooled p is;
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { hasTable, withCompute, withEngineDb } from '../engine/duckdb.js';
import { exists } from '../engine/fsutil.js';
import { requireRun } from '../engine/results.js';
import { recordedFiles } from '../engine/run-files.js';
import { parquetReadSql } from '../engine/run-paths.js';
import type { LeadLocusRow, RunRow } from '../schemas/results.js';
import { mlog10PTwoSidedNormal, pTwoSidedNormal } from '../stats/distributions.js';
import { bonferroniThreshold } from '../stats/multiple-testing.js';
import type { EngineConfig } from '../temporal.config.js';
import {
  emptyManhattan,
  lambdaGcFromMedianP,
  type ManhattanData,
  manhattanOf,
  type QqData,
  qqPointsOf,
} from './data.js';
import { selectObjects } from './select.js';

/** The lead-loci p of meta/spec.ts when the recorded spec does not give one. */
export const META_DEFAULT_LEAD_P = 5e-8;
/** Family-wise α of the heterogeneity test across lead loci. */
export const META_HETEROGENEITY_ALPHA = 0.05;

export interface MetaInputView {
  input_index: number;
  label: string;
  format: string;
  path: string;
  sha256: string;
  rows_read: number;
  rows_kept: number;
  /** Dropped rows by reason (reader's and alignment's), as recorded. */
  dropped: Record<string, number>;
  n: number | null;
  n_cases: number | null;
  n_controls: number | null;
  ancestry: string | null;
  lambda_gc: number | null;
}

/** A lead locus with its meta-analysis statistics. */
export interface MetaLeadView {
  locus_id: number;
  variant_id: string;
  chrom: string;
  pos: number;
  effect_allele: string;
  other_allele: string;
  start: number;
  end: number;
  n_variants: number;
  k: number | null;
  direction: string | null;
  beta: number | null;
  se: number | null;
  p: number | null;
  nlp: number | null;
  beta_random: number | null;
  se_random: number | null;
  p_random: number | null;
  tau2: number | null;
  q: number | null;
  q_p: number | null;
  i2: number | null;
}

/** One input's aligned estimate at a lead, with its own Wald p. */
export interface MetaForestEntry {
  input_index: number;
  label: string;
  beta: number | null;
  se: number | null;
  /** 2Φ(−|β/SE|); null without an estimate. */
  p: number | null;
  nlp: number | null;
  aligned: string;
}

/** An input's own lead locus (`meta_input_loci`) with the pooled row at its variant. */
export interface MetaInputLocusView {
  label: string;
  input_index: number;
  variant_id: string;
  chrom: string;
  pos: number;
  effect_allele: string;
  other_allele: string;
  /** The input's aligned β and SE (null where alignment dropped its entry) and its own p. */
  beta: number | null;
  se: number | null;
  p: number;
  meta_beta: number | null;
  meta_p: number | null;
  meta_k: number;
  q_p: number | null;
  i2: number | null;
  direction: string;
  n_inputs_significant: number;
  pooled_significant: boolean;
}

export interface MetaLooEntry {
  left_out: string;
  beta: number | null;
  se: number | null;
  p: number | null;
  q_p: number | null;
  i2: number | null;
  status: string;
}

export interface MetaSummary {
  nVariants: number;
  nAnalysed: number;
  /** Variants by number of contributing inputs, `byK[k]`. */
  byK: number[];
  lambdaGc: number | null;
}

/** Everything the meta report shows, in one read. */
export interface MetaRunData {
  run: RunRow;
  spec: unknown;
  trait: string | null;
  leadP: number;
  inputs: MetaInputView[];
  leads: MetaLeadView[];
  /** `lead_loci` rows (for the Manhattan labels). */
  leadRows: LeadLocusRow[];
  forest: Map<string, MetaForestEntry[]>;
  loo: Map<string, MetaLooEntry[]>;
  /** Every input's own lead loci (`meta_input_loci`; empty for runs recorded before it existed). */
  inputLoci: MetaInputLocusView[];
  summary: MetaSummary;
  manhattan: ManhattanData;
  qq: QqData;
}

/** SQL: the meta variant id over columns chrom, pos, other_allele, effect_allele. */
const META_VID = `chrom || ':' || CAST(pos AS VARCHAR) || ':' || other_allele || ':' || effect_allele`;

const ENGINE_READ = { readOnly: true, lockTimeoutMs: 15_000 } as const;

/**
 * SQL: the meta runs — runs with meta-analysis inputs recorded, or of a study of kind `meta`
 * (a meta run still running has no inputs recorded yet).
 */
async function metaRunsSql(conn: DuckDBConnection): Promise<string | null> {
  const parts: string[] = [];
  if (await hasTable(conn, 'meta_inputs')) parts.push('SELECT run_id FROM meta_inputs');
  if ((await hasTable(conn, 'runs')) && (await hasTable(conn, 'studies')))
    parts.push("SELECT r.run_id FROM runs r JOIN studies s USING (study_id) WHERE s.kind = 'meta'");
  return parts.length ? parts.join(' UNION ') : null;
}

/** The ids of the meta runs. */
export async function metaRunIds(config: EngineConfig): Promise<Set<string>> {
  if (!(await exists(config.database))) return new Set();
  return withEngineDb(
    config,
    async (conn) => {
      const sql = await metaRunsSql(conn);
      if (!sql) return new Set<string>();
      const rows = await selectObjects<{ run_id: string }>(conn, sql);
      return new Set(rows.map((r) => r.run_id));
    },
    ENGINE_READ,
  );
}

export async function isMetaRun(config: EngineConfig, runId: string): Promise<boolean> {
  if (!(await exists(config.database))) return false;
  return withEngineDb(
    config,
    async (conn) => {
      const sql = await metaRunsSql(conn);
      return (
        sql !== null &&
        (await selectObjects(conn, `SELECT 1 FROM (${sql}) WHERE run_id = $1 LIMIT 1`, [runId])).length > 0
      );
    },
    ENGINE_READ,
  );
}

/** The recorded `meta_results` files of one run (or of every run), absolute. */
export async function metaResultFiles(config: EngineConfig, runId?: string): Promise<string[]> {
  if (!(await exists(config.database))) return [];
  return withEngineDb(
    config,
    async (conn) =>
      (await hasTable(conn, 'run_files')) ? recordedFiles(conn, config.dataDir, runId, 'meta') : [],
    ENGINE_READ,
  );
}

const num = (x: unknown): number | null => (x === null || x === undefined ? null : Number(x));

function inputView(r: Record<string, unknown>): MetaInputView {
  let dropped: Record<string, number> = {};
  try {
    dropped = JSON.parse(String(r.dropped_json ?? '{}')) as Record<string, number>;
  } catch {
    dropped = {};
  }
  return {
    input_index: Number(r.input_index),
    label: String(r.label),
    format: String(r.format),
    path: String(r.path),
    sha256: String(r.sha256),
    rows_read: Number(r.rows_read),
    rows_kept: Number(r.rows_kept),
    dropped,
    n: num(r.n),
    n_cases: num(r.n_cases),
    n_controls: num(r.n_controls),
    ancestry: r.ancestry === null || r.ancestry === undefined ? null : String(r.ancestry),
    lambda_gc: num(r.lambda_gc),
  };
}

/** An input's own two-sided Wald p and −log10 p from its β and SE (null without both, or SE ≤ 0). */
export function inputWald(beta: number | null, se: number | null): { p: number | null; nlp: number | null } {
  if (beta === null || se === null || !(se > 0) || !Number.isFinite(beta)) return { p: null, nlp: null };
  const z = beta / se;
  return { p: pTwoSidedNormal(z), nlp: mlog10PTwoSidedNormal(z) };
}

/** The engine-database part of a meta run's data. */
async function engineTables(config: EngineConfig, runId: string) {
  return withEngineDb(
    config,
    async (conn) => {
      const has = async (t: string) => hasTable(conn, t);
      const q = async <T>(table: string, sql: string): Promise<T[]> =>
        (await has(table)) ? selectObjects<T>(conn, sql, [runId]) : [];
      const inputs = await q<Record<string, unknown>>(
        'meta_inputs',
        'SELECT * FROM meta_inputs WHERE run_id = $1 ORDER BY input_index',
      );
      const leadRows = await q<LeadLocusRow>(
        'lead_loci',
        'SELECT * FROM lead_loci WHERE run_id = $1 ORDER BY locus_id',
      );
      const forest = await q<Record<string, unknown>>(
        'meta_forest',
        `SELECT ${META_VID} AS variant_id, label, beta, se, aligned FROM meta_forest WHERE run_id = $1`,
      );
      // leave-one-out may hold every variant (leaveOneOut "all"): only the leads' rows are read
      const loo = await q<Record<string, unknown>>(
        'meta_leave_one_out',
        `SELECT ${META_VID} AS variant_id, left_out, beta, se, p, q_p, i2, status FROM meta_leave_one_out
         WHERE run_id = $1 AND ${META_VID} IN (SELECT variant_id FROM lead_loci WHERE run_id = $1)`,
      );
      const inputLoci = await q<Record<string, unknown>>(
        'meta_input_loci',
        `SELECT ${META_VID} AS variant_id, * FROM meta_input_loci WHERE run_id = $1 ORDER BY p, label, chrom, pos`,
      );
      const spec = await q<{ spec_json: string }>(
        'studies',
        'SELECT s.spec_json FROM studies s JOIN runs r USING (study_id) WHERE r.run_id = $1 AND s.spec_hash = r.spec_hash',
      );
      const files = (await has('run_files')) ? await recordedFiles(conn, config.dataDir, runId, 'meta') : [];
      return {
        inputs,
        leadRows,
        forest,
        loo,
        inputLoci,
        spec: spec[0] ? JSON.parse(String(spec[0].spec_json)) : null,
        files,
      };
    },
    { readOnly: true, lockTimeoutMs: 30_000 },
  );
}

/** Lead statistics from the run's meta_results, by variant id. */
async function leadStats(
  conn: DuckDBConnection,
  src: string,
  ids: string[],
): Promise<Map<string, Record<string, unknown>>> {
  if (ids.length === 0) return new Map();
  const rows = await selectObjects<Record<string, unknown>>(
    conn,
    `SELECT ${META_VID} AS variant_id, k, direction, beta, se, p, neg_log10_p, beta_random, se_random,
       p_random, tau2, q, q_p, i2
     FROM ${src} WHERE list_contains(CAST(json_extract_string($1, '$[*]') AS VARCHAR[]), ${META_VID})`,
    [JSON.stringify(ids)],
  );
  return new Map(rows.map((r) => [String(r.variant_id), r]));
}

async function summaryOf(conn: DuckDBConnection, src: string, k: number): Promise<MetaSummary> {
  const byKRows = await selectObjects<{ k: number; n: number }>(
    conn,
    `SELECT k, count(*) AS n FROM ${src} GROUP BY k ORDER BY k`,
  );
  const byK = new Array<number>(k + 1).fill(0);
  for (const r of byKRows) if (r.k >= 0 && r.k <= k) byK[r.k] = Number(r.n);
  const med = await selectObjects<{ med: number | null }>(
    conn,
    `SELECT median(p) AS med FROM ${src} WHERE p IS NOT NULL`,
  );
  const nVariants = byK.reduce((s, x) => s + x, 0);
  return {
    nVariants,
    nAnalysed: nVariants - byK[0],
    byK,
    lambdaGc: lambdaGcFromMedianP(med[0]?.med ?? null),
  };
}

/**
 * Manhattan data of the fixed-effect −log10 p, thinned as the study report thins a GWAS
 * (report/data.ts `manhattanOf`): the most significant variants as points, the rest as
 * position × −log10 p cells merged into vertical runs.
 */
export async function metaManhattan(conn: DuckDBConnection, src: string): Promise<ManhattanData> {
  return manhattanOf(
    conn,
    `(SELECT chrom, pos, ${META_VID} AS variant_id, NULL::VARCHAR AS rsid, beta, NULL::DOUBLE AS af, neg_log10_p
      FROM ${src})`,
  );
}

/** QQ data of the fixed-effect p, as report/data.ts `qqData` (λGC from the median p). */
export async function metaQq(conn: DuckDBConnection, src: string, lambdaGc: number | null): Promise<QqData> {
  const n = await selectObjects<{ n: number }>(conn, `SELECT count(*) AS n FROM ${src} WHERE p IS NOT NULL`);
  return { points: await qqPointsOf(conn, src), nVariants: Number(n[0]?.n ?? 0), lambdaGc };
}

function leadPOf(spec: unknown): number {
  const p = (spec as { leadLoci?: { p?: unknown } } | null)?.leadLoci?.p;
  return typeof p === 'number' && p > 0 && p <= 1 ? p : META_DEFAULT_LEAD_P;
}

/** Everything the meta report of `runId` shows. Raises InputError for an unknown run. */
export async function metaRunData(config: EngineConfig, runId: string): Promise<MetaRunData> {
  const run = await requireRun(config, runId);
  const t = await engineTables(config, runId);
  const inputs = t.inputs.map(inputView);
  const indexOf = new Map(inputs.map((x) => [x.label, x.input_index]));
  const ids = t.leadRows.map((l) => l.variant_id);
  const { stats, summary, manhattan, qq } = await withCompute(config, async (conn) => {
    if (t.files.length === 0) {
      const s: MetaSummary = {
        nVariants: 0,
        nAnalysed: 0,
        byK: new Array(inputs.length + 1).fill(0),
        lambdaGc: null,
      };
      return {
        stats: new Map<string, Record<string, unknown>>(),
        summary: s,
        manhattan: emptyManhattan(),
        qq: { points: [], nVariants: 0, lambdaGc: null },
      };
    }
    const src = `(${parquetReadSql('meta_results', t.files)})`;
    const s = await summaryOf(conn, src, inputs.length);
    return {
      stats: await leadStats(conn, src, ids),
      summary: s,
      manhattan: await metaManhattan(conn, src),
      qq: await metaQq(conn, src, s.lambdaGc),
    };
  });
  const leads: MetaLeadView[] = t.leadRows.map((l) => {
    const s = stats.get(l.variant_id) ?? {};
    return {
      locus_id: l.locus_id,
      variant_id: l.variant_id,
      chrom: l.chrom,
      pos: l.pos,
      effect_allele: l.alt,
      other_allele: l.ref,
      start: l.start,
      end: l.end,
      n_variants: l.n_variants_in_locus,
      k: num(s.k),
      direction: s.direction === null || s.direction === undefined ? null : String(s.direction),
      beta: num(s.beta) ?? l.beta,
      se: num(s.se),
      p: num(s.p) ?? l.p,
      nlp: num(s.neg_log10_p),
      beta_random: num(s.beta_random),
      se_random: num(s.se_random),
      p_random: num(s.p_random),
      tau2: num(s.tau2),
      q: num(s.q),
      q_p: num(s.q_p),
      i2: num(s.i2),
    };
  });
  const forest = new Map<string, MetaForestEntry[]>();
  for (const r of t.forest) {
    const beta = num(r.beta);
    const se = num(r.se);
    const key = String(r.variant_id);
    const label = String(r.label);
    forest.set(key, [
      ...(forest.get(key) ?? []),
      {
        input_index: indexOf.get(label) ?? -1,
        label,
        beta,
        se,
        ...inputWald(beta, se),
        aligned: String(r.aligned),
      },
    ]);
  }
  for (const entries of forest.values()) entries.sort((a, b) => a.input_index - b.input_index);
  const loo = new Map<string, MetaLooEntry[]>();
  for (const r of t.loo) {
    const key = String(r.variant_id);
    loo.set(key, [
      ...(loo.get(key) ?? []),
      {
        left_out: String(r.left_out),
        beta: num(r.beta),
        se: num(r.se),
        p: num(r.p),
        q_p: num(r.q_p),
        i2: num(r.i2),
        status: String(r.status),
      },
    ]);
  }
  for (const entries of loo.values())
    entries.sort((a, b) => (indexOf.get(a.left_out) ?? 0) - (indexOf.get(b.left_out) ?? 0));
  const inputLoci: MetaInputLocusView[] = t.inputLoci.map((r) => ({
    label: String(r.label),
    input_index: indexOf.get(String(r.label)) ?? -1,
    variant_id: String(r.variant_id),
    chrom: String(r.chrom),
    pos: Number(r.pos),
    effect_allele: String(r.effect_allele),
    other_allele: String(r.other_allele),
    beta: num(r.beta),
    se: num(r.se),
    p: Number(r.p),
    meta_beta: num(r.meta_beta),
    meta_p: num(r.meta_p),
    meta_k: Number(r.meta_k),
    q_p: num(r.q_p),
    i2: num(r.i2),
    direction: String(r.direction),
    n_inputs_significant: Number(r.n_inputs_significant),
    pooled_significant: r.pooled_significant === true,
  }));
  const trait = (t.spec as { trait?: unknown } | null)?.trait;
  return {
    run,
    spec: t.spec,
    trait: typeof trait === 'string' ? trait : (t.leadRows[0]?.phenotype ?? null),
    leadP: leadPOf(t.spec),
    inputs,
    leads,
    leadRows: t.leadRows,
    forest,
    loo,
    inputLoci,
    summary,
    manhattan,
    qq,
  };
}

// --- Heterogeneity and fairness (pure) ---

export interface HeterogeneityCall {
  lead: MetaLeadView;
  /** The Bonferroni threshold 0.05 / m. */
  threshold: number;
}

/**
 * Leads significant in the pooled analysis (fixed-effect p < `leadP`) whose Cochran's Q p is
 * below α / m, m = the leads with a Q test (Q p not NULL, i.e. k ≥ 2): Bonferroni over the loci
 * tested (Dunn 1961). A lead without a Q test (k = 1) is neither counted nor flagged; with m = 0
 * nothing is flagged.
 */
export function heterogeneousLeads(
  leads: readonly MetaLeadView[],
  leadP: number,
  alpha = META_HETEROGENEITY_ALPHA,
): { m: number; threshold: number; rows: HeterogeneityCall[] } {
  const tested = leads.filter((l) => l.q_p !== null);
  const m = tested.length;
  const threshold = bonferroniThreshold(alpha, Math.max(1, m));
  const rows = tested
    .filter((l) => l.p !== null && l.p < leadP && (l.q_p as number) < threshold)
    .map((lead) => ({ lead, threshold }));
  return { m, threshold, rows };
}

/**
 * Loci significant in only one input: the inputs' own lead loci (`meta_input_loci`) at whose
 * variant exactly one input's own p is below the lead-loci p, pooled-significant or not; most
 * significant in its input first.
 */
export function singleInputLoci(inputLoci: readonly MetaInputLocusView[]): MetaInputLocusView[] {
  return inputLoci
    .filter((l) => l.n_inputs_significant === 1)
    .sort((a, b) => a.p - b.p || a.input_index - b.input_index || a.variant_id.localeCompare(b.variant_id));
}

// --- Viewer: meta rows of a variant ---

export interface MetaVariantRow {
  run_id: string;
  chrom: string;
  pos: number;
  effect_allele: string;
  other_allele: string;
  k: number;
  direction: string;
  beta: number | null;
  se: number | null;
  p: number | null;
  neg_log10_p: number | null;
  z_n: number | null;
  p_n: number | null;
  beta_random: number | null;
  se_random: number | null;
  p_random: number | null;
  tau2: number | null;
  q: number | null;
  q_p: number | null;
  i2: number | null;
  n: number | null;
  status: string;
}

/**
 * A variant's `meta_results` rows across every meta run, in either allele orientation (a run's
 * effect allele is the one its reference input gave). `variantId` is `chrom:pos:a:b`.
 */
export async function metaVariantRows(config: EngineConfig, variantId: string): Promise<MetaVariantRow[]> {
  const [chrom, pos, a, b] = variantId.split(':');
  if (b === undefined || !/^\d+$/.test(pos)) return [];
  const files = await metaResultFiles(config);
  if (files.length === 0) return [];
  return withCompute(config, (conn) =>
    selectObjects<MetaVariantRow>(
      conn,
      `SELECT run_id, chrom, pos, effect_allele, other_allele, k, direction, beta, se, p, neg_log10_p, z_n, p_n,
         beta_random, se_random, p_random, tau2, q, q_p, i2, n, status
       FROM (${parquetReadSql('meta_results', files)})
       WHERE chrom = $1 AND pos = $2 AND ((other_allele = $3 AND effect_allele = $4) OR (other_allele = $4 AND effect_allele = $3))
       ORDER BY neg_log10_p DESC NULLS LAST, run_id`,
      [chrom, Number(pos), a, b],
    ),
  );
}

/**
 * Variants of the meta runs' `meta_results` at a position (`chr`-prefixed or not), as variant ids
 * `chrom:pos:other:effect` — for the viewer's search, which otherwise finds GWAS variants only.
 */
export async function findMetaVariants(
  config: EngineConfig,
  query: { chrom: string; pos: number },
  limit = 50,
): Promise<{ variant_id: string; rsid: null; chrom: string; pos: number }[]> {
  const files = await metaResultFiles(config);
  if (files.length === 0) return [];
  const rows = await withCompute(config, (conn) =>
    selectObjects<{ variant_id: string; chrom: string; pos: number }>(
      conn,
      `SELECT DISTINCT ${META_VID} AS variant_id, chrom, pos FROM (${parquetReadSql('meta_results', files)})
       WHERE chrom IN ($1, $2) AND pos = $3 ORDER BY variant_id LIMIT ${Math.floor(limit)}`,
      [query.chrom, `chr${query.chrom}`, query.pos],
    ),
  );
  return rows.map((r) => ({ variant_id: r.variant_id, rsid: null, chrom: r.chrom, pos: Number(r.pos) }));
}
