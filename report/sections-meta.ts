/**
 * Sections of a meta-analysis run's page, shared by its HTML report (report/meta.ts) and the
 * viewer: the inputs with their provenance, the Manhattan and QQ plots of the fixed-effect p,
 * the lead loci, heterogeneity and fairness (loci significant in the pooled analysis but
 * heterogeneous; loci significant in one input only — among every input's own lead loci, so also
 * where the pooled p is not significant), a forest plot per lead locus and
 * leave-one-out (and, for a run with one, the PheWAS meta-analysis of report/sections-meta-phewas.ts).
 * Person counts (each input's n, cases, controls as the site gave them) go
 * through the small-cell rule of engine/privacy.ts as one group, so a hidden count cannot be
 * recovered from the others.
 */
import { type Suppression, suppressCountGroup } from '../engine/privacy.js';
import type { RunRow } from '../schemas/results.js';
import { Z_975 } from '../stats/distributions.js';
import {
  heterogeneousLeads,
  type MetaForestEntry,
  type MetaInputLocusView,
  type MetaInputView,
  type MetaLeadView,
  type MetaLooEntry,
  type MetaRunData,
  type MetaSummary,
  singleInputLoci,
} from './data-meta.js';
import type { MetaPhewasData } from './data-meta-phewas.js';
import { esc, fmtNum, fmtP, plot, table } from './html.js';
import { fmtCount, gwasPlots, type Links, plotId } from './sections.js';
import { metaPhewasSections } from './sections-meta-phewas.js';
import { forestSpec } from './specs-meta.js';

function link(href: string | undefined, text: string): string {
  return href ? `<a href="${esc(href)}">${esc(text)}</a>` : esc(text);
}

const variantLink = (links: Links, id: string) => link(links.variant?.(id), id);
const fileName = (path: string) => path.split(/[\\/]/).pop() ?? path;
const i2Text = (i2: number | null) => (i2 === null ? '' : `${i2.toFixed(1)}`);

/** The method note of a meta report: the estimators and tests, with their references. */
export function metaMethodNote(leadP: number): string {
  return `<p class="note meta-method">Fixed effect: inverse-variance weighted β (Willer, Li &amp; Abecasis 2010, METAL); random effects: DerSimonian &amp; Laird (1986); heterogeneity: Cochran's Q (k − 1 df) and I² = max(0, (Q − df) / Q) (Higgins &amp; Thompson 2002). Lead loci: fixed-effect p &lt; ${esc(fmtP(leadP))}, distance-clumped. Alleles are aligned to the first input that has the variant; β is per copy of the effect allele.</p>`;
}

/** Per input: label, ancestry, format, file and sha256, n / cases / controls, rows, drops, λGC. */
export function metaInputsTable(inputs: MetaInputView[], suppress: Suppression): string {
  const counts = (r: MetaInputView) =>
    suppressCountGroup({ n: r.n, cases: r.n_cases, controls: r.n_controls }, suppress);
  const dropped = (r: MetaInputView) =>
    Object.entries(r.dropped)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => `${reason.replaceAll('_', ' ')} ${n.toLocaleString('en')}`)
      .join(', ') || 'none';
  return table(
    inputs,
    [
      { title: '#', numeric: true, html: (r) => esc(r.input_index + 1) },
      { title: 'input', html: (r) => esc(r.label) },
      { title: 'ancestry', html: (r) => esc(r.ancestry ?? '') },
      { title: 'format', html: (r) => esc(r.format) },
      { title: 'file', html: (r) => `<code title="${esc(r.path)}">${esc(fileName(r.path))}</code>` },
      { title: 'sha256', html: (r) => `<code title="${esc(r.sha256)}">${esc(r.sha256.slice(0, 12))}</code>` },
      { title: 'n', numeric: true, html: (r) => esc(fmtCount(counts(r).n)) },
      { title: 'cases', numeric: true, html: (r) => esc(fmtCount(counts(r).cases)) },
      { title: 'controls', numeric: true, html: (r) => esc(fmtCount(counts(r).controls)) },
      { title: 'rows read', numeric: true, html: (r) => esc(fmtNum(r.rows_read)) },
      { title: 'rows kept', numeric: true, html: (r) => esc(fmtNum(r.rows_kept)) },
      { title: 'dropped (reason)', html: (r) => esc(dropped(r)) },
      { title: 'λGC', numeric: true, html: (r) => esc(fmtNum(r.lambda_gc, 4)) },
    ],
    'meta-inputs-table',
    'no inputs recorded',
  );
}

/** Variants of the union by number of contributing inputs, and the meta λGC. */
export function metaSummaryTable(summary: MetaSummary): string {
  const rows = summary.byK.map((n, k) => ({ k, n })).filter((r) => r.n > 0);
  return `<p class="meta">${esc(summary.nVariants.toLocaleString('en'))} variants in the union of the inputs, ${esc(summary.nAnalysed.toLocaleString('en'))} with at least one usable input · λGC of the fixed-effect p ${esc(fmtNum(summary.lambdaGc, 4) || 'n/a')}</p>
${table(
  rows,
  [
    { title: 'contributing inputs (k)', numeric: true, html: (r) => esc(r.k) },
    { title: 'variants', numeric: true, html: (r) => esc(r.n.toLocaleString('en')) },
  ],
  'meta-byk-table',
)}`;
}

export function metaLeadsTable(leads: MetaLeadView[], links: Links): string {
  return table(
    leads,
    [
      { title: 'locus', numeric: true, html: (r) => esc(r.locus_id) },
      { title: 'lead variant', html: (r) => variantLink(links, r.variant_id) },
      { title: 'effect / other', html: (r) => esc(`${r.effect_allele} / ${r.other_allele}`) },
      { title: 'β (fixed)', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.nlp)) },
      { title: 'β (random)', numeric: true, html: (r) => esc(fmtNum(r.beta_random)) },
      { title: 'p (random)', numeric: true, html: (r) => esc(fmtP(r.p_random)) },
      { title: 'k', numeric: true, html: (r) => esc(r.k ?? '') },
      { title: 'direction', html: (r) => `<code>${esc(r.direction ?? '')}</code>` },
      { title: 'Q p', numeric: true, html: (r) => esc(fmtP(r.q_p)) },
      { title: 'I² %', numeric: true, html: (r) => esc(i2Text(r.i2)) },
      {
        title: 'region (variants)',
        html: (r) =>
          esc(`${r.chrom}:${r.start.toLocaleString('en')}–${r.end.toLocaleString('en')} (${r.n_variants})`),
      },
    ],
    'meta-leads-table',
    'no lead loci (no variant reached the lead-loci p)',
  );
}

/** Loci significant in the pooled analysis but heterogeneous across inputs (Q p < 0.05 / m). */
export function heterogeneousTable(leads: MetaLeadView[], leadP: number, links: Links): string {
  const h = heterogeneousLeads(leads, leadP);
  const note = `<p class="note">Pooled fixed-effect p &lt; ${esc(fmtP(leadP))} and Cochran's Q p &lt; 0.05 / m = ${esc(fmtP(h.threshold))}, m = ${h.m} lead loci with a heterogeneity test (k ≥ 2). The pooled β averages effects that differ between inputs: read the forest plot.</p>`;
  return `${note}${table(
    h.rows,
    [
      { title: 'lead variant', html: (r) => variantLink(links, r.lead.variant_id) },
      { title: 'p (fixed)', numeric: true, html: (r) => esc(fmtP(r.lead.p, r.lead.nlp)) },
      { title: 'β (fixed)', numeric: true, html: (r) => esc(fmtNum(r.lead.beta)) },
      { title: 'β (random)', numeric: true, html: (r) => esc(fmtNum(r.lead.beta_random)) },
      { title: 'p (random)', numeric: true, html: (r) => esc(fmtP(r.lead.p_random)) },
      { title: 'Q', numeric: true, html: (r) => esc(fmtNum(r.lead.q)) },
      { title: 'Q p', numeric: true, html: (r) => esc(fmtP(r.lead.q_p)) },
      { title: 'I² %', numeric: true, html: (r) => esc(i2Text(r.lead.i2)) },
      { title: 'τ²', numeric: true, html: (r) => esc(fmtNum(r.lead.tau2)) },
      { title: 'direction', html: (r) => `<code>${esc(r.lead.direction ?? '')}</code>` },
    ],
    'meta-heterogeneous-table',
    'no lead locus is heterogeneous at this threshold',
  )}`;
}

/**
 * Loci significant in only one input: each input's own lead loci (its own p below `p`,
 * distance-clumped as the pooled leads are) where no other input's own p is below `p`, whether
 * the pooled p is significant or not (the `pooled` column says which).
 */
export function singleInputTable(inputLoci: readonly MetaInputLocusView[], p: number, links: Links): string {
  const rows = singleInputLoci(inputLoci);
  const note = `<p class="note">Each input's own lead loci: its own p (as its file gives it) &lt; ${esc(fmtP(p))}, distance-clumped as the pooled lead loci are; listed where no other input's own p at the variant is below it. "Pooled significant" says whether the fixed-effect p also is: a locus that is not is absent from the lead loci above. β is the input's, aligned to the effect allele.</p>`;
  return `${note}${table(
    rows,
    [
      { title: 'lead variant in the input', html: (r) => variantLink(links, r.variant_id) },
      { title: 'input', html: (r) => esc(r.label) },
      { title: 'β in the input', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
      { title: 'p in the input', numeric: true, html: (r) => esc(fmtP(r.p)) },
      { title: 'β (fixed)', numeric: true, html: (r) => esc(fmtNum(r.meta_beta)) },
      { title: 'p (fixed)', numeric: true, html: (r) => esc(fmtP(r.meta_p)) },
      { title: 'pooled significant', html: (r) => (r.pooled_significant ? 'yes' : 'no') },
      { title: 'k', numeric: true, html: (r) => esc(r.meta_k) },
      { title: 'direction', html: (r) => `<code>${esc(r.direction)}</code>` },
      { title: 'Q p', numeric: true, html: (r) => esc(fmtP(r.q_p)) },
      { title: 'I² %', numeric: true, html: (r) => esc(i2Text(r.i2)) },
    ],
    'meta-single-input-table',
    'no locus is significant in one input only',
  )}`;
}

/** The per-input rows under a forest plot. */
function forestTable(entries: readonly MetaForestEntry[]): string {
  const total = entries.reduce((s, e) => s + (e.se && e.beta !== null ? 1 / e.se ** 2 : 0), 0);
  return table(
    [...entries],
    [
      { title: 'input', html: (r) => esc(r.label) },
      { title: 'β', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      { title: 'SE', numeric: true, html: (r) => esc(fmtNum(r.se)) },
      {
        title: '95% CI',
        numeric: true,
        html: (r) =>
          r.beta === null || r.se === null
            ? ''
            : esc(`${fmtNum(r.beta - Z_975 * r.se)} to ${fmtNum(r.beta + Z_975 * r.se)}`),
      },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.nlp)) },
      {
        title: 'weight (fixed)',
        numeric: true,
        html: (r) =>
          r.se && r.beta !== null && total > 0 ? esc(`${(100 / r.se ** 2 / total).toFixed(1)} %`) : '',
      },
      { title: 'alignment', html: (r) => esc(r.aligned) },
    ],
    'meta-forest-table',
  );
}

/** A card per lead locus: its forest plot and the per-input rows. */
export function forestSection(
  leads: MetaLeadView[],
  forest: ReadonlyMap<string, readonly MetaForestEntry[]>,
  links: Links,
): string {
  if (leads.length === 0) return '<p class="empty">no lead loci, no forest plots</p>';
  return leads
    .map((lead, i) => {
      const entries = forest.get(lead.variant_id) ?? [];
      const caption = `Squares: each input's aligned β (area ∝ its fixed-effect weight), lines: β ± 1.96 SE. Diamonds: the pooled estimates and their 95% CI (fixed effect; DerSimonian–Laird random effects).`;
      return `<section class="card meta-forest" id="forest-${esc(lead.locus_id)}"><h3>Locus ${esc(lead.locus_id)}: ${variantLink(links, lead.variant_id)} — p ${esc(fmtP(lead.p, lead.nlp))}, Q p ${esc(fmtP(lead.q_p))}, I² ${esc(i2Text(lead.i2) || 'NA')} %, k ${esc(lead.k ?? 'NA')}, direction <code>${esc(lead.direction ?? '')}</code></h3>
${plot(plotId('forest', lead.variant_id, i), forestSpec(lead, entries), caption)}
${forestTable(entries)}</section>`;
    })
    .join('\n');
}

/**
 * Leave-one-out as one compact table: a row per lead locus, a column per input left out with the
 * fixed-effect β and p without it (and the status when no estimate remains).
 */
export function leaveOneOutTable(
  leads: MetaLeadView[],
  loo: ReadonlyMap<string, readonly MetaLooEntry[]>,
  inputs: MetaInputView[],
  links: Links,
): string {
  const withLoo = leads.filter((l) => (loo.get(l.variant_id) ?? []).length > 0);
  const cell = (e: MetaLooEntry | undefined) =>
    !e
      ? ''
      : e.status !== 'ok' || e.beta === null
        ? esc(e.status.replaceAll('_', ' '))
        : `${esc(fmtNum(e.beta))} <span class="note">(p ${esc(fmtP(e.p))}, I² ${esc(i2Text(e.i2))} %)</span>`;
  return table(
    withLoo,
    [
      { title: 'lead variant', html: (r) => variantLink(links, r.variant_id) },
      { title: 'β (all)', numeric: true, html: (r) => esc(fmtNum(r.beta)) },
      ...inputs.map((x) => ({
        title: `without ${x.label}`,
        numeric: true,
        html: (r: MetaLeadView) => cell((loo.get(r.variant_id) ?? []).find((e) => e.left_out === x.label)),
      })),
    ],
    'meta-loo-table',
    'no leave-one-out rows recorded (spec leaveOneOut "none", or no lead loci)',
  );
}

/**
 * The spec as shown: each input's `n`, `nCases` and `nControls` go through the same group rule
 * as the inputs table, so the spec cannot give away a hidden count.
 */
export function specForDisplay(spec: unknown, suppress: Suppression): unknown {
  const s = spec as { inputs?: unknown } | null;
  if (!s || typeof s !== 'object' || !Array.isArray(s.inputs)) return spec;
  const inputs = s.inputs.map((x: unknown) => {
    if (!x || typeof x !== 'object') return x;
    const input = x as Record<string, unknown>;
    const count = (k: string) => (typeof input[k] === 'number' ? (input[k] as number) : null);
    const shown = suppressCountGroup(
      { n: count('n'), nCases: count('nCases'), nControls: count('nControls') },
      suppress,
    );
    const out: Record<string, unknown> = { ...input };
    for (const k of ['n', 'nCases', 'nControls'] as const) if (k in input) out[k] = shown[k];
    return out;
  });
  return { ...s, inputs };
}

/** The run's provenance: identity, inputs fingerprint, software, workflow, timings and spec. */
export function metaProvenance(run: RunRow, spec: unknown, suppress: Suppression): string {
  const rows: [string, string][] = [
    ['run id', run.run_id],
    ['meta-analysis', run.study_id],
    ['status', run.status + (run.error ? ` (${run.error})` : '')],
    ['inputs fingerprint (sha256 of the inputs\u2019 sha256)', run.release_fingerprint],
    ['spec sha256', run.spec_hash],
    ['software version', run.software_version],
    ['started', run.started_at],
    ['finished', run.finished_at ?? ''],
    ['workflow', [run.workflow_id, run.workflow_run_id].filter(Boolean).join(' / ')],
  ];
  const kv = rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(v)}</code></td></tr>`).join('');
  let timings = run.timings_json ?? '';
  try {
    timings = JSON.stringify(JSON.parse(timings), null, 2);
  } catch {
    // shown as recorded
  }
  return `<table class="provenance-table">${kv}</table>
<h3>Timings (ms)</h3><pre>${esc(timings)}</pre>
<h3>Meta-analysis spec</h3>
${spec === null ? '<p class="empty">the recorded spec has a different hash from the run\'s</p>' : `<pre class="spec-json">${esc(JSON.stringify(specForDisplay(spec, suppress), null, 2))}</pre>`}`;
}

/**
 * Every section of a meta run's page, in order. `phewas`: the run's PheWAS meta-analysis
 * (report/sections-meta-phewas.ts), shown after the GWAS sections. A run with no `meta_results`
 * and no lead loci but a PheWAS meta-analysis (a federated PheWAS meta run) shows its inputs,
 * the PheWAS sections and its provenance only.
 */
export function metaSections(
  data: MetaRunData,
  suppress: Suppression,
  links: Links,
  phewas: MetaPhewasData | null = null,
): string[] {
  const { leads, forest } = data;
  const gwas = phewas === null || data.summary.nVariants > 0 || leads.length > 0;
  const gwasSections = [
    '<h2 id="meta-gwas">Meta-analysis (fixed effect)</h2>',
    metaSummaryTable(data.summary),
    metaMethodNote(data.leadP),
    gwasPlots(`meta-${data.trait ?? 'trait'}`, 0, data.manhattan, data.qq, data.leadRows, links),
    '<h2 id="lead-loci">Lead loci</h2>',
    metaLeadsTable(leads, links),
    '<h2 id="heterogeneity">Heterogeneity and fairness</h2>',
    '<h3>Significant in the pooled analysis but heterogeneous</h3>',
    heterogeneousTable(leads, data.leadP, links),
    '<h3>Significant in only one input</h3>',
    singleInputTable(data.inputLoci, data.leadP, links),
    '<h2 id="forest">Forest plots of the lead loci</h2>',
    forestSection(leads, forest, links),
    '<h2 id="leave-one-out">Leave-one-out</h2>',
    '<p class="note">The fixed-effect meta-analysis of each lead locus without each input in turn (β, p and I² without it).</p>',
    leaveOneOutTable(leads, data.loo, data.inputs, links),
  ];
  return [
    '<h2 id="inputs">Inputs</h2>',
    `<p class="note">Counts are as each site gave them. Rows dropped: by the reader (not an additive test, tool error, missing estimate) and by allele alignment (strand-ambiguous, allele mismatch). λGC of each input's own p-values.</p>`,
    metaInputsTable(data.inputs, suppress),
    ...(gwas ? gwasSections : []),
    ...(phewas ? metaPhewasSections(phewas, 'input', suppress, links) : []),
    '<h2 id="provenance">Provenance</h2>',
    metaProvenance(data.run, data.spec, suppress),
  ];
}
