/** The viewer's HTML pages: runs, a run's report, GWAS, variant, gene, phecode, search, assets. */
import { type Suppression, suppressCountGroup } from '../engine/privacy.js';
import { listRuns } from '../engine/results.js';
import {
  coxForPhecode,
  geneResults,
  gwasPhenotypeNames,
  kmCurves,
  manhattanData,
  phewasForPhecode,
  qqData,
  runTables,
  topHits,
  variantsInGene,
} from '../report/data.js';
import { isMetaRun, type MetaVariantRow, metaRunIds } from '../report/data-meta.js';
import { assets, esc, fmtNum, fmtP, page, table } from '../report/html.js';
import { buildRunReportHtml } from '../report/index.js';
import { buildMetaReportHtml } from '../report/meta.js';
import {
  burdenSection,
  fmtCount,
  gwasPlots,
  leadLociTable,
  phewasBlock,
  phewasTable,
  plotId,
  privacyBanner,
  topHitsTable,
} from '../report/sections.js';
import { coxBlock, coxTable, kmBlock } from '../report/sections-cox.js';
import { ratioText } from '../report/sections-meta-phewas.js';
import { ratioName } from '../report/specs-meta-phewas.js';
import type { MetaPhewasResultRow } from '../schemas/results.js';
import {
  type Context,
  check,
  checkRunId,
  GENE,
  gwasLink,
  html,
  links,
  notFound,
  PHECODE,
  phenotypeOf,
  type Reply,
  runLink,
  variantResults,
} from './routes-common.js';
import { search } from './search.js';

// --- Page shell ---

function header(q = ''): string {
  return `<header class="top"><a href="/">biobank results</a><a href="/">runs</a>
<form action="/search" method="get" role="search"><input name="q" value="${esc(q)}" placeholder="rsid, chr:pos, gene or phecode" aria-label="search"></form></header>`;
}

export function viewerPage(title: string, body: string, q = ''): string {
  return page({ title: `${title} · biobank`, body, inline: false, header: header(q) });
}

// --- Pages ---

/** KM plots on a phecode page: at most this many (run × predictor, most significant first). */
const PHECODE_KM_PLOTS = 6;

export async function runsPage(ctx: Context): Promise<Reply> {
  const [runs, meta] = await Promise.all([listRuns(ctx.config), metaRunIds(ctx.config)]);
  const body = `<h1>Runs</h1><p class="meta">${runs.length} run(s) in ${esc(ctx.config.database)}</p>
${table(
  runs,
  [
    { title: 'run', html: (r) => `<a href="${esc(runLink(r.run_id))}">${esc(r.run_id)}</a>` },
    { title: 'study', html: (r) => esc(r.study_id) },
    { title: 'kind', html: (r) => (meta.has(r.run_id) ? 'meta-analysis' : 'study') },
    { title: 'status', html: (r) => esc(r.status) },
    { title: 'release', html: (r) => esc(r.release_id) },
    { title: 'started', html: (r) => esc(r.started_at) },
    { title: 'finished', html: (r) => esc(r.finished_at ?? '') },
    { title: 'software', html: (r) => esc(r.software_version) },
  ],
  'runs-table',
  'no runs recorded yet: run a study first (biobank study run …)',
)}`;
  return html(viewerPage('runs', body));
}

export async function runPage(ctx: Context, [runId]: string[]): Promise<Reply> {
  checkRunId(runId);
  if (await isMetaRun(ctx.config, runId)) {
    const { html: doc } = await buildMetaReportHtml(ctx.config, runId, {
      noSuppress: !ctx.suppress,
      links,
      inline: false,
      header: header(),
    });
    return html(doc);
  }
  const names = await gwasPhenotypeNames(ctx.config, runId).catch(() => []);
  const nav = names.length
    ? `<p class="meta">GWAS pages: ${names.map((n) => `<a href="${esc(gwasLink(runId, n))}">${esc(n)}</a>`).join(' · ')}</p>`
    : '';
  const { html: doc } = await buildRunReportHtml(ctx.config, runId, {
    noSuppress: !ctx.suppress,
    links: { ...links, variant: links.variant },
    inline: false,
    header:
      header() + (nav ? `<div style="max-width:1200px;margin:0 auto;padding:8px 24px 0">${nav}</div>` : ''),
  });
  return html(doc);
}

export async function gwasPage(ctx: Context, [runId, phenotype]: string[]): Promise<Reply> {
  await phenotypeOf(ctx, runId, phenotype);
  const [manhattan, qq, top, tables] = await Promise.all([
    manhattanData(ctx.config, runId, phenotype),
    qqData(ctx.config, runId, phenotype),
    topHits(ctx.config, runId, phenotype, 50),
    runTables(ctx.config, runId),
  ]);
  const lead = tables.lead.filter((l) => l.phenotype === phenotype);
  const meta = tables.phenotypes.find((p) => p.phenotype === phenotype);
  const known = new Map(top.map((t) => [t.variant_id, { rsid: t.rsid, nlp: t.nlp }]));
  for (const p of manhattan.points) known.set(p.variant_id, { rsid: p.rsid, nlp: p.nlp });
  const body = `<h1>GWAS: ${esc(phenotype)}${meta?.description ? ` — ${esc(meta.description)}` : ''}</h1>
<p class="meta">run <a href="${esc(runLink(runId))}">${esc(runId)}</a></p>
${privacyBanner(ctx.suppress)}
${gwasPlots(phenotype, 0, manhattan, qq, lead, links)}
<h2>Lead loci</h2>${leadLociTable(lead, links, known)}
<h2>Top hits</h2>${topHitsTable(top, links, ctx.suppress)}`;
  return html(viewerPage(`GWAS ${phenotype}`, body));
}

export async function variantPage(ctx: Context, [variantId]: string[]): Promise<Reply> {
  const { gwas, phewas, cox, meta, metaPhewas } = await variantResults(
    ctx,
    variantId,
    'variant id (expected chrom:pos:ref:alt)',
  );
  const km = cox.length ? await kmCurves(ctx.config, { predictors: [variantId], perPredictor: 4 }) : [];
  const coxRuns = [...new Set(cox.map((r) => r.run_id))];
  const coxParts = coxRuns.map((runId, i) => {
    const rows = cox.filter((r) => r.run_id === runId);
    return `<section class="card cox-phewas"><h3>Time-to-event PheWAS (Cox) in run <a href="${esc(runLink(runId))}">${esc(runId)}</a></h3>
${coxBlock(
  variantId,
  i,
  rows,
  km.filter((c) => c.run_id === runId),
  ctx.suppress,
  links,
)}
<details><summary>all ${rows.length} phecodes</summary>${coxTable(rows, ctx.suppress, links, 'cox-all')}</details></section>`;
  });
  const rsid = gwas.find((g) => g.rsid)?.rsid;
  const runs = [...new Set(phewas.map((r) => r.run_id))];
  const phewasParts = runs.map((runId, i) => {
    const rows = phewas.filter((r) => r.run_id === runId);
    return `<section class="card"><h3>PheWAS in run <a href="${esc(runLink(runId))}">${esc(runId)}</a></h3>
${phewasBlock(plotId('phewas', runId, i), rows, ctx.suppress, links)}
<details><summary>all ${rows.length} phecodes</summary>${phewasTable(rows, ctx.suppress, links, 'phewas-all')}</details></section>`;
  });
  const body = `<h1>Variant ${esc(variantId)}${rsid ? ` (${esc(rsid)})` : ''}</h1>
${privacyBanner(ctx.suppress, { km: km.length > 0 })}
<h2>PheWAS across phecodes</h2>
${phewasParts.length ? phewasParts.join('\n') : '<p class="empty">no PheWAS of this variant</p>'}
${coxParts.length ? `<h2>Time-to-event PheWAS (Cox)</h2>\n${coxParts.join('\n')}` : ''}
<h2>GWAS results across runs</h2>
${table(
  gwas,
  [
    { title: 'run', html: (r) => `<a href="${esc(runLink(r.run_id))}">${esc(r.run_id)}</a>` },
    {
      title: 'phenotype',
      html: (r) => `<a href="${esc(gwasLink(r.run_id, r.phenotype))}">${esc(r.phenotype)}</a>`,
    },
    { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.nlp)) },
    { title: 'β', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
    { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
    { title: 'AF', numeric: true, html: (r) => esc(fmtNum(r.af)) },
    { title: 'test', html: (r) => esc(r.test) },
  ],
  'variant-gwas-table',
)}
${meta.length ? `<h2>Meta-analysis results across runs</h2>\n${metaVariantTable(meta)}` : ''}
${metaPhewas.length ? `<h2>PheWAS meta-analysis across strata or sites</h2>\n${metaPhewasVariantTable(metaPhewas, ctx.suppress)}` : ''}`;
  return html(viewerPage(variantId, body));
}

/** A variant's meta_results rows (β per copy of each row's effect allele). */
function metaVariantTable(rows: MetaVariantRow[]): string {
  return table(
    rows,
    [
      { title: 'run', html: (r) => `<a href="${esc(runLink(r.run_id))}">${esc(r.run_id)}</a>` },
      { title: 'effect / other', html: (r) => esc(`${r.effect_allele} / ${r.other_allele}`) },
      { title: 'k', numeric: true, html: (r) => esc(r.k) },
      { title: 'direction', html: (r) => `<code>${esc(r.direction)}</code>` },
      { title: 'β (fixed)', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.neg_log10_p)) },
      { title: 'β (random)', numeric: true, html: (r) => esc(fmtNum(r.beta_random)) },
      { title: 'p (random)', numeric: true, html: (r) => esc(fmtP(r.p_random)) },
      { title: 'Q p', numeric: true, html: (r) => esc(fmtP(r.q_p)) },
      { title: 'I² %', numeric: true, html: (r) => esc(r.i2 === null ? '' : r.i2.toFixed(1)) },
      { title: 'status', html: (r) => esc(r.status) },
    ],
    'variant-meta-table',
  );
}

/**
 * A predictor's `meta_phewas_results` rows across runs (pooled cases and controls shown as one
 * group of the small-cell rule; the run's page has the forest plots).
 */
function metaPhewasVariantTable(rows: MetaPhewasResultRow[], suppress: Suppression): string {
  const shown = (r: MetaPhewasResultRow) =>
    suppressCountGroup({ n_cases: r.n_cases, n_controls: r.n_controls }, suppress);
  return table(
    rows,
    [
      { title: 'run', html: (r) => `<a href="${esc(runLink(r.run_id))}#meta-phewas">${esc(r.run_id)}</a>` },
      {
        title: 'phecode',
        html: (r) => `<a href="${esc(links.phecode?.(r.phecode) ?? '#')}">${esc(r.phecode)}</a>`,
      },
      { title: 'description', html: (r) => esc(r.description ?? '') },
      {
        title: 'ratio (fixed, 95% CI)',
        html: (r) => esc(`${ratioName(r.model)} ${ratioText(r.beta, r.se)}`),
      },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.neg_log10_p)) },
      { title: 'k', numeric: true, html: (r) => esc(r.k) },
      { title: 'direction', html: (r) => `<code>${esc(r.direction)}</code>` },
      { title: 'Q p', numeric: true, html: (r) => esc(fmtP(r.q_p)) },
      { title: 'I² %', numeric: true, html: (r) => esc(r.i2 === null ? '' : r.i2.toFixed(1)) },
      { title: 'cases', numeric: true, html: (r) => esc(fmtCount(shown(r).n_cases)) },
      { title: 'controls', numeric: true, html: (r) => esc(fmtCount(shown(r).n_controls)) },
      { title: 'status', html: (r) => esc(r.status) },
    ],
    'variant-meta-phewas-table',
  );
}

export async function genePage(ctx: Context, [gene]: string[]): Promise<Reply> {
  check(gene, GENE, 'gene');
  const { burden, phewas } = await geneResults(ctx.config, gene);
  const variants = await variantsInGene(ctx.config, gene);
  if (burden.length === 0 && phewas.length === 0 && variants.length === 0) throw notFound();
  const runs = [...new Set([...burden.map((b) => b.run_id), ...phewas.map((p) => p.run_id)])];
  const parts = runs.map(
    (runId) => `<section class="card"><h3>Run <a href="${esc(runLink(runId))}">${esc(runId)}</a></h3>
${burdenSection(
  burden.filter((b) => b.run_id === runId),
  phewas.filter((p) => p.run_id === runId),
  ctx.suppress,
  links,
)}</section>`,
  );
  const variantRows = variants
    .map(
      (v) =>
        `<tr><td>${esc(v.release_id)}</td><td><a href="${esc(links.variant?.(v.variant_id) ?? '#')}">${esc(v.variant_id)}</a></td><td>${esc(v.rsid ?? '')}</td><td>${esc(v.consequence ?? '')}</td><td class="num">${v.af === null ? '' : esc(Number(v.af).toPrecision(3))}</td></tr>`,
    )
    .join('');
  const variantTable = variants.length
    ? `<table class="gene-variants"><thead><tr><th>release</th><th>variant</th><th>rsid</th><th>consequence</th><th>AF</th></tr></thead><tbody>${variantRows}</tbody></table>`
    : '<p class="empty">no variants of this gene in the registered releases</p>';
  const body = `<h1>Gene ${esc(gene)}</h1>${privacyBanner(ctx.suppress)}<h2>Burden results</h2>${parts.join('\n') || '<p class="empty">no burden results for this gene</p>'}
<h2>Variants in ${esc(gene)} (${variants.length}${variants.length === 500 ? '+' : ''})</h2>${variantTable}`;
  return html(viewerPage(gene, body));
}

export async function phecodePage(ctx: Context, [phecode]: string[]): Promise<Reply> {
  check(phecode, PHECODE, 'phecode');
  const [rows, cox] = await Promise.all([
    phewasForPhecode(ctx.config, phecode),
    coxForPhecode(ctx.config, phecode),
  ]);
  if (rows.length === 0 && cox.length === 0) throw notFound();
  const km = cox.length
    ? (await kmCurves(ctx.config, { phecode, perPredictor: 1 })).slice(0, PHECODE_KM_PLOTS)
    : [];
  const d = [...rows, ...cox].find((r) => r.description)?.description;
  const kmParts = km.map((c, i) => {
    const scale = cox.find((r) => r.run_id === c.run_id && r.predictor === c.predictor)?.time_scale ?? 'age';
    return `<section class="card km"><h3>${esc(c.predictor)} · run <a href="${esc(runLink(c.run_id))}">${esc(c.run_id)}</a></h3>${kmBlock(plotId('km', `${c.predictor}-${c.run_id}`, i), c, scale, ctx.suppress)}</section>`;
  });
  const coxPart = cox.length
    ? `<h2>Time-to-event associations (Cox) across predictors and runs</h2>${coxTable(cox, ctx.suppress, links, 'phecode-cox-table', 'none', true)}
${kmParts.length ? `<div class="row">${kmParts.join('\n')}</div>` : ''}`
    : '';
  const body = `<h1>Phecode ${esc(phecode)}${d ? ` — ${esc(d)}` : ''}</h1>${privacyBanner(ctx.suppress, { km: km.length > 0 })}
<h2>Associations across predictors and runs</h2>${phewasTable(rows, ctx.suppress, links, 'phecode-table')}
${coxPart}`;
  return html(viewerPage(`phecode ${phecode}`, body));
}

export async function searchPage(ctx: Context): Promise<Reply> {
  const q = ctx.query.get('q') ?? '';
  const hits = await search(ctx.config, q);
  if (hits.length === 1) return { redirect: hits[0].url };
  const body = `<h1>Search</h1><p class="meta">${hits.length} result(s) for <b>${esc(q)}</b></p>
${
  hits.length
    ? `<ul class="search-results">${hits.map((h) => `<li>${esc(h.type)}: <a href="${esc(h.url)}">${esc(h.label)}</a></li>`).join('')}</ul>`
    : '<p class="empty">Nothing found. Search by rsid (rs123), chr:pos (1:55039974), a variant id (1:55039974:G:T), a gene symbol (PCSK9) or a phecode (272.1).</p>'
}`;
  return html(viewerPage('search', body, q));
}

export async function staticAsset(_ctx: Context, [name]: string[]): Promise<Reply> {
  const all = assets();
  if (!Object.hasOwn(all, name)) throw notFound();
  return { type: name.endsWith('.css') ? 'css' : 'js', body: all[name] };
}
