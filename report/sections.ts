/**
 * Sections of a run's page, shared by the HTML report and the viewer: GWAS (Manhattan, QQ,
 * lead loci, top hits), per-locus PheWAS, burden, QC and provenance. Each returns HTML;
 * person counts go through the suppression rule of `export/common.ts` unless `suppress` is off.
 */
import {
  kmPrivacyNote,
  privacyNote,
  type Suppression,
  suppressCount,
  suppressCountGroup,
} from '../engine/privacy.js';
import type {
  BurdenResultRow,
  GwasPhenotypeRow,
  LeadLocusRow,
  PhewasResultRow,
  QcSummaryRow,
  RunRow,
} from '../schemas/results.js';
import type { ManhattanData, QqData, TopHit } from './data.js';
import { type Column, esc, fmtNum, fmtP, plot, table } from './html.js';
import { bonferroniNlp, burdenSpec, manhattanSpec, phewasSpec, qqSpec } from './specs.js';

export interface Links {
  /** URL of a variant's page, or undefined for plain text (the report). */
  variant?: (variantId: string) => string;
  gene?: (gene: string) => string;
  phecode?: (phecode: string) => string;
}

function link(href: string | undefined, text: string): string {
  return href ? `<a href="${esc(href)}">${esc(text)}</a>` : esc(text);
}

/** The page's privacy note; `km`: the page draws Kaplan–Meier curves (how they are coarsened). */
export function privacyBanner(suppress: Suppression, options: { km?: boolean } = {}): string {
  const km = options.km ? ` ${esc(kmPrivacyNote(suppress))}` : '';
  return suppress
    ? `<p class="privacy" id="privacy-note">${esc(privacyNote(suppress))}${km}</p>`
    : `<p class="privacy" id="privacy-note">Privacy: person counts are <b>NOT suppressed</b> (built with --no-suppress). Check the dissemination rules before sharing.${km}</p>`;
}

/** Plot ids must be unique in a page and safe as element ids. */
export function plotId(prefix: string, key: string, i: number): string {
  return `${prefix}-${i}-${key.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 40)}`;
}

export function phenotypesTable(rows: GwasPhenotypeRow[], suppress: Suppression, names: string[]): string {
  const byName = new Map(rows.map((r) => [r.phenotype, r]));
  const all = names.map((n) => byName.get(n) ?? ({ phenotype: n } as Partial<GwasPhenotypeRow>));
  return table(
    all,
    [
      { title: 'phenotype', html: (r) => `<a href="#gwas-${esc(r.phenotype)}">${esc(r.phenotype)}</a>` },
      { title: 'description', html: (r) => esc(r.description ?? '') },
      { title: 'trait', html: (r) => esc(r.trait_type ?? '') },
      ...(['n_samples', 'n_cases', 'n_controls'] as const).map(
        (k): Column<Partial<GwasPhenotypeRow>> => ({
          title: k.replace('n_', ''),
          numeric: true,
          html: (r) =>
            esc(
              fmtCount(
                suppressCountGroup(
                  { n_samples: r.n_samples, n_cases: r.n_cases, n_controls: r.n_controls },
                  suppress,
                )[k],
              ),
            ),
        }),
      ),
      { title: 'λGC (stored)', numeric: true, html: (r) => esc(fmtNum(r.lambda_gc ?? null, 4)) },
    ],
    'phenotypes-table',
  );
}

/** What the page knows about a variant from its GWAS rows (for labels and underflowed p). */
export type KnownVariants = Map<string, { rsid: string | null; nlp: number }>;

export function leadLociTable(rows: LeadLocusRow[], links: Links, known: KnownVariants): string {
  return table(
    rows,
    [
      { title: 'phenotype', html: (r) => esc(r.phenotype) },
      { title: 'locus', numeric: true, html: (r) => esc(r.locus_id) },
      { title: 'lead variant', html: (r) => link(links.variant?.(r.variant_id), r.variant_id) },
      { title: 'rsid', html: (r) => esc(known.get(r.variant_id)?.rsid ?? '') },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, known.get(r.variant_id)?.nlp)) },
      { title: 'β', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      {
        title: 'region',
        html: (r) => esc(`${r.chrom}:${r.start.toLocaleString('en')}–${r.end.toLocaleString('en')}`),
      },
      { title: 'variants in locus', numeric: true, html: (r) => esc(r.n_variants_in_locus) },
    ],
    'lead-loci-table',
    'no lead loci (no variant reached p < 5e-8)',
  );
}

export function topHitsTable(rows: TopHit[], links: Links, suppress: Suppression): string {
  return table(
    rows,
    [
      { title: 'variant', html: (r) => link(links.variant?.(r.variant_id), r.variant_id) },
      { title: 'rsid', html: (r) => esc(r.rsid ?? '') },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.nlp)) },
      { title: '−log10 p', numeric: true, html: (r) => esc(fmtNum(r.nlp, 4)) },
      { title: 'β', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
      { title: 'AF', numeric: true, html: (r) => esc(fmtNum(r.af)) },
      { title: 'n', numeric: true, html: (r) => esc(fmtCount(suppressCount(r.n, suppress))) },
      { title: 'test', html: (r) => esc(r.test) },
    ],
    'top-hits-table',
  );
}

/** Manhattan + QQ of one phenotype. */
export function gwasPlots(
  key: string,
  i: number,
  manhattan: ManhattanData,
  qq: QqData,
  lead: LeadLocusRow[],
  links: Links,
): string {
  const m = manhattanSpec(manhattan, {
    lead: lead.map((l) => ({ variant_id: l.variant_id })),
    hrefPrefix: links.variant ? links.variant('') : undefined,
  });
  const caption = `${manhattan.nVariants.toLocaleString('en')} variants with a p-value; ${manhattan.points.length.toLocaleString('en')} drawn as points (p &lt; 1e-4, at most 5,000), the other ${manhattan.nBinned.toLocaleString('en')} binned into ${manhattan.binBp.toLocaleString('en')} bp × 0.05 (−log10 p) cells, drawn as short vertical bars. Dashed line: p = 5e-8.${manhattan.maxNlp > 30 ? ' The y axis is compressed above 20.' : ''}`;
  return `<div class="row"><div style="flex: 3 1 600px">${plot(plotId('manhattan', key, i), m, caption)}</div>
<div style="flex: 1 1 320px">${plot(plotId('qq', key, i), qqSpec(qq), 'Dashed line: expected under the null. λGC from the median p.')}</div></div>`;
}

/** `gwas.loco.level0` in words (docs/methods.md): as run when the result says, else as asked. */
function level0Words(level0: string | undefined): string {
  if (level0 === 'blocks') return 'ridge regressions per block of variants';
  if (level0 === 'genome') return 'one ridge regression on every step-1 variant, split by chromosome';
  return 'auto — one ridge on every step-1 variant for a quantitative trait in a small cohort, else per block';
}

/**
 * How the GWAS modelled relatedness, from the run's spec: ordinary regression on the covariates,
 * or LOCO offsets from a REGENIE-style whole-genome ridge regression (gwas/step1.ts), with the
 * level 0 that ran (`level0Run`, from the run's result) or else the one asked for. Empty for a
 * spec without a GWAS section.
 */
export function gwasMethodNote(spec: unknown, level0Run?: 'blocks' | 'genome'): string {
  const s = spec as {
    gwas?: { relatedness?: string; spa?: string; loco?: { level0?: string } };
    phewas?: { relatedness?: string };
  } | null;
  const gwas = s?.gwas;
  if (!gwas) return '';
  const model =
    gwas.relatedness === 'loco'
      ? `relatedness and polygenic structure modelled by a REGENIE-style whole-genome ridge regression (step 1, level 0: ${level0Words(level0Run ?? gwas.loco?.level0)}); each variant is tested with the leave-one-chromosome-out prediction of its chromosome as an offset`
      : 'ordinary regression on the covariates (relatedness: none)';
  const phewasLoco = (s?.phewas?.relatedness ?? gwas.relatedness) === 'loco';
  const phewas = phewasLoco
    ? " The lead-locus PheWAS uses each phecode's LOCO prediction (one step 1 over the phecodes) as an offset."
    : '';
  return `<p class="note gwas-method">Association model: ${esc(model)}; saddlepoint p-values for binary traits: ${esc(gwas.spa ?? 'auto')}.${esc(phewas)}</p>`;
}

/**
 * Whom the lead loci's PheWAS was fitted on (`phewas.population`) and how many persons: the
 * cohort (everyone with genotypes and covariates) or the GWAS sample (persons with the trait).
 */
export function phewasPopulationNote(
  population: { kind: 'cohort' | 'gwas-sample'; nSamples: number } | null,
  suppress: Suppression,
): string {
  if (!population) return '';
  const who =
    population.kind === 'cohort'
      ? 'the cohort (every person with genotypes and covariates, with or without the GWAS trait)'
      : 'the GWAS sample (persons with the GWAS trait and every covariate)';
  const n = fmtCount(suppressCount(population.nSamples, suppress));
  return `<p class="note phewas-population">PheWAS population: ${esc(who)}, ${esc(n)} persons.</p>`;
}

/** One PheWAS plot plus a table of its Bonferroni-significant phecodes. */
export function phewasBlock(
  id: string,
  rows: PhewasResultRow[],
  suppress: Suppression,
  links: Links,
  note = '',
): string {
  const tested = rows.filter((r) => r.p !== null);
  const nTested = new Set(tested.map((r) => r.phecode)).size;
  const line = bonferroniNlp(nTested);
  const significant = tested
    .filter((r) => (r.neg_log10_p ?? 0) >= line)
    .sort((a, b) => (b.neg_log10_p ?? 0) - (a.neg_log10_p ?? 0));
  const caption = `${nTested} phecodes tested, ${rows.length - tested.length} not tested (too few cases etc.). ▲ β &gt; 0, ▼ β &lt; 0. Dashed line: Bonferroni, p = 0.05 / ${nTested}.${note}`;
  const spec = phewasSpec(rows, { suppress, hrefPrefix: links.phecode ? links.phecode('') : undefined });
  return `${plot(id, spec, caption)}
${phewasTable(significant.slice(0, 25), suppress, links, 'phewas-significant', 'no phecode passes the Bonferroni line')}`;
}

export function phewasTable(
  rows: PhewasResultRow[],
  suppress: Suppression,
  links: Links,
  cls = 'phewas-table',
  empty = 'none',
): string {
  const counts = (r: PhewasResultRow) =>
    suppressCountGroup({ n_cases: r.n_cases, n_controls: r.n_controls, n_excluded: r.n_excluded }, suppress);
  return table(
    rows,
    [
      { title: 'phecode', html: (r) => link(links.phecode?.(r.phecode), r.phecode) },
      { title: 'description', html: (r) => esc(r.description ?? '') },
      { title: 'category', html: (r) => esc(r.category ?? '') },
      {
        title: 'predictor',
        html: (r) =>
          r.predictor_type === 'variant' ? link(links.variant?.(r.predictor), r.predictor) : esc(r.predictor),
      },
      { title: 'cases', numeric: true, html: (r) => esc(fmtCount(counts(r).n_cases)) },
      { title: 'controls', numeric: true, html: (r) => esc(fmtCount(counts(r).n_controls)) },
      { title: 'OR', numeric: true, html: (r) => esc(fmtNum(r.odds_ratio)) },
      {
        title: '95% CI',
        numeric: true,
        html: (r) =>
          r.ci_low === null || r.ci_high === null ? '' : esc(`${fmtNum(r.ci_low)}–${fmtNum(r.ci_high)}`),
      },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.neg_log10_p)) },
      { title: 'test', html: (r) => esc(r.test ?? '') },
      { title: 'status', html: (r) => esc(r.status) },
    ],
    cls,
    empty,
  );
}

export function burdenTable(rows: BurdenResultRow[], suppress: Suppression, links: Links): string {
  return table(
    rows,
    [
      { title: 'gene', html: (r) => link(links.gene?.(r.gene), r.gene) },
      { title: 'mask', html: (r) => esc(r.mask) },
      { title: 'AAF bin', html: (r) => esc(r.aaf_bin) },
      { title: 'phenotype', html: (r) => esc(r.phenotype) },
      { title: 'variants', numeric: true, html: (r) => esc(r.n_variants) },
      { title: 'carriers', numeric: true, html: (r) => esc(fmtCount(suppressCount(r.n_carriers, suppress))) },
      { title: 'β', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p)) },
      { title: 'test', html: (r) => esc(r.test ?? '') },
      { title: 'status', html: (r) => esc(r.status) },
    ],
    'burden-table',
  );
}

/** The burden section: burden PheWAS plot (genotype-first) and/or burden tests plot and table. */
export function burdenSection(
  burden: BurdenResultRow[],
  burdenPhewas: PhewasResultRow[],
  suppress: Suppression,
  links: Links,
): string {
  const parts: string[] = [];
  if (burdenPhewas.length > 0) {
    const masks = new Set(burdenPhewas.map((r) => r.predictor)).size;
    parts.push(
      `<h3>Burden PheWAS (genotype-first)</h3>`,
      phewasBlock(
        'burden-phewas',
        burdenPhewas,
        suppress,
        links,
        ` ${masks} burden predictor(s) (gene/mask/AAF bin) on one plot; hover for the predictor.`,
      ),
    );
  }
  if (burden.length > 0) {
    parts.push(
      '<h3>Burden tests</h3>',
      plot(
        'burden-tests',
        burdenSpec(burden, suppress),
        'One point per gene × mask × AAF bin × phenotype. Dashed line: Bonferroni over the tests shown.',
      ),
      burdenTable(burden, suppress, links),
    );
  }
  return parts.length ? parts.join('\n') : '<p class="empty">no burden results in this run</p>';
}

/**
 * QC summary. Steps that count persons (anything but `variant…` steps) go through the
 * group suppression rule, since before − removed = after.
 */
export function qcTable(rows: QcSummaryRow[], suppress: Suppression): string {
  const counts = (r: QcSummaryRow) =>
    r.step.startsWith('variant')
      ? { n_before: r.n_before, n_removed: r.n_removed, n_after: r.n_after }
      : suppressCountGroup({ n_before: r.n_before, n_removed: r.n_removed, n_after: r.n_after }, suppress);
  return table(
    rows,
    [
      { title: 'step', html: (r) => esc(r.step) },
      { title: 'filter', html: (r) => esc(r.filter) },
      { title: 'threshold', numeric: true, html: (r) => esc(fmtNum(r.threshold)) },
      { title: 'before', numeric: true, html: (r) => esc(fmtCount(counts(r).n_before)) },
      { title: 'removed', numeric: true, html: (r) => esc(fmtCount(counts(r).n_removed)) },
      { title: 'after', numeric: true, html: (r) => esc(fmtCount(counts(r).n_after)) },
    ],
    'qc-table',
    'no QC summary recorded',
  );
}

/** A (possibly suppressed) count for a table cell: `12,345`, `≤20`, `>=4980` or empty. */
export function fmtCount(v: number | string | null): string {
  return typeof v === 'number' ? v.toLocaleString('en') : (v ?? '');
}

function prettyJson(text: string | null): string {
  if (text === null) return '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** Run provenance: spec, release, phecode maps with sha256, software, workflow, timings. */
export function provenance(run: RunRow, spec: unknown, assembly: string | null = null): string {
  let maps: [string, string][] = [];
  try {
    const parsed = JSON.parse(run.phecode_maps_json) as Record<string, { sha256?: string }>;
    maps = Object.entries(parsed).map(([v, m]) => [v, m?.sha256 ?? '']);
  } catch {
    maps = [];
  }
  const rows: [string, string][] = [
    ['run id', run.run_id],
    ['study', run.study_id],
    ['status', run.status + (run.error ? ` (${run.error})` : '')],
    ['release', run.release_id],
    ['release fingerprint', run.release_fingerprint],
    ['genome assembly', assembly ?? 'not recorded'],
    ['spec sha256', run.spec_hash],
    ['software version', run.software_version],
    ['started', run.started_at],
    ['finished', run.finished_at ?? ''],
    ['workflow', [run.workflow_id, run.workflow_run_id].filter(Boolean).join(' / ')],
  ];
  const kv = rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(v)}</code></td></tr>`).join('');
  const mapRows = maps.map(([v, h]) => `<tr><td>${esc(v)}</td><td><code>${esc(h)}</code></td></tr>`).join('');
  return `<table class="provenance-table">${kv}</table>
<h3>Phecode maps</h3>
${maps.length ? `<table class="phecode-maps-table"><thead><tr><th>version</th><th>sha256</th></tr></thead><tbody>${mapRows}</tbody></table>` : '<p class="empty">none recorded</p>'}
<h3>Timings (ms)</h3><pre>${esc(prettyJson(run.timings_json))}</pre>
<h3>Study spec</h3>
${spec === null ? '<p class="empty">the spec recorded for this study has a different hash from the run\'s (the study was changed since); see the spec hash above</p>' : `<pre class="spec-json">${esc(JSON.stringify(spec, null, 2))}</pre>`}`;
}
