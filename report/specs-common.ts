/**
 * What the Vega-Lite specs share (specs.ts, specs-phewas.ts): the schema, colours, the −log10 p
 * scale and tick labels, number formatting and the Bonferroni line.
 */
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
