/**
 * The PheWAS plot spec (`phewasSpec`): phecodes by category against −log10 p, with the
 * Bonferroni line and non-overlapping labels for the most significant (`placeLabels`).
 */
import { type Suppression, suppressCountGroup } from '../engine/privacy.js';
import type { PhewasResultRow } from '../schemas/results.js';
import {
  bonferroniNlp,
  fmt,
  LINE_COLOUR,
  labelExpr,
  nlpScale,
  SCHEMA,
  type VegaLiteSpec,
} from './specs-common.js';

/** What every point of a phecode-by-category plot has (the PheWAS and the Cox HR PheWAS). */
export interface CategoryPoint {
  x: number;
  phecode: string;
  category: string;
  nlp: number;
  direction: 'up' | 'down';
  label: string;
  href?: string;
}

interface PhewasPoint extends CategoryPoint {
  x: number;
  phecode: string;
  description: string;
  category: string;
  predictor: string;
  nlp: number;
  direction: 'up' | 'down';
  odds_ratio: string;
  ci: string;
  p: string;
  n_cases: string;
  n_controls: string;
  label: string;
  href?: string;
}
/**
 * Labels for the most significant points that never overlap: points are taken by −log10 p,
 * and a point whose label would land on one already placed (within `dx` of the x range and
 * `dy` of the y range: about a label's width and height at the report's plot size) joins that
 * label instead (`425, 425.1`, at most three codes, then `+k`). At most `top` labels.
 */
export function placeLabels<P extends { x: number; nlp: number; label: string }>(
  points: P[],
  o: { nX: number; maxY: number; top: number; dx?: number; dy?: number },
): P[] {
  const dx = (o.dx ?? 0.06) * Math.max(1, o.nX);
  const dy = (o.dy ?? 0.07) * Math.max(1, o.maxY);
  const placed: { point: P; codes: string[] }[] = [];
  for (const p of [...points].sort((a, b) => b.nlp - a.nlp || a.x - b.x)) {
    const near = placed.find((l) => Math.abs(l.point.x - p.x) < dx && Math.abs(l.point.nlp - p.nlp) < dy);
    if (near) near.codes.push(p.label);
    else if (placed.length < o.top) placed.push({ point: p, codes: [p.label] });
  }
  return placed.map(({ point, codes }) => ({
    ...point,
    label: codes.length <= 3 ? codes.join(', ') : `${codes.slice(0, 3).join(', ')} +${codes.length - 3}`,
  }));
}

export interface PhewasOptions {
  suppress: Suppression;
  /** Link points to the phecode page (viewer): prefix + phecode. */
  hrefPrefix?: string;
  /** Label this many most significant phecodes above the Bonferroni line. */
  labelTop?: number;
  height?: number;
}

/**
 * PheWAS plot: tested phecodes (p not NULL) along x grouped by category in phecode order,
 * coloured by category, ▲ for β > 0 (risk) and ▼ for β < 0, with the Bonferroni line for the
 * number of phecodes tested (per predictor: the line uses the number of distinct tested
 * phecodes). Person counts in tooltips follow the suppression rule.
 */
export function phewasSpec(rows: PhewasResultRow[], options: PhewasOptions): VegaLiteSpec {
  const tested = rows.filter((r) => r.p !== null && r.neg_log10_p !== null);
  const index = phecodeOrder(tested);
  const points: PhewasPoint[] = tested.map((r) => {
    const counts = suppressCountGroup(
      { n_cases: r.n_cases, n_controls: r.n_controls, n_excluded: r.n_excluded },
      options.suppress,
    );
    return {
      x: index.get(`${r.category ?? 'other'}\u0000${r.phecode}`) as number,
      phecode: r.phecode,
      description: r.description ?? '',
      category: r.category ?? 'other',
      predictor: r.predictor,
      nlp: Math.round((r.neg_log10_p as number) * 1000) / 1000,
      direction: (r.beta ?? 0) < 0 ? 'down' : 'up',
      odds_ratio: fmt(r.odds_ratio),
      ci: r.ci_low === null || r.ci_high === null ? '' : `${fmt(r.ci_low)}–${fmt(r.ci_high)}`,
      p: fmt(r.p),
      n_cases: String(counts.n_cases),
      n_controls: String(counts.n_controls),
      label: r.phecode,
      ...(options.hrefPrefix ? { href: options.hrefPrefix + encodeURIComponent(r.phecode) } : {}),
    };
  });
  return categoryPlotSpec(points, new Set(tested.map((r) => r.phecode)).size, index.size, {
    ...options,
    directionLabels: ['β > 0 (OR > 1)', 'β < 0 (OR < 1)'],
    tooltip: [
      { field: 'phecode' },
      { field: 'description' },
      { field: 'category' },
      { field: 'predictor' },
      { field: 'p' },
      { field: 'odds_ratio', title: 'OR' },
      { field: 'ci', title: '95% CI' },
      { field: 'n_cases', title: 'cases' },
      { field: 'n_controls', title: 'controls' },
    ],
  });
}

/**
 * Order tested rows' phecodes by category, then numerically: the x index of each
 * `category\u0000phecode` key.
 */
export function phecodeOrder(rows: { category: string | null; phecode: string }[]): Map<string, number> {
  const phecodes = [...new Set(rows.map((r) => `${r.category ?? 'other'}\u0000${r.phecode}`))].sort(
    (a, b) => {
      const [ca, pa] = a.split('\u0000');
      const [cb, pb] = b.split('\u0000');
      return ca.localeCompare(cb) || Number.parseFloat(pa) - Number.parseFloat(pb) || pa.localeCompare(pb);
    },
  );
  return new Map(phecodes.map((k, i) => [k, i]));
}

/**
 * A phecode-by-category plot of prepared points: coloured by category, ▲/▼ by direction, the
 * Bonferroni line for `nTested` tests, labels for the most significant above it.
 */
export function categoryPlotSpec(
  points: CategoryPoint[],
  nTested: number,
  nX: number,
  options: PhewasOptions & {
    directionLabels: [string, string];
    tooltip: { field: string; title?: string }[];
    layerPrefix?: string;
  },
): VegaLiteSpec {
  const height = options.height ?? 280;
  const prefix = options.layerPrefix ?? 'phewas';
  const line = bonferroniNlp(nTested);
  const cats = [...new Set(points.map((p) => p.category))];
  const catTicks = cats.map((c) => {
    const xs = points.filter((p) => p.category === c).map((p) => p.x);
    return { value: Math.round((Math.min(...xs) + Math.max(...xs)) / 2), label: c };
  });
  const maxNlp = Math.max(line, ...points.map((p) => p.nlp));
  const y = nlpScale(maxNlp, height, line + 1);
  const labels = placeLabels(
    points.filter((p) => p.nlp >= line),
    { nX, maxY: maxNlp, top: options.labelTop ?? 5 },
  );
  const x = {
    field: 'x',
    type: 'quantitative',
    title: 'phecode (by category)',
    scale: { domain: [-1, Math.max(1, nX)], nice: false, zero: false },
    axis: {
      values: catTicks.map((t) => t.value),
      labelExpr: labelExpr(catTicks),
      labelAngle: -30,
      grid: false,
      labelLimit: 120,
    },
  };
  return {
    $schema: SCHEMA,
    width: 'container',
    height,
    datasets: { phewas: points, labels },
    layer: [
      {
        name: `${prefix}_points`,
        data: { name: 'phewas' },
        mark: {
          type: 'point',
          filled: true,
          size: 60,
          opacity: 0.85,
          cursor: options.hrefPrefix ? 'pointer' : 'default',
        },
        encoding: {
          x,
          y: { field: 'nlp', type: 'quantitative', title: '−log10 p', ...y },
          color: {
            field: 'category',
            type: 'nominal',
            scale: { scheme: cats.length > 10 ? 'tableau20' : 'tableau10' },
            legend: { orient: 'right', title: 'category' },
          },
          shape: {
            field: 'direction',
            type: 'nominal',
            scale: { domain: ['up', 'down'], range: ['triangle-up', 'triangle-down'] },
            legend: {
              title: 'direction',
              labelExpr: `datum.label == 'up' ? ${JSON.stringify(options.directionLabels[0])} : ${JSON.stringify(options.directionLabels[1])}`,
            },
          },
          tooltip: options.tooltip,
          ...(options.hrefPrefix ? { href: { field: 'href' } } : {}),
        },
      },
      {
        name: `${prefix}_bonferroni`,
        data: { values: [{ y: line }] },
        mark: { type: 'rule', color: LINE_COLOUR, strokeDash: [5, 4] },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
      {
        name: `${prefix}_labels`,
        data: { name: 'labels' },
        mark: { type: 'text', dx: 7, align: 'left', fontSize: 10, color: '#222' },
        encoding: { x, y: { field: 'nlp', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  };
}
