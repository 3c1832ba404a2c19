/**
 * What the Vega-Lite specs share (specs.ts, specs-phewas.ts): the schema, colours, the −log10 p
 * scale and tick labels, number formatting and the Bonferroni line.
 */
import { Z_975 } from '../stats/distributions.js';
import { bonferroniThreshold } from '../stats/multiple-testing.js';

export type VegaLiteSpec = Record<string, unknown>;

export const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const PARITY_COLOURS = ['#1f4e79', '#7fa7d1'];
export const LINE_COLOUR = '#c0392b';

/** A Vega expression mapping axis tick values to names: `v == 12 ? 'a' : v == 40 ? 'b' : ''`. */
export function labelExpr(ticks: { value: number; label: string }[]): string {
  const parts = ticks.map((t) => `datum.value == ${t.value} ? ${JSON.stringify(t.label)} : `);
  return `${parts.join('')}''`;
}

/**
 * The y encoding of a forest plot: one row per entry at y = 0..rows−1, labelled by `ticks`, with
 * no grid, ticks or axis line.
 */
export function forestRowsEncoding(rows: number, ticks: { value: number; label: string }[]) {
  return {
    field: 'y',
    type: 'quantitative',
    title: null,
    scale: { domain: [-0.7, rows - 0.3], nice: false, zero: false },
    axis: {
      values: ticks.map((t) => t.value),
      labelExpr: labelExpr(ticks),
      grid: false,
      ticks: false,
      domain: false,
    },
  };
}

/** Height of one forest-plot row, in pixels. */
export const FOREST_ROW_PX = 24;
/** Half the height of a pooled-estimate diamond, in row units. */
export const FOREST_DIAMOND_HALF = 0.32;

/** p as the plot titles and tooltips print it (as report/html.ts `fmtP`). */
export function fmtPlotP(p: number | null): string {
  return p === null ? 'NA' : p < 1e-3 ? p.toExponential(2) : p.toPrecision(3);
}

/**
 * The points of a forest plot's pooled-estimate diamonds, drawn as vertical areas: for estimate j
 * at row y = yOf(j), (lo, y), (mid, y ± FOREST_DIAMOND_HALF), (hi, y) with mid = toAxis(β),
 * lo/hi = toAxis(β ∓ 1.96·SE) (Z_975, as metafor's `forest()`). Each point carries the
 * estimate's name, its value formatted under `valueKey` and its interval as text (tooltips).
 */
export function forestDiamondPoints(
  estimates: readonly { name: string; beta: number; se: number }[],
  yOf: (j: number) => number,
  toAxis: (b: number) => number,
  valueKey: string,
) {
  return estimates.flatMap((e, j) => {
    const y = yOf(j);
    const mid = toAxis(e.beta);
    const lo = toAxis(e.beta - Z_975 * e.se);
    const hi = toAxis(e.beta + Z_975 * e.se);
    const base = { estimate: e.name, [valueKey]: fmt(mid), ci: `${fmt(lo)} to ${fmt(hi)}` };
    return [
      { ...base, x: lo, y, y2: y },
      { ...base, x: mid, y: y - FOREST_DIAMOND_HALF, y2: y + FOREST_DIAMOND_HALF },
      { ...base, x: hi, y, y2: y },
    ];
  });
}

/**
 * A y scale for −log10 p. Above 30 the axis is piecewise linear: 0–20 takes the lower 65 % of
 * the height and 20–max the rest, so a p of 1e-300 does not flatten the rest of the genome.
 */
export function nlpScale(maxNlp: number, height: number, minTop = 8.5) {
  const top = Math.max(minTop, maxNlp * 1.06);
  if (maxNlp <= 30) return { scale: { domain: [0, top], nice: false }, axis: {} };
  const upper = niceTicks(20, top, 4);
  return {
    scale: { domain: [0, 20, top], range: [height, height * 0.35, 0], nice: false },
    axis: { values: [0, 5, 10, 15, 20, ...upper] },
  };
}

function niceTicks(lo: number, hi: number, count: number): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil((lo + step / 2) / step) * step; v <= hi; v += step) out.push(v);
  return out;
}

export function fmt(x: number | null, digits = 3): string {
  return x === null || x === undefined ? '' : Number(x).toPrecision(digits);
}

/**
 * Bonferroni threshold (Dunn 1961, J Am Stat Assoc 56:52) for a family of m tests at
 * family-wise error α = 0.05: a test is significant when p < α / m, drawn as −log10(α / m).
 * m counts only the tests actually performed (p not NULL: phecodes with too few cases,
 * separation without a Firth fallback, or monomorphic predictors are not tested and do not
 * count). m = 0 is treated as 1. Conservative when the tests are correlated (nested phecodes).
 */
export function bonferroniNlp(nTested: number): number {
  return -Math.log10(bonferroniThreshold(0.05, nTested));
}
