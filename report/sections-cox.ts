/**
 * The time-to-event (Cox) PheWAS section of the report and the viewer: per predictor an HR
 * PheWAS plot, a table of its top associations (HR with 95% CI, p, test, events, persons at risk,
 * prevalent cases excluded, person-years, the proportional-hazards check flagged below 0.05) and,
 * where the run stored them (`phewas_cox_km`, genotype-first runs), Kaplan–Meier curves of
 * carriers against non-carriers for its top associations, drawn as cumulative incidence of the
 * coarsened staircase (engine/privacy.ts `coarsenKmCurve`). Person counts follow the small-cell
 * rule.
 */
import { coarsenKmCurve, type Suppression, smallCellMax } from '../engine/privacy.js';
import type { PhewasCoxResultRow } from '../schemas/results.js';
import type { KmCurves } from './data-engine.js';
import { esc, fmtNum, fmtP, plot, table } from './html.js';
import { fmtCount, type Links, plotId } from './sections.js';
import { bonferroniNlp } from './specs-common.js';
import { coxCounts, coxPhewasSpec, KM_GROUP_LABELS, type KmPlotCurve, kmSpec } from './specs-cox.js';

/** Rows in the table of a predictor's top associations. */
export const COX_TOP_ROWS = 15;
/** The PH check p below which a row is flagged. */
export const ZPH_FLAG_P = 0.05;

const TIME_TITLES: Record<string, string> = {
  age: 'age (years)',
  enrolment: 'years since enrolment',
  column: 'years since the origin date',
};

function link(href: string | undefined, text: string): string {
  return href ? `<a href="${esc(href)}">${esc(text)}</a>` : esc(text);
}

/** Person-years to 3 significant digits (not a person count). */
function fmtPersonYears(x: number): string {
  if (!(x > 0)) return '0';
  const digits = Math.max(0, Math.floor(Math.log10(x)) - 2);
  return (Math.round(x / 10 ** digits) * 10 ** digits).toLocaleString('en');
}

/** The table of Cox rows; `predictor` adds the predictor column (phecode pages). */
export function coxTable(
  rows: PhewasCoxResultRow[],
  suppress: Suppression,
  links: Links,
  cls = 'cox-table',
  empty = 'none',
  withPredictor = false,
): string {
  const counts = (r: PhewasCoxResultRow) => coxCounts(r, suppress);
  return table(
    rows,
    [
      { title: 'phecode', html: (r) => link(links.phecode?.(r.phecode), r.phecode) },
      { title: 'description', html: (r) => esc(r.description ?? '') },
      ...(withPredictor
        ? [
            {
              title: 'predictor',
              html: (r: PhewasCoxResultRow) =>
                r.predictor_type === 'variant'
                  ? link(links.variant?.(r.predictor), r.predictor)
                  : esc(r.predictor),
            },
          ]
        : []),
      { title: 'HR', numeric: true, html: (r) => esc(fmtNum(r.hazard_ratio)) },
      {
        title: '95% CI',
        numeric: true,
        html: (r) =>
          r.ci_low === null || r.ci_high === null ? '' : esc(`${fmtNum(r.ci_low)}–${fmtNum(r.ci_high)}`),
      },
      { title: 'p', numeric: true, html: (r) => esc(fmtP(r.p, r.neg_log10_p)) },
      { title: 'test', html: (r) => esc(r.test ?? '') },
      { title: 'events', numeric: true, html: (r) => esc(fmtCount(counts(r).n_events)) },
      { title: 'at risk', numeric: true, html: (r) => esc(fmtCount(counts(r).n_at_risk)) },
      { title: 'prevalent excluded', numeric: true, html: (r) => esc(fmtCount(counts(r).n_prevalent)) },
      { title: 'person-years', numeric: true, html: (r) => esc(fmtPersonYears(r.person_years)) },
      {
        title: 'PH check p',
        numeric: true,
        html: (r) =>
          r.zph_p === null
            ? ''
            : r.zph_p < ZPH_FLAG_P
              ? `<span class="zph-flag" title="proportional hazards doubtful (scaled Schoenfeld test p &lt; ${ZPH_FLAG_P})">⚠ ${esc(fmtP(r.zph_p))}</span>`
              : esc(fmtP(r.zph_p)),
      },
      { title: 'status', html: (r) => esc(r.status) },
    ],
    cls,
    empty,
  );
}

/** One association's KM plot (or why it is not drawn). */
export function kmBlock(id: string, curves: KmCurves, timeScale: string, suppress: Suppression): string {
  const drawn: KmPlotCurve[] = [];
  const notes: string[] = [];
  for (const group of ['carrier', 'non_carrier'] as const) {
    const c = coarsenKmCurve(
      curves.rows.filter((r) => r.group === group),
      suppress,
    );
    if (c.shown) {
      drawn.push({ group, points: c.points });
      if (c.conditional)
        notes.push(`${KM_GROUP_LABELS[group]}: conditional on being event-free at the curve's start`);
    } else notes.push(`${KM_GROUP_LABELS[group]}: ${c.reason}`);
  }
  const max = smallCellMax(suppress);
  const title = `<h4>${esc(curves.phecode)} — Kaplan–Meier, carriers vs non-carriers</h4>`;
  if (drawn.length === 0)
    return `<div class="km-block km-hidden">${title}<p class="empty">${esc(notes.join('; '))}</p></div>`;
  const caption = `Cumulative incidence 1 − S(t) (Kaplan–Meier with left truncation, log-log 95% band), coarsened: ${max === 0 ? 'every event step is drawn' : `each drawn step pools at least ${max + 1} events`}.${notes.length ? ` ${esc(notes.join('; '))}.` : ''}`;
  const spec = kmSpec(drawn, { timeTitle: TIME_TITLES[timeScale] ?? 'time (years)' });
  return `<div class="km-block">${title}${plot(id, spec, caption)}</div>`;
}

/** HR plot, top table and KM curves of one predictor's Cox rows. */
export function coxBlock(
  key: string,
  i: number,
  rows: PhewasCoxResultRow[],
  km: KmCurves[],
  suppress: Suppression,
  links: Links,
): string {
  const tested = rows.filter((r) => r.p !== null);
  const nTested = new Set(tested.map((r) => r.phecode)).size;
  const line = bonferroniNlp(nTested);
  const top = [...tested].sort((a, b) => (b.neg_log10_p ?? 0) - (a.neg_log10_p ?? 0)).slice(0, COX_TOP_ROWS);
  const nSignificant = tested.filter((r) => (r.neg_log10_p ?? 0) >= line).length;
  const scales = [...new Set(rows.map((r) => r.time_scale))];
  const caption = `${nTested} phecodes tested, ${rows.length - tested.length} not tested (too few events etc.); ${nSignificant} pass the Bonferroni line. ▲ HR &gt; 1, ▼ HR &lt; 1. Dashed line: Bonferroni, p = 0.05 / ${nTested}. Time scale: ${esc(scales.join(', '))}; prevalent cases (first code before entry) are excluded.`;
  const spec = coxPhewasSpec(rows, { suppress, hrefPrefix: links.phecode ? links.phecode('') : undefined });
  const kmParts = km.map((c, j) => {
    const scale = rows.find((r) => r.phecode === c.phecode)?.time_scale ?? scales[0] ?? 'age';
    return kmBlock(plotId('km', `${key}-${c.phecode}`, i * 100 + j), c, scale, suppress);
  });
  return `${plot(plotId('cox', key, i), spec, caption)}
<h4>Top associations</h4>
${coxTable(top, suppress, links, 'cox-top', 'no phecode was tested')}
${kmParts.length ? `<div class="row km-row">${kmParts.join('\n')}</div>` : ''}`;
}

/** The whole section: one card per predictor (most significant first). */
export function coxSection(
  rows: PhewasCoxResultRow[],
  nPredictors: number,
  km: KmCurves[],
  suppress: Suppression,
  links: Links,
): string {
  const byPredictor = new Map<string, PhewasCoxResultRow[]>();
  for (const r of rows) byPredictor.set(r.predictor, [...(byPredictor.get(r.predictor) ?? []), r]);
  const minP = (rs: PhewasCoxResultRow[]) => Math.min(...rs.map((r) => r.p ?? 1));
  const ordered = [...byPredictor.entries()].sort(
    (a, b) => minP(a[1]) - minP(b[1]) || a[0].localeCompare(b[0]),
  );
  const cards = ordered.map(([predictor, rs], i) => {
    const type = rs[0].predictor_type;
    const label = type === 'variant' ? link(links.variant?.(predictor), predictor) : esc(predictor);
    return `<section class="card cox-phewas"><h3>${label} <span class="meta">(${esc(type)})</span></h3>
${coxBlock(
  predictor,
  i,
  rs,
  km.filter((c) => c.predictor === predictor),
  suppress,
  links,
)}</section>`;
  });
  const more =
    nPredictors > ordered.length
      ? `<p class="note">${nPredictors - ordered.length} more predictors with Cox rows are not shown here; use the viewer or biobank export.</p>`
      : '';
  return `${cards.join('\n')}${more}`;
}
