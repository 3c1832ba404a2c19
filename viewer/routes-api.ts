/** The viewer's JSON API: the same data as the pages, person counts suppressed alike. */
import { type Suppression, suppressCount, suppressCountGroup, suppressReason } from '../engine/privacy.js';
import { listRuns } from '../engine/results.js';
import { requireRun } from '../export/common.js';
import {
  coxForPhecode,
  geneResults,
  gwasPhenotypeNames,
  manhattanData,
  phewasForPhecode,
  qqData,
  topHits,
  variantsInGene,
} from '../report/data.js';
import { heterogeneousLeads, isMetaRun, metaRunData, singleInputLoci } from '../report/data-meta.js';
import {
  associationKey,
  heterogeneousAssociations,
  type MetaPhewasData,
  readMetaPhewas,
  shownCounts,
  significantAssociations,
  singleInputAssociations,
  summariseMetaPhewasView,
} from '../report/data-meta-phewas.js';
import { specForDisplay } from '../report/sections-meta.js';
import { coxCounts } from '../report/specs-cox.js';
import type { MetaPhewasResultRow, PhewasCoxResultRow } from '../schemas/results.js';
import {
  badRequest,
  type Context,
  check,
  checkRunId,
  GENE,
  json,
  notFound,
  PHECODE,
  phenotypeOf,
  type Reply,
  variantResults,
} from './routes-common.js';
import { search } from './search.js';

export async function apiRuns(ctx: Context): Promise<Reply> {
  return json({ runs: await listRuns(ctx.config) });
}

export async function apiRun(ctx: Context, [runId]: string[]): Promise<Reply> {
  const run = await requireRun(ctx.config, checkRunId(runId));
  const phewas = await readMetaPhewas(ctx.config, runId);
  const metaPhewas = phewas ? { meta_phewas: metaPhewasJson(phewas, ctx.suppress) } : {};
  if (await isMetaRun(ctx.config, runId))
    return json({ run, phenotypes: [], meta: await metaRunJson(ctx, runId), ...metaPhewas });
  return json({ run, phenotypes: await gwasPhenotypeNames(ctx.config, runId), ...metaPhewas });
}

/**
 * A run's PheWAS meta-analysis (stratified run or federated meta run): the summary, the
 * significant associations (most significant first) with their per-input rows, the
 * heterogeneous ones and those significant in one input only. Person counts of an association
 * (pooled and per input) are suppressed as one group (report/data-meta-phewas.ts `shownCounts`).
 */
function metaPhewasJson(d: MetaPhewasData, suppress: Suppression) {
  const het = heterogeneousAssociations(d);
  const inputsOf = (r: MetaPhewasResultRow) => d.forest.get(associationKey(r)) ?? [];
  const id = (r: MetaPhewasResultRow) => ({ model: r.model, predictor: r.predictor, phecode: r.phecode });
  return {
    inputs: d.labels,
    summary: summariseMetaPhewasView(d),
    significant: significantAssociations(d).map(({ row, threshold }) => {
      const shown = shownCounts(row, inputsOf(row), suppress);
      return {
        ...row,
        ...shown.pooled,
        threshold,
        inputs: inputsOf(row).map((x) => ({ ...x, ...shown.inputs.get(x.label) })),
      };
    }),
    heterogeneous: { m: het.m, threshold: het.threshold, associations: het.rows.map((s) => id(s.row)) },
    single_input: singleInputAssociations(d).map((s) => ({
      ...id(s.row),
      input: s.input.label,
      p: s.p,
      threshold: s.threshold,
      pooled_significant: s.pooledSignificant,
      others_min_p: s.othersMinP,
    })),
  };
}

/**
 * A meta run's inputs (person counts suppressed as one group per input), lead loci with their
 * per-input estimates and leave-one-out, and the heterogeneity and single-input calls.
 */
async function metaRunJson(ctx: Context, runId: string) {
  const d = await metaRunData(ctx.config, runId);
  const het = heterogeneousLeads(d.leads, d.leadP);
  return {
    trait: d.trait,
    lead_p: d.leadP,
    summary: d.summary,
    spec: specForDisplay(d.spec, ctx.suppress),
    inputs: d.inputs.map((x) => {
      const shown = suppressCountGroup(
        { n: x.n, n_cases: x.n_cases, n_controls: x.n_controls },
        ctx.suppress,
      );
      return { ...x, ...shown };
    }),
    lead_loci: d.leads.map((l) => ({
      ...l,
      forest: d.forest.get(l.variant_id) ?? [],
      leave_one_out: d.loo.get(l.variant_id) ?? [],
    })),
    heterogeneous: {
      m: het.m,
      threshold: het.threshold,
      variant_ids: het.rows.map((r) => r.lead.variant_id),
    },
    single_input: singleInputLoci(d.inputLoci).map((r) => ({
      variant_id: r.variant_id,
      input: r.label,
      p: r.p,
      pooled_significant: r.pooled_significant,
      meta_p: r.meta_p,
    })),
  };
}

export async function apiGwas(ctx: Context, [runId, phenotype]: string[]): Promise<Reply> {
  await phenotypeOf(ctx, runId, phenotype);
  const limit = Number(ctx.query.get('limit') ?? 50);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw badRequest('limit (1–10000)');
  const [manhattan, qq, top] = await Promise.all([
    manhattanData(ctx.config, runId, phenotype),
    qqData(ctx.config, runId, phenotype),
    topHits(ctx.config, runId, phenotype, limit),
  ]);
  return json({ run_id: runId, phenotype, top: suppressTop(top, ctx.suppress), manhattan, qq });
}

function suppressTop<T extends { n: number | null }>(rows: T[], suppress: Suppression) {
  return rows.map((r) => ({ ...r, n: suppressCount(r.n, suppress) }));
}

export async function apiVariant(ctx: Context, [variantId]: string[]): Promise<Reply> {
  const { gwas, phewas, cox, meta, metaPhewas } = await variantResults(ctx, variantId, 'variant id');
  return json({
    variant_id: variantId,
    gwas: suppressTop(gwas, ctx.suppress),
    phewas: suppressPhewas(phewas, ctx.suppress),
    cox: suppressCox(cox, ctx.suppress),
    meta: meta.map((r) => ({ ...r, n: suppressCount(r.n, ctx.suppress) })),
    meta_phewas: metaPhewas.map((r) => ({
      ...r,
      ...suppressCountGroup({ n_cases: r.n_cases, n_controls: r.n_controls }, ctx.suppress),
    })),
  });
}

function suppressPhewas<
  T extends { n_cases: number; n_controls: number; n_excluded: number; reason: string | null },
>(rows: T[], suppress: Suppression) {
  return rows.map((r) => {
    const shown = suppressCountGroup(
      { n_cases: r.n_cases, n_controls: r.n_controls, n_excluded: r.n_excluded },
      suppress,
    );
    return { ...r, ...shown, reason: suppressReason(r.reason, shown, suppress) };
  });
}

/** A Cox skip reason quoting a person count (`9 events < minEvents 20`). */
const COX_REASON_COUNT = /^(\d+) (events|controls|persons|carriers)\b/;

/**
 * Cox rows with their person counts as shown (one group, engine/privacy.ts) and a reason that
 * quotes a count of 1–20 shown as `≤20`. Person-years stay (not a person count).
 */
function suppressCox(rows: PhewasCoxResultRow[], suppress: Suppression) {
  return rows.map((r) => {
    const shown = coxCounts(r, suppress);
    const m = r.reason ? COX_REASON_COUNT.exec(r.reason) : null;
    const quoted = m ? (m[2] === 'events' ? shown.n_events : suppressCount(Number(m[1]), suppress)) : null;
    const reason = m && r.reason ? `${quoted}${r.reason.slice(m[1].length)}` : r.reason;
    return { ...r, ...shown, reason };
  });
}

export async function apiGene(ctx: Context, [gene]: string[]): Promise<Reply> {
  check(gene, GENE, 'gene');
  const { burden, phewas } = await geneResults(ctx.config, gene);
  const variants = await variantsInGene(ctx.config, gene);
  if (burden.length === 0 && phewas.length === 0 && variants.length === 0) throw notFound();
  return json({
    gene,
    variants,
    burden: burden.map((b) => ({
      ...b,
      n_carriers: suppressCount(b.n_carriers, ctx.suppress),
    })),
    phewas: suppressPhewas(phewas, ctx.suppress),
  });
}

export async function apiPhecode(ctx: Context, [phecode]: string[]): Promise<Reply> {
  check(phecode, PHECODE, 'phecode');
  const [rows, cox] = await Promise.all([
    phewasForPhecode(ctx.config, phecode),
    coxForPhecode(ctx.config, phecode),
  ]);
  if (rows.length === 0 && cox.length === 0) throw notFound();
  return json({ phecode, phewas: suppressPhewas(rows, ctx.suppress), cox: suppressCox(cox, ctx.suppress) });
}

export async function apiSearch(ctx: Context): Promise<Reply> {
  return json({ hits: await search(ctx.config, ctx.query.get('q') ?? '') });
}
