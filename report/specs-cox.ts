/**
 * Vega-Lite specs of the time-to-event (Cox) PheWAS: the HR PheWAS plot (phecodes by category
 * against −log10 p, ▲ HR > 1, ▼ HR < 1, Bonferroni line; the layout of the logistic PheWAS plot)
 * and the Kaplan–Meier plot of one association, drawn as cumulative incidence 1 − S(t) of the
 * coarsened staircase (engine/privacy.ts `coarsenKmCurve`), carriers against non-carriers, with
 * the log-log 95% band. Person counts in tooltips follow the suppression rule.
 */
import { type KmShownPoint, type Suppression, suppressCountGroup } from '../engine/privacy.js';
import type { PhewasCoxResultRow } from '../schemas/results.js';
import { fmt, SCHEMA, type VegaLiteSpec } from './specs-common.js';
import { type CategoryPoint, categoryPlotSpec, type PhewasOptions, phecodeOrder } from './specs-phewas.js';

/** The person counts of a Cox row as shown: one group, so a hidden count cannot be derived. */
export function coxCounts(r: PhewasCoxResultRow, suppress: Suppression) {
  return suppressCountGroup(
    {
      n_events: r.n_events,
      n_censored: r.n_censored,
      n_at_risk: r.n_at_risk,
      n_prevalent: r.n_prevalent,
      n_excluded: r.n_excluded,
    },
    suppress,
  );
}

/** HR PheWAS plot of Cox rows (tested: p not NULL). */
export function coxPhewasSpec(rows: PhewasCoxResultRow[], options: PhewasOptions): VegaLiteSpec {
  const tested = rows.filter((r) => r.p !== null && r.neg_log10_p !== null);
  const index = phecodeOrder(tested);
  const points: CategoryPoint[] = tested.map((r) => {
    const counts = coxCounts(r, options.suppress);
    return {
      x: index.get(`${r.category ?? 'other'}\u0000${r.phecode}`) as number,
      phecode: r.phecode,
      description: r.description ?? '',
      category: r.category ?? 'other',
      predictor: r.predictor,
      nlp: Math.round((r.neg_log10_p as number) * 1000) / 1000,
      direction: (r.beta ?? 0) < 0 ? 'down' : 'up',
      hazard_ratio: fmt(r.hazard_ratio),
      ci: r.ci_low === null || r.ci_high === null ? '' : `${fmt(r.ci_low)}–${fmt(r.ci_high)}`,
      p: fmt(r.p),
      test: r.test ?? '',
      n_events: String(counts.n_events),
      n_at_risk: String(counts.n_at_risk),
      label: r.phecode,
      ...(options.hrefPrefix ? { href: options.hrefPrefix + encodeURIComponent(r.phecode) } : {}),
    };
  });
  return categoryPlotSpec(points, new Set(tested.map((r) => r.phecode)).size, index.size, {
    ...options,
    layerPrefix: 'cox',
    directionLabels: ['HR > 1', 'HR < 1'],
    tooltip: [
      { field: 'phecode' },
      { field: 'description' },
      { field: 'category' },
      { field: 'predictor' },
      { field: 'p' },
      { field: 'hazard_ratio', title: 'HR' },
      { field: 'ci', title: '95% CI' },
      { field: 'test' },
      { field: 'n_events', title: 'events' },
      { field: 'n_at_risk', title: 'at risk' },
    ],
  });
}

export const KM_GROUP_LABELS = { carrier: 'carriers', non_carrier: 'non-carriers' } as const;

/** One group's coarsened curve for `kmSpec`. */
export interface KmPlotCurve {
  group: keyof typeof KM_GROUP_LABELS;
  points: KmShownPoint[];
}

const round = (x: number) => Math.round(x * 1e5) / 1e5;

/**
 * Kaplan–Meier plot: cumulative incidence 1 − S(t) as a step line per group (the coarsened
 * staircase's points only) with the log-log 95% band (1 − upper, 1 − lower), x = time on the
 * run's time scale.
 */
export function kmSpec(curves: KmPlotCurve[], options: { timeTitle: string; height?: number }): VegaLiteSpec {
  const data = curves.flatMap((c) =>
    c.points.map((p) => ({
      group: KM_GROUP_LABELS[c.group],
      time: round(p.time),
      incidence: round(1 - p.survival),
      lo: p.ci_high === null ? null : round(1 - p.ci_high),
      hi: p.ci_low === null ? null : round(1 - p.ci_low),
    })),
  );
  const color = {
    field: 'group',
    type: 'nominal',
    scale: { domain: ['carriers', 'non-carriers'], range: ['#c0392b', '#1f4e79'] },
    legend: { title: null, orient: 'top-left' },
  };
  const x = { field: 'time', type: 'quantitative', title: options.timeTitle, scale: { zero: false } };
  return {
    $schema: SCHEMA,
    width: 'container',
    height: options.height ?? 220,
    datasets: { km: data },
    data: { name: 'km' },
    layer: [
      {
        name: 'km_band',
        transform: [{ filter: 'datum.lo != null && datum.hi != null' }],
        mark: { type: 'area', interpolate: 'step-after', opacity: 0.15 },
        encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color },
      },
      {
        name: 'km_lines',
        mark: { type: 'line', interpolate: 'step-after', point: true },
        encoding: {
          x,
          y: { field: 'incidence', type: 'quantitative', title: 'cumulative incidence (1 − KM)' },
          color,
          tooltip: [
            { field: 'group' },
            { field: 'time', format: '.2f' },
            { field: 'incidence', title: '1 − S', format: '.4f' },
          ],
        },
      },
    ],
  };
}
