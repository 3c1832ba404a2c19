/**
 * Vega-Lite specifications of the report's and the viewer's plots. Pure functions from data to
 * a JSON spec; `report/html.ts` embeds them and vega-embed renders them (as SVG) in the page.
 * Mark layers carry names (`manhattan_points`, `phewas_points`, …) so the browser tests can
 * count the rendered marks of each layer.
 */

import { type Suppression, suppressCount, suppressCountGroup } from '../engine/privacy.js';
import type { BurdenResultRow, PhewasResultRow } from '../schemas/results.js';
import type { ManhattanData, QqData } from './data.js';

export type VegaLiteSpec = Record<string, unknown>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
/** Genome-wide significance, p = 5e-8. */
export const GENOME_WIDE_P = 5e-8;
const PARITY_COLOURS = ['#1f4e79', '#7fa7d1'];
const LINE_COLOUR = '#c0392b';

const parityColour = {
  field: 'parity',
  type: 'nominal',
  scale: { domain: [0, 1], range: PARITY_COLOURS },
  legend: null,
};

/** A Vega expression mapping axis tick values to names: `v == 12 ? 'a' : v == 40 ? 'b' : ''`. */
function labelExpr(ticks: { value: number; label: string }[]): string {
  const parts = ticks.map((t) => `datum.value == ${t.value} ? ${JSON.stringify(t.label)} : `);
  return `${parts.join('')}''`;
}

/**
 * A y scale for −log10 p. Above 30 the axis is piecewise linear: 0–20 takes the lower 65 % of
 * the height and 20–max the rest, so a p of 1e-300 does not flatten the rest of the genome.
 */
function nlpScale(maxNlp: number, height: number, minTop = 8.5) {
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

/** Label for a variant: its rsid, else its id. */
function variantLabel(v: { rsid: string | null; variant_id: string }): string {
  return v.rsid ?? v.variant_id;
}

export interface ManhattanOptions {
  /** Lead variants to label (variant ids). */
  lead?: { variant_id: string; label?: string }[];
  /** Link each point to this URL prefix + variant id (the viewer). */
  hrefPrefix?: string;
  height?: number;
}

/**
 * Manhattan plot: chromosomes in genome order with alternating colours, binned bulk as short
 * vertical rules, significant variants as points, a dashed line at p = 5e-8, lead loci labelled.
 */
export function manhattanSpec(data: ManhattanData, options: ManhattanOptions = {}): VegaLiteSpec {
  const height = options.height ?? 300;
  const total = data.chroms.length
    ? data.chroms[data.chroms.length - 1].offset + data.chroms[data.chroms.length - 1].length
    : 1;
  const labelled = data.chroms.filter((c) => /^(chr)?([0-9]+|X|Y|MT?)$/i.test(c.chrom));
  const ticks = labelled.map((c) => ({ value: c.mid, label: c.chrom.replace(/^chr/i, '') }));
  const y = nlpScale(data.maxNlp, height);
  const x = {
    field: 'gpos',
    type: 'quantitative',
    title: 'chromosome',
    scale: { domain: [0, total], nice: false, zero: false },
    axis: { values: ticks.map((t) => t.value), labelExpr: labelExpr(ticks), grid: false, labelOverlap: true },
  };
  const byId = new Map(data.points.map((p) => [p.variant_id, p]));
  const lead = (options.lead ?? [])
    .map((l) => {
      const p = byId.get(l.variant_id);
      return p ? { gpos: p.gpos, nlp: p.nlp, label: l.label ?? variantLabel(p) } : undefined;
    })
    .filter((l) => l !== undefined);
  const points = data.points.map((p) => ({
    ...p,
    p: p.nlp > 300 ? `1e-${Math.round(p.nlp)}` : (10 ** -p.nlp).toPrecision(3),
    ...(options.hrefPrefix ? { href: options.hrefPrefix + encodeURIComponent(p.variant_id) } : {}),
  }));
  return {
    $schema: SCHEMA,
    width: 'container',
    height,
    datasets: { bins: data.bins, points, lead },
    layer: [
      {
        name: 'manhattan_bins',
        data: { name: 'bins' },
        mark: { type: 'rule', strokeWidth: 3, strokeCap: 'round' },
        encoding: {
          x,
          y: { field: 'lo', type: 'quantitative', title: '−log10 p', ...y },
          y2: { field: 'hi' },
          color: parityColour,
        },
      },
      {
        name: 'manhattan_points',
        data: { name: 'points' },
        mark: {
          type: 'point',
          filled: true,
          size: 22,
          opacity: 0.9,
          cursor: options.hrefPrefix ? 'pointer' : 'default',
        },
        encoding: {
          x,
          y: { field: 'nlp', type: 'quantitative' },
          color: parityColour,
          tooltip: [
            { field: 'variant_id', title: 'variant' },
            { field: 'rsid', title: 'rsid' },
            { field: 'p', title: 'p' },
            { field: 'beta', title: 'β', format: '.3g' },
            { field: 'af', title: 'AF', format: '.3g' },
          ],
          ...(options.hrefPrefix ? { href: { field: 'href' } } : {}),
        },
      },
      {
        name: 'manhattan_threshold',
        data: { values: [{ y: -Math.log10(GENOME_WIDE_P) }] },
        mark: { type: 'rule', color: LINE_COLOUR, strokeDash: [5, 4] },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
      {
        name: 'manhattan_labels',
        data: { name: 'lead' },
        mark: { type: 'text', dy: -9, fontSize: 11, fontWeight: 'bold', color: '#222' },
        encoding: { x, y: { field: 'nlp', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  };
}

/** QQ plot of observed against expected −log10 p, with the y = x line; λGC in the title. */
export function qqSpec(data: QqData, height = 300): VegaLiteSpec {
  const maxE = Math.max(1, ...data.points.map((p) => p.expected));
  const maxO = Math.max(1, ...data.points.map((p) => p.observed));
  const y = nlpScale(maxO, height, 1);
  return {
    $schema: SCHEMA,
    width: height,
    height,
    title: `λGC = ${data.lambdaGc === null ? 'n/a' : data.lambdaGc.toFixed(3)}  (${data.nVariants.toLocaleString('en')} variants)`,
    layer: [
      {
        name: 'qq_diagonal',
        data: {
          values: [
            { e: 0, o: 0 },
            { e: maxE, o: maxE },
          ],
        },
        mark: { type: 'line', color: LINE_COLOUR, strokeDash: [5, 4] },
        encoding: {
          x: { field: 'e', type: 'quantitative' },
          y: { field: 'o', type: 'quantitative' },
        },
      },
      {
        name: 'qq_points',
        data: { values: data.points },
        mark: { type: 'point', filled: true, size: 14, color: PARITY_COLOURS[0] },
        encoding: {
          x: {
            field: 'expected',
            type: 'quantitative',
            title: 'expected −log10 p',
            scale: { domain: [0, maxE * 1.04], nice: false },
          },
          y: { field: 'observed', type: 'quantitative', title: 'observed −log10 p', ...y },
        },
      },
    ],
  };
}

interface PhewasPoint {
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

function fmt(x: number | null, digits = 3): string {
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
  return -Math.log10(0.05 / Math.max(1, nTested));
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
  const height = options.height ?? 280;
  const tested = rows.filter((r) => r.p !== null && r.neg_log10_p !== null);
  const phecodes = [...new Set(tested.map((r) => `${r.category ?? 'other'}\u0000${r.phecode}`))].sort(
    (a, b) => {
      const [ca, pa] = a.split('\u0000');
      const [cb, pb] = b.split('\u0000');
      return ca.localeCompare(cb) || Number.parseFloat(pa) - Number.parseFloat(pb) || pa.localeCompare(pb);
    },
  );
  const index = new Map(phecodes.map((k, i) => [k, i]));
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
  const nTested = new Set(tested.map((r) => r.phecode)).size;
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
    { nX: phecodes.length, maxY: maxNlp, top: options.labelTop ?? 5 },
  );
  const x = {
    field: 'x',
    type: 'quantitative',
    title: 'phecode (by category)',
    scale: { domain: [-1, Math.max(1, phecodes.length)], nice: false, zero: false },
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
        name: 'phewas_points',
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
              labelExpr: "datum.label == 'up' ? 'β > 0 (OR > 1)' : 'β < 0 (OR < 1)'",
            },
          },
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
          ...(options.hrefPrefix ? { href: { field: 'href' } } : {}),
        },
      },
      {
        name: 'phewas_bonferroni',
        data: { values: [{ y: line }] },
        mark: { type: 'rule', color: LINE_COLOUR, strokeDash: [5, 4] },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
      {
        name: 'phewas_labels',
        data: { name: 'labels' },
        mark: { type: 'text', dx: 7, align: 'left', fontSize: 10, color: '#222' },
        encoding: { x, y: { field: 'nlp', type: 'quantitative' }, text: { field: 'label' } },
      },
    ],
  };
}

/**
 * Burden test results of one run as a plot: gene × mask × AAF bin along x, −log10 p up,
 * coloured by phenotype, ▲/▼ by the sign of β, Bonferroni line over the tests shown.
 */
export function burdenSpec(rows: BurdenResultRow[], suppress: Suppression, height = 260): VegaLiteSpec {
  const tested = rows.filter((r) => r.p !== null);
  const points = tested.map((r) => ({
    mask: `${r.gene}/${r.mask}/${r.aaf_bin}`,
    gene: r.gene,
    phenotype: r.phenotype,
    nlp: r.p === 0 ? 320 : Math.round(-Math.log10(r.p as number) * 1000) / 1000,
    direction: (r.beta ?? 0) < 0 ? 'down' : 'up',
    beta: fmt(r.beta),
    p: fmt(r.p),
    n_carriers: String(suppressCount(r.n_carriers, suppress)),
    n_variants: r.n_variants,
  }));
  const line = bonferroniNlp(points.length);
  const maxNlp = Math.max(line, ...points.map((p) => p.nlp));
  return {
    $schema: SCHEMA,
    width: 'container',
    height,
    layer: [
      {
        name: 'burden_points',
        data: { values: points },
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          x: {
            field: 'mask',
            type: 'nominal',
            title: 'gene / mask / AAF bin',
            axis: { labelAngle: -30, labelLimit: 160 },
          },
          y: { field: 'nlp', type: 'quantitative', title: '−log10 p', ...nlpScale(maxNlp, height, line + 1) },
          color: { field: 'phenotype', type: 'nominal', scale: { scheme: 'tableau10' } },
          shape: {
            field: 'direction',
            type: 'nominal',
            scale: { domain: ['up', 'down'], range: ['triangle-up', 'triangle-down'] },
            legend: { title: 'direction', labelExpr: "datum.label == 'up' ? 'β > 0' : 'β < 0'" },
          },
          tooltip: [
            { field: 'mask' },
            { field: 'phenotype' },
            { field: 'p' },
            { field: 'beta', title: 'β' },
            { field: 'n_carriers', title: 'carriers' },
            { field: 'n_variants', title: 'variants' },
          ],
        },
      },
      {
        name: 'burden_bonferroni',
        data: { values: [{ y: line }] },
        mark: { type: 'rule', color: LINE_COLOUR, strokeDash: [5, 4] },
        encoding: { y: { field: 'y', type: 'quantitative' } },
      },
    ],
  };
}
