/**
 * Sections of a PheWAS meta-analysis (report/data-meta-phewas.ts), shared by the stratified
 * study's report (report/sections-strata.ts), the meta run's report (report/meta.ts) and the
 * viewer (which shows those reports): a summary line; the associations significant in the
 * pooled analysis but heterogeneous; those significant in only one input; and a forest plot per
 * significant association (at most `META_PHEWAS_MAX_FORESTS`, the most significant), with the
 * per-input rows under it.
 *
 * Person counts (cases and controls, pooled and per input) go through the small-cell rule of
 * engine/privacy.ts, all the counts of one association as one group (`shownCounts`), and the
 * section's privacy note says so.
 */
import { type Suppression, smallCellMax, suppressedLabel } from '../engine/privacy.js';
import type { MetaPhewasResultRow } from '../schemas/results.js';
import { Z_975 } from '../stats/distributions.js';
import {
  associationKey,
  heterogeneousAssociations,
  META_PHEWAS_MAX_FORESTS,
  type MetaPhewasData,
  type MetaPhewasInputRow,
  ownP,
  type ShownCount,
  type SignificantAssociation,
  shownCounts,
  significantAssociations,
  singleInputAssociations,
  summariseMetaPhewasView,
} from './data-meta-phewas.js';
import { esc, fmtNum, fmtP, plot, table } from './html.js';
import { fmtCount, type Links, plotId } from './sections.js';
import { fmtI2, heterogeneityLine, phewasForestSpec, ratioName } from './specs-meta-phewas.js';

/** What the inputs are called: the strata of a stratified study, or a meta run's inputs. */
export type InputNoun = 'stratum' | 'input';

const plural = (noun: InputNoun) => (noun === 'stratum' ? 'strata' : 'inputs');

function link(href: string | undefined, text: string): string {
  return href ? `<a href="${esc(href)}">${esc(text)}</a>` : esc(text);
}

const predictorHtml = (r: Pick<MetaPhewasResultRow, 'predictor' | 'predictor_type'>, links: Links) =>
  r.predictor_type === 'variant' ? link(links.variant?.(r.predictor), r.predictor) : esc(r.predictor);
const phecodeHtml = (r: Pick<MetaPhewasResultRow, 'phecode'>, links: Links) =>
  link(links.phecode?.(r.phecode), r.phecode);
const count = (v: ShownCount) => esc(fmtCount(v));

/** exp(β) with its 95% interval, e.g. `1.35 (1.20–1.52)`; empty without an estimate. */
export function ratioText(beta: number | null, se: number | null): string {
  if (beta === null || !Number.isFinite(beta)) return '';
  const r = fmtNum(Math.exp(beta));
  if (se === null || !(se > 0)) return r;
  return `${r} (${fmtNum(Math.exp(beta - Z_975 * se))}–${fmtNum(Math.exp(beta + Z_975 * se))})`;
}

/** The summary line: associations, meta-analysed (k ≥ 2), significant, heterogeneous. */
export function metaPhewasSummary(data: MetaPhewasData, noun: InputNoun): string {
  const s = summariseMetaPhewasView(data);
  const h = heterogeneousAssociations(data);
  const models = s.models.map((m) => (m === 'cox' ? 'Cox (HR)' : 'logistic (OR)')).join(', ');
  return `<p class="meta meta-phewas-summary">${esc(s.nAssociations.toLocaleString('en'))} associations (predictor × phecode, ${esc(models)}) across ${data.labels.length} ${plural(noun)} (${esc(data.labels.join(', '))}) · <b>${esc(s.nMulti.toLocaleString('en'))}</b> meta-analysed (k ≥ 2) · <b>${esc(s.nSignificant.toLocaleString('en'))}</b> significant · <b>${esc(s.nHeterogeneous.toLocaleString('en'))}</b> heterogeneous (Q p &lt; 0.05 / m = ${esc(fmtP(h.threshold))}, m = ${h.m})</p>`;
}

/** The method and privacy notes of the section. */
export function metaPhewasNotes(noun: InputNoun, suppress: Suppression): string {
  const max = smallCellMax(suppress);
  const privacy =
    max > 0
      ? `Person counts in these tables (cases and controls, pooled and per ${noun}; Cox: events and persons at risk without an event) from 1 to ${max} are shown as ${esc(suppressedLabel(suppress))}; when a count of an association is hidden, its other counts (the pooled sums and the other ${plural(noun)}') above ${max} are shown rounded down to a multiple of ${max} as &gt;=N, so the hidden one cannot be derived by subtraction. A pooled count is empty when a ${noun} did not give its count.`
      : 'Person counts in these tables are NOT suppressed (--no-suppress).';
  return `<p class="note meta-phewas-method">Each predictor × phecode association is meta-analysed across the ${plural(noun)} that tested it: fixed-effect inverse-variance β (Willer, Li &amp; Abecasis 2010), DerSimonian &amp; Laird (1986) random effects, Cochran's Q (k − 1 df) and I² (Higgins &amp; Thompson 2002). β is a log odds ratio (logistic) or log hazard ratio (Cox), shown as OR / HR. Significant: fixed-effect p &lt; 0.05 / (associations of that predictor with k ≥ 1), Bonferroni per predictor. Heterogeneous: significant with Q p &lt; 0.05 / m, m the significant associations with k ≥ 2.</p>
<p class="privacy meta-phewas-privacy">${privacy}</p>`;
}

/** Significant in the pooled analysis and heterogeneous (Q p < 0.05 / m). */
export function metaPhewasHeterogeneousTable(
  data: MetaPhewasData,
  noun: InputNoun,
  suppress: Suppression,
  links: Links,
): string {
  const h = heterogeneousAssociations(data);
  const rows = h.rows.map((s) => ({ ...s, shown: shownCounts(s.row, inputsOf(data, s.row), suppress) }));
  const note = `<p class="note">Fixed-effect p below the predictor's Bonferroni threshold and Cochran's Q p &lt; 0.05 / m = ${esc(fmtP(h.threshold))}, m = ${h.m} significant associations with a heterogeneity test (k ≥ 2). The pooled ratio averages effects that differ between ${plural(noun)}: read the forest plot.</p>`;
  return `${note}${table(
    rows,
    [
      { title: 'predictor', html: (r) => predictorHtml(r.row, links) },
      { title: 'phecode', html: (r) => phecodeHtml(r.row, links) },
      { title: 'description', html: (r) => esc(r.row.description ?? '') },
      {
        title: 'ratio (fixed, 95% CI)',
        html: (r) => esc(`${ratioName(r.row.model)} ${ratioText(r.row.beta, r.row.se)}`),
      },
      { title: 'p (fixed)', numeric: true, html: (r) => esc(fmtP(r.row.p, r.row.neg_log10_p)) },
      { title: 'ratio (random)', html: (r) => esc(ratioText(r.row.beta_random, r.row.se_random)) },
      { title: 'p (random)', numeric: true, html: (r) => esc(fmtP(r.row.p_random)) },
      { title: 'Q', numeric: true, html: (r) => esc(fmtNum(r.row.q)) },
      { title: 'Q p', numeric: true, html: (r) => esc(fmtP(r.row.q_p)) },
      { title: 'I² %', numeric: true, html: (r) => esc(fmtI2(r.row.i2)) },
      { title: 'τ²', numeric: true, html: (r) => esc(fmtNum(r.row.tau2)) },
      { title: 'k', numeric: true, html: (r) => esc(r.row.k) },
      { title: 'direction', html: (r) => `<code>${esc(r.row.direction)}</code>` },
      { title: 'cases', numeric: true, html: (r) => count(r.shown.pooled.n_cases) },
      { title: 'controls', numeric: true, html: (r) => count(r.shown.pooled.n_controls) },
    ],
    'meta-phewas-heterogeneous-table',
    'no significant association is heterogeneous at this threshold',
  )}`;
}

/** Significant in exactly one input on its own (whatever the pooled p). */
export function metaPhewasSingleInputTable(
  data: MetaPhewasData,
  noun: InputNoun,
  suppress: Suppression,
  links: Links,
): string {
  const rows = singleInputAssociations(data).map((s) => ({
    ...s,
    shown: shownCounts(s.row, inputsOf(data, s.row), suppress).inputs.get(s.input.label) ?? {
      n_cases: null,
      n_controls: null,
    },
  }));
  const note = `<p class="note">A ${noun}'s own p (as it reported it; the Wald p of its β / SE when it gave none) below 0.05 / (the associations of that predictor it tested), in exactly one ${noun}; listed whether or not the pooled p is significant. Cases and controls are that ${noun}'s.</p>`;
  return `${note}${table(
    rows,
    [
      { title: 'predictor', html: (r) => predictorHtml(r.row, links) },
      { title: 'phecode', html: (r) => phecodeHtml(r.row, links) },
      { title: 'description', html: (r) => esc(r.row.description ?? '') },
      { title: noun, html: (r) => esc(r.input.label) },
      {
        title: `ratio in the ${noun} (95% CI)`,
        html: (r) => esc(`${ratioName(r.row.model)} ${ratioText(r.input.beta, r.input.se)}`),
      },
      { title: `p in the ${noun}`, numeric: true, html: (r) => esc(fmtP(r.p)) },
      { title: 'threshold', numeric: true, html: (r) => esc(fmtP(r.threshold)) },
      { title: 'smallest p elsewhere', numeric: true, html: (r) => esc(fmtP(r.othersMinP)) },
      { title: 'p (fixed)', numeric: true, html: (r) => esc(fmtP(r.row.p, r.row.neg_log10_p)) },
      { title: 'pooled significant', html: (r) => (r.pooledSignificant ? 'yes' : 'no') },
      { title: 'Q p', numeric: true, html: (r) => esc(fmtP(r.row.q_p)) },
      { title: 'k', numeric: true, html: (r) => esc(r.row.k) },
      { title: 'direction', html: (r) => `<code>${esc(r.row.direction)}</code>` },
      { title: 'cases', numeric: true, html: (r) => count(r.shown.n_cases) },
      { title: 'controls', numeric: true, html: (r) => count(r.shown.n_controls) },
    ],
    'meta-phewas-single-input-table',
    `no association is significant in only one ${noun}`,
  )}`;
}

/** The input rows of an association in input order (an input with no row reads as absent). */
function inputsOf(data: MetaPhewasData, row: MetaPhewasResultRow): MetaPhewasInputRow[] {
  const rows = data.forest.get(associationKey(row)) ?? [];
  return data.labels.map(
    (label) =>
      rows.find((r) => r.label === label) ?? {
        label,
        beta: null,
        se: null,
        p: null,
        n_cases: null,
        n_controls: null,
        test: null,
        aligned: 'absent',
      },
  );
}

const alignedText = (a: string) => (a === 'not_tested' ? 'not tested' : a);

/** The per-input rows under a forest plot. */
function forestTable(
  row: MetaPhewasResultRow,
  inputs: MetaPhewasInputRow[],
  noun: InputNoun,
  suppress: Suppression,
) {
  const shown = shownCounts(row, inputs, suppress);
  const ratio = ratioName(row.model);
  return table(
    inputs,
    [
      { title: noun, html: (r) => esc(r.label) },
      { title: `${ratio} (95% CI)`, html: (r) => esc(ratioText(r.beta, r.se)) },
      { title: 'β', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(ownP(r))) },
      { title: 'test', html: (r) => esc(r.test ?? '') },
      {
        title: row.model === 'cox' ? 'events' : 'cases',
        numeric: true,
        html: (r) => count(shown.inputs.get(r.label)?.n_cases ?? null),
      },
      {
        title: row.model === 'cox' ? 'no event' : 'controls',
        numeric: true,
        html: (r) => count(shown.inputs.get(r.label)?.n_controls ?? null),
      },
      { title: 'status', html: (r) => esc(alignedText(r.aligned)) },
    ],
    'meta-phewas-forest-table',
  );
}

/** The plot title of an association: predictor × phecode and its description. */
export function associationTitle(row: MetaPhewasResultRow): string {
  return `${row.predictor} × ${row.phecode}${row.description ? ` ${row.description}` : ''}`;
}

/** A card per significant association (the most significant `max`), and how many were not drawn. */
export function metaPhewasForestSection(
  data: MetaPhewasData,
  noun: InputNoun,
  suppress: Suppression,
  links: Links,
  max = META_PHEWAS_MAX_FORESTS,
): string {
  const sig = significantAssociations(data);
  if (sig.length === 0) return '<p class="empty">no significant association, no forest plots</p>';
  const drawn = sig.slice(0, max);
  const rest = sig.length - drawn.length;
  const note =
    rest > 0
      ? `<p class="note meta-phewas-not-drawn">Forest plots of the ${drawn.length} most significant of ${sig.length} significant associations; <b>${rest}</b> more are not drawn here (see the tables, or biobank export).</p>`
      : `<p class="note">One forest plot per significant association (${sig.length}).</p>`;
  const caption = `Squares: each ${noun}'s ratio (area ∝ its fixed-effect weight), lines: its 95% CI, on a log scale. Diamonds: the pooled ratio and its 95% CI (fixed effect; DerSimonian–Laird random effects). ${plural(noun)[0].toUpperCase()}${plural(noun).slice(1)} without the association, or that did not test it, are listed as such.`;
  const cards = drawn.map((s: SignificantAssociation, i) => {
    const r = s.row;
    const inputs = inputsOf(data, r);
    const spec = phewasForestSpec({
      title: associationTitle(r),
      model: r.model,
      inputs,
      fixed: { beta: r.beta, se: r.se },
      random: { beta: r.beta_random, se: r.se_random },
      k: r.k,
      q_p: r.q_p,
      i2: r.i2,
      direction: r.direction,
    });
    return `<section class="card meta-phewas-forest" data-association="${esc(`${r.predictor}|${r.phecode}`)}"><h3>${predictorHtml(r, links)} × ${phecodeHtml(r, links)}${r.description ? ` ${esc(r.description)}` : ''} — ${esc(ratioName(r.model))} ${esc(ratioText(r.beta, r.se))}, p ${esc(fmtP(r.p, r.neg_log10_p))}, ${esc(heterogeneityLine(r))}</h3>
${plot(plotId('pforest', `${r.predictor}-${r.phecode}`, i), spec, caption)}
${forestTable(r, inputs, noun, suppress)}</section>`;
  });
  return [note, ...cards].join('\n');
}

/** Every section of a run's PheWAS meta-analysis, in order. */
export function metaPhewasSections(
  data: MetaPhewasData,
  noun: InputNoun,
  suppress: Suppression,
  links: Links,
): string[] {
  return [
    `<h2 id="meta-phewas">PheWAS meta-analysis across ${plural(noun)}</h2>`,
    metaPhewasSummary(data, noun),
    metaPhewasNotes(noun, suppress),
    '<h3 id="meta-phewas-heterogeneous">Significant in the pooled analysis but heterogeneous</h3>',
    metaPhewasHeterogeneousTable(data, noun, suppress, links),
    `<h3 id="meta-phewas-single">Significant in only one ${noun}</h3>`,
    metaPhewasSingleInputTable(data, noun, suppress, links),
    '<h3 id="meta-phewas-forest">Forest plots of the significant associations</h3>',
    metaPhewasForestSection(data, noun, suppress, links),
  ];
}
