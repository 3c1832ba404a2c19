/**
 * What the report and the viewer read about a PheWAS meta-analysis (meta/phewas.ts), and the
 * heterogeneity and fairness tables derived from it. The rows are `meta_phewas_results` (one per
 * model × predictor × phecode) and `meta_phewas_forest` (one per association × input), written
 * under a stratified study's run id (inputs = strata) or a federated PheWAS meta run's id
 * (inputs = sites). β is a log odds ratio (`logistic`) or a log hazard ratio (`cox`).
 *
 * Derived calls (pure functions, documented where defined):
 *  - significant: fixed-effect p < α / n, n the associations of the predictor with at least one
 *    contributing input (k ≥ 1) — the per-predictor Bonferroni rule (Dunn 1961) of
 *    meta/phewas.ts `bonferroniByPredictor`, restated here because report/ may not import meta/;
 *  - heterogeneous: significant, k ≥ 2 and Cochran's Q p < α / m, m the significant associations
 *    with k ≥ 2 (a Q test), as meta/phewas-runs.ts `summariseMetaPhewas` counts them;
 *  - significant in only one input: exactly one input whose own p (the p it reported; the Wald
 *    p 2Φ(−|β/SE|) when it gave none) is below α / nᵢ, nᵢ the associations of that predictor the
 *    input tested (a usable β and SE). Kept whatever the pooled p.
 *
 * The counts these calls need (associations per predictor, associations each input tested) and
 * the selection of the rows that can be called (significant pooled, or an input whose own p may
 * be below its threshold) are computed inside DuckDB (`readMetaPhewas`), so only those rows pass
 * through JavaScript; `metaPhewasDataOf` does the same from rows in memory.
 *
 * Person counts (pooled and per-input cases and controls) are shown through the small-cell rule
 * of engine/privacy.ts: all the counts of one association form one group, so a hidden input
 * count cannot be recovered as the pooled count minus the other inputs'.
 */
import { hasTable, withEngineDb } from '../engine/duckdb.js';
import { exists } from '../engine/fsutil.js';
import { type Suppression, suppressCountGroup } from '../engine/privacy.js';
import type { MetaPhewasResultRow } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import { inputWald } from './data-meta.js';
import { selectObjects } from './select.js';

/** Family-wise α of the significance and heterogeneity calls. */
export const META_PHEWAS_ALPHA = 0.05;
/** At most this many forest plots (the most significant associations) on one page. */
export const META_PHEWAS_MAX_FORESTS = 30;

export type MetaPhewasModel = MetaPhewasResultRow['model'];

/** One input's row of an association (aligned β), as the forest table stores it. */
export interface MetaPhewasInputRow {
  label: string;
  beta: number | null;
  se: number | null;
  /** The p the input reported (NULL: absent, not tested, or none given). */
  p: number | null;
  n_cases: number | null;
  n_controls: number | null;
  test: string | null;
  /** `reference`, `same`, `swapped`, `not_tested` or `absent`. */
  aligned: string;
}

/**
 * A run's PheWAS meta-analysis as the report shows it: the run-wide counts the calls need, and
 * the rows of the associations the calls can select (significant in the pooled analysis, or with
 * an input whose own p may be below its threshold) — not every association, so a PheWAS of
 * many predictors × phecodes × inputs is filtered inside DuckDB.
 */
export interface MetaPhewasData {
  runId: string;
  /** The inputs (strata or sites) in input order: the direction string's order. */
  labels: string[];
  /** Associations of the run, those with k ≥ 2, and the models present. */
  counts: { nAssociations: number; nMulti: number; models: MetaPhewasModel[] };
  /** Per (model, predictor) (`predictorKey`): α / its associations with k ≥ 1. */
  bonferroni: Map<string, number>;
  /** Per input and (model, predictor) (`inputPredictorKey`): the associations the input tested. */
  tested: Map<string, number>;
  /** The selectable associations, sorted by model, predictor, phecode. */
  results: MetaPhewasResultRow[];
  /** Per association (`associationKey`), one row per input in `labels` order. */
  forest: Map<string, MetaPhewasInputRow[]>;
}

export const associationKey = (r: { model: string; predictor: string; phecode: string }) =>
  `${r.model}\u0000${r.predictor}\u0000${r.phecode}`;
export const predictorKey = (r: { model: string; predictor: string }) => `${r.model}\u0000${r.predictor}`;
export const inputPredictorKey = (label: string, r: { model: string; predictor: string }) =>
  `${label}\u0000${predictorKey(r)}`;

const num = (x: unknown): number | null => (x === null || x === undefined ? null : Number(x));
const str = (x: unknown): string | null => (x === null || x === undefined ? null : String(x));

function resultRow(r: Record<string, unknown>): MetaPhewasResultRow {
  return {
    run_id: String(r.run_id),
    model: String(r.model) as MetaPhewasModel,
    predictor: String(r.predictor),
    predictor_type: String(r.predictor_type) as MetaPhewasResultRow['predictor_type'],
    phecode: String(r.phecode),
    description: str(r.description),
    category: str(r.category),
    k: Number(r.k),
    direction: String(r.direction),
    n_cases: num(r.n_cases),
    n_controls: num(r.n_controls),
    beta: num(r.beta),
    se: num(r.se),
    z: num(r.z),
    p: num(r.p),
    neg_log10_p: num(r.neg_log10_p),
    beta_random: num(r.beta_random),
    se_random: num(r.se_random),
    p_random: num(r.p_random),
    tau2: num(r.tau2),
    q: num(r.q),
    q_p: num(r.q_p),
    i2: num(r.i2),
    status: String(r.status) as MetaPhewasResultRow['status'],
  };
}

function inputRow(
  r: Record<string, unknown>,
): MetaPhewasInputRow & { model: string; predictor: string; phecode: string } {
  return {
    model: String(r.model),
    predictor: String(r.predictor),
    phecode: String(r.phecode),
    label: String(r.label),
    beta: num(r.beta),
    se: num(r.se),
    p: num(r.p),
    n_cases: num(r.n_cases),
    n_controls: num(r.n_controls),
    test: str(r.test),
    aligned: String(r.aligned),
  };
}

/**
 * The input order: `preferred` (a stratified run's strata) first, then the run's `meta_inputs`
 * order, then any other label in the order the forest rows were written.
 */
function orderLabels(written: string[], metaInputs: string[], preferred: readonly string[]): string[] {
  const out: string[] = [];
  for (const l of [...preferred, ...metaInputs, ...written])
    if (written.includes(l) && !out.includes(l)) out.push(l);
  return out;
}

/** Group forest rows by association, each group in `labels` order. */
function groupForest(
  rows: readonly (MetaPhewasInputRow & { model: string; predictor: string; phecode: string })[],
  labels: readonly string[],
): Map<string, MetaPhewasInputRow[]> {
  const rank = new Map(labels.map((l, i) => [l, i]));
  const forest = new Map<string, MetaPhewasInputRow[]>();
  for (const { model, predictor, phecode, ...row } of rows) {
    const key = associationKey({ model, predictor, phecode });
    const list = forest.get(key);
    if (list) list.push(row);
    else forest.set(key, [row]);
  }
  for (const list of forest.values())
    list.sort((a, b) => (rank.get(a.label) ?? 0) - (rank.get(b.label) ?? 0));
  return forest;
}

/** SQL: an input row with a usable β and SE (as `isTested`). */
const TESTED_SQL = '(beta IS NOT NULL AND se IS NOT NULL AND isfinite(beta) AND se > 0)';

/**
 * SQL over `meta_phewas_results` (alias-free) and `meta_phewas_forest` of run $1 at α $2: the
 * per-predictor Bonferroni counts (`nb`), the per-input tested counts (`nt`) and the selectable
 * associations (`keep`): pooled p < α / nb, or an input with a usable estimate whose p is missing
 * (its Wald p is computed in JavaScript) or below α / nt.
 */
const KEEP_CTE = `
  r AS (SELECT * FROM meta_phewas_results WHERE run_id = $1),
  f AS (SELECT rowid AS rid, *, ${TESTED_SQL} AS tested FROM meta_phewas_forest WHERE run_id = $1),
  nb AS (SELECT model, predictor, count(*) FILTER (WHERE k > 0) AS n FROM r GROUP BY model, predictor),
  nt AS (SELECT label, model, predictor, count(*) FILTER (WHERE tested) AS n FROM f GROUP BY label, model, predictor),
  keep AS (
    SELECT model, predictor, phecode FROM r JOIN nb USING (model, predictor) WHERE nb.n > 0 AND r.p < $2 / nb.n
    UNION
    SELECT model, predictor, phecode FROM f JOIN nt USING (label, model, predictor)
    WHERE f.tested AND (f.p IS NULL OR f.p < $2 / nt.n))`;

/**
 * The PheWAS meta-analysis of `runId`, or null when the run has none. `labelOrder`: the inputs'
 * order when the caller knows it (a stratified run's strata). The counts and the selection are
 * computed in DuckDB; only the selectable associations' rows are read.
 */
export async function readMetaPhewas(
  config: EngineConfig,
  runId: string,
  labelOrder: readonly string[] = [],
): Promise<MetaPhewasData | null> {
  if (!(await exists(config.database))) return null;
  const alpha = META_PHEWAS_ALPHA;
  const t = await withEngineDb(
    config,
    async (conn) => {
      if (!(await hasTable(conn, 'meta_phewas_results')) || !(await hasTable(conn, 'meta_phewas_forest')))
        return null;
      const counts = await selectObjects<{ n: number; multi: number; models: string }>(
        conn,
        `SELECT count(*) AS n, count(*) FILTER (WHERE k >= 2) AS multi, string_agg(DISTINCT model, ',' ORDER BY model) AS models
         FROM meta_phewas_results WHERE run_id = $1`,
        [runId],
      );
      if (!counts[0] || Number(counts[0].n) === 0) return null;
      const q = <T>(sql: string) => selectObjects<T>(conn, `WITH ${KEEP_CTE} ${sql}`, [runId, alpha]);
      const nb = await q<{ model: string; predictor: string; n: number }>('SELECT * FROM nb WHERE n > 0');
      const nt = await q<{ label: string; model: string; predictor: string; n: number }>(
        'SELECT * FROM nt WHERE n > 0',
      );
      const written = await q<{ label: string }>('SELECT label FROM f GROUP BY label ORDER BY min(rid)');
      const results = await q<Record<string, unknown>>(
        'SELECT r.* FROM r SEMI JOIN keep USING (model, predictor, phecode) ORDER BY model, predictor, phecode',
      );
      const forest = await q<Record<string, unknown>>(
        `SELECT f.model, f.predictor, f.phecode, f.label, f.beta, f.se, f.p, f.n_cases, f.n_controls, f.test, f.aligned
         FROM f SEMI JOIN keep USING (model, predictor, phecode) ORDER BY f.rid`,
      );
      const inputs = (await hasTable(conn, 'meta_inputs'))
        ? await selectObjects<{ label: string }>(
            conn,
            'SELECT label FROM meta_inputs WHERE run_id = $1 ORDER BY input_index',
            [runId],
          )
        : [];
      return { counts: counts[0], nb, nt, written, results, forest, inputs };
    },
    { readOnly: true, lockTimeoutMs: 30_000 },
  );
  if (t === null) return null;
  const labels = orderLabels(
    t.written.map((x) => String(x.label)),
    t.inputs.map((x) => String(x.label)),
    labelOrder,
  );
  return {
    runId,
    labels,
    counts: {
      nAssociations: Number(t.counts.n),
      nMulti: Number(t.counts.multi),
      models: String(t.counts.models ?? '')
        .split(',')
        .filter(Boolean) as MetaPhewasModel[],
    },
    bonferroni: new Map(t.nb.map((x) => [predictorKey(x), alpha / Number(x.n)])),
    tested: new Map(t.nt.map((x) => [inputPredictorKey(x.label, x), Number(x.n)])),
    results: t.results.map(resultRow),
    forest: groupForest(t.forest.map(inputRow), labels),
  };
}

/**
 * The same data from every row of a PheWAS meta-analysis, in JavaScript (the reference for
 * `readMetaPhewas`'s SQL, and for callers that hold the rows): all associations are kept.
 */
export function metaPhewasDataOf(
  runId: string,
  labels: readonly string[],
  results: readonly MetaPhewasResultRow[],
  forest: readonly (MetaPhewasInputRow & { model: string; predictor: string; phecode: string })[],
  alpha = META_PHEWAS_ALPHA,
): MetaPhewasData {
  const tested = new Map<string, number>();
  for (const r of forest)
    if (isTested(r))
      tested.set(inputPredictorKey(r.label, r), (tested.get(inputPredictorKey(r.label, r)) ?? 0) + 1);
  const sorted = [...results].sort((a, b) =>
    a.model !== b.model
      ? a.model < b.model
        ? -1
        : 1
      : a.predictor !== b.predictor
        ? a.predictor < b.predictor
          ? -1
          : 1
        : a.phecode < b.phecode
          ? -1
          : a.phecode > b.phecode
            ? 1
            : 0,
  );
  return {
    runId,
    labels: [...labels],
    counts: {
      nAssociations: results.length,
      nMulti: results.filter((r) => r.k >= 2).length,
      models: [...new Set(results.map((r) => r.model))].sort(),
    },
    bonferroni: bonferroniByPredictor(results, alpha),
    tested,
    results: sorted,
    forest: groupForest(forest, labels),
  };
}

// --- Calls (pure) ---

/** Whether an input row has an estimate (a usable aligned β and SE). */
export const isTested = (r: MetaPhewasInputRow): boolean =>
  r.beta !== null && r.se !== null && Number.isFinite(r.beta) && r.se > 0;

/** An input's own p: the one it reported, else the Wald p of its β and SE; null when untested. */
export function ownP(r: MetaPhewasInputRow): number | null {
  if (!isTested(r)) return null;
  return r.p ?? inputWald(r.beta, r.se).p;
}

/**
 * Per (model, predictor): the Bonferroni threshold α / n, n its associations with k ≥ 1 (as
 * meta/phewas.ts `bonferroniByPredictor`; the model is part of the key only so that a run with
 * both a logistic and a Cox PheWAS keeps them apart).
 */
export function bonferroniByPredictor(
  results: readonly Pick<MetaPhewasResultRow, 'model' | 'predictor' | 'k'>[],
  alpha = META_PHEWAS_ALPHA,
): Map<string, number> {
  const n = new Map<string, number>();
  for (const r of results) if (r.k > 0) n.set(predictorKey(r), (n.get(predictorKey(r)) ?? 0) + 1);
  return new Map([...n].map(([k, c]) => [k, alpha / c]));
}

export interface SignificantAssociation {
  row: MetaPhewasResultRow;
  /** The predictor's Bonferroni threshold. */
  threshold: number;
}

const thresholdOf = (data: MetaPhewasData, r: MetaPhewasResultRow) =>
  data.bonferroni.get(predictorKey(r)) ?? 0;

/** The associations with fixed-effect p below their predictor's threshold, most significant first. */
export function significantAssociations(data: MetaPhewasData): SignificantAssociation[] {
  return data.results
    .filter((r) => r.p !== null && r.p < thresholdOf(data, r))
    .map((row) => ({ row, threshold: thresholdOf(data, row) }))
    .sort((a, b) => (b.row.neg_log10_p ?? 0) - (a.row.neg_log10_p ?? 0) || (a.row.p ?? 1) - (b.row.p ?? 1));
}

/**
 * Significant associations that are heterogeneous: Cochran's Q p < α / m, m the significant ones
 * with a Q test (k ≥ 2, Q p not NULL). With m = 0 nothing is flagged.
 */
export function heterogeneousAssociations(
  data: MetaPhewasData,
  alpha = META_PHEWAS_ALPHA,
): { m: number; threshold: number; rows: SignificantAssociation[] } {
  const tested = significantAssociations(data).filter((s) => s.row.k >= 2 && s.row.q_p !== null);
  const m = tested.length;
  const threshold = alpha / Math.max(1, m);
  return { m, threshold, rows: tested.filter((s) => (s.row.q_p as number) < threshold) };
}

export interface SingleInputAssociation {
  row: MetaPhewasResultRow;
  /** The one input significant on its own. */
  input: MetaPhewasInputRow;
  /** Its own p, and its threshold α / (associations of the predictor it tested). */
  p: number;
  threshold: number;
  /** Whether the pooled fixed-effect p is significant too. */
  pooledSignificant: boolean;
  /** The smallest own p among the other inputs that tested it (null: none did). */
  othersMinP: number | null;
}

/** Associations significant in exactly one input on its own (whatever the pooled p), by its p. */
export function singleInputAssociations(
  data: MetaPhewasData,
  alpha = META_PHEWAS_ALPHA,
): SingleInputAssociation[] {
  const out: SingleInputAssociation[] = [];
  for (const row of data.results) {
    const own = (data.forest.get(associationKey(row)) ?? []).flatMap((input) => {
      const p = ownP(input);
      if (p === null) return [];
      const threshold = alpha / (data.tested.get(inputPredictorKey(input.label, row)) ?? 1);
      return [{ input, p, threshold }];
    });
    const sig = own.filter((x) => x.p < x.threshold);
    if (sig.length !== 1) continue;
    const others = own.filter((x) => x !== sig[0]).map((x) => x.p);
    out.push({
      row,
      ...sig[0],
      pooledSignificant: row.p !== null && row.p < thresholdOf(data, row),
      othersMinP: others.length ? Math.min(...others) : null,
    });
  }
  return out.sort((a, b) => a.p - b.p);
}

export interface MetaPhewasSummaryView {
  models: MetaPhewasModel[];
  nAssociations: number;
  /** … with k ≥ 2. */
  nMulti: number;
  nSignificant: number;
  nHeterogeneous: number;
}

export function summariseMetaPhewasView(data: MetaPhewasData): MetaPhewasSummaryView {
  return {
    ...data.counts,
    nSignificant: significantAssociations(data).length,
    nHeterogeneous: heterogeneousAssociations(data).rows.length,
  };
}

// --- Person counts as shown ---

export type ShownCount = number | string | null;

export interface ShownAssociationCounts {
  pooled: { n_cases: ShownCount; n_controls: ShownCount };
  /** By input label. */
  inputs: Map<string, { n_cases: ShownCount; n_controls: ShownCount }>;
}

/**
 * The person counts of one association as shown: pooled and per-input cases and controls form
 * one group of engine/privacy.ts `suppressCountGroup` (a count of 1–max shown as `≤max`, the
 * others above max, when one is hidden, as `>=N`), so that no hidden count can be derived from
 * the others (pooled = Σ inputs that contributed).
 */
export function shownCounts(
  row: Pick<MetaPhewasResultRow, 'n_cases' | 'n_controls'>,
  inputs: readonly MetaPhewasInputRow[],
  suppress: Suppression,
): ShownAssociationCounts {
  const group: Record<string, number | null> = { pc: row.n_cases, pn: row.n_controls };
  inputs.forEach((x, i) => {
    group[`c${i}`] = x.n_cases;
    group[`n${i}`] = x.n_controls;
  });
  const shown = suppressCountGroup(group, suppress);
  return {
    pooled: { n_cases: shown.pc, n_controls: shown.pn },
    inputs: new Map(inputs.map((x, i) => [x.label, { n_cases: shown[`c${i}`], n_controls: shown[`n${i}`] }])),
  };
}

// --- Viewer: a predictor's PheWAS meta-analysis rows across runs ---

/**
 * The `meta_phewas_results` rows of a predictor across every run, most significant first. A
 * variant id `chrom:pos:a:b` matches either allele order (the row names the variant with its
 * reference input's alleles).
 */
export async function metaPhewasForPredictor(
  config: EngineConfig,
  predictor: string,
): Promise<MetaPhewasResultRow[]> {
  if (!(await exists(config.database))) return [];
  const m = /^(.+):(\d+):([^:]+):([^:]+)$/.exec(predictor);
  const names = m ? [predictor, `${m[1]}:${m[2]}:${m[4]}:${m[3]}`] : [predictor];
  return withEngineDb(
    config,
    async (conn) =>
      (await hasTable(conn, 'meta_phewas_results'))
        ? (
            await selectObjects<Record<string, unknown>>(
              conn,
              `SELECT * FROM meta_phewas_results WHERE predictor IN ($1, $2)
               ORDER BY neg_log10_p DESC NULLS LAST, run_id, phecode LIMIT 5000`,
              [names[0], names[1] ?? names[0]],
            )
          ).map(resultRow)
        : [],
    { readOnly: true, lockTimeoutMs: 30_000 },
  );
}
