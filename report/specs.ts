/**
 * Vega-Lite specifications of the report's and the viewer's plots. Pure functions from data to
 * a JSON spec; `report/html.ts` embeds them and vega-embed renders them (as SVG) in the page.
 * Mark layers carry names (`manhattan_points`, `phewas_points`, …) so the browser tests can
 * count the rendered marks of each layer.
 */
import { type Suppression, suppressCount } from '../engine/privacy.js';
import type { BurdenResultRow } from '../schemas/results.js';
import type { ManhattanData, QqData } from './data.js';
import {
  bonferroniNlp,
  fmt,
  LINE_COLOUR,
  labelExpr,
  nlpScale,
  PARITY_COLOURS,
  SCHEMA,
  type VegaLiteSpec,
} from './specs-common.js';

export { bonferroniNlp, type VegaLiteSpec } from './specs-common.js';
export { type PhewasOptions, phewasSpec, placeLabels } from './specs-phewas.js';

/** Genome-wide significance, p = 5e-8. */
export const GENOME_WIDE_P = 5e-8;

const parityColour = {
  field: 'parity',
  type: 'nominal',
  scale: { domain: [0, 1], range: PARITY_COLOURS },
  legend: null,
};

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
