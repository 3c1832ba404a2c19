/**
 * The forest plot of a PheWAS meta-analysis association (Vega-Lite), on the ratio scale of its
 * model: odds ratio for `logistic`, hazard ratio for `cox` (β is the log of either), with a log
 * x axis so that intervals stay symmetric. One row per input (stratum or site), top to bottom in
 * input order: the input's aligned ratio exp(β) as a square (area ∝ its inverse-variance weight)
 * and its 95 % interval exp(β ± 1.96·SE) as a line; an input that does not have the association
 * (`absent`) or did not test it (`not_tested`: too few cases, separation…) gets a text row saying
 * so. Below them the pooled estimates as diamonds spanning their 95 % interval: fixed-effect
 * inverse variance and DerSimonian–Laird random effects. A dashed line marks a ratio of 1. The
 * title names the association and gives Cochran's Q p, I², k and the direction string.
 *
 * 1.96 is Φ⁻¹(0.975) (stats/distributions.ts `Z_975`), as metafor's `forest()` draws. Layers are
 * named like the GWAS forest plot's (report/specs-meta.ts): `forest_inputs`, `forest_ci`,
 * `forest_absent`, `forest_diamonds`.
 */
import { Z_975 } from '../stats/distributions.js';
import type { MetaPhewasInputRow, MetaPhewasModel } from './data-meta-phewas.js';
import {
  FOREST_ROW_PX,
  fmtPlotP,
  forestDiamondPoints,
  forestRowsEncoding,
  LINE_COLOUR,
  PARITY_COLOURS,
  SCHEMA,
  type VegaLiteSpec,
} from './specs-common.js';

/** The ratio a model's β is the log of, for axis titles and tables. */
export function ratioName(model: MetaPhewasModel): 'OR' | 'HR' {
  return model === 'cox' ? 'HR' : 'OR';
}

/** I² (percent) as printed: one decimal. */
export const fmtI2 = (i2: number | null): string => (i2 === null ? 'NA' : i2.toFixed(1));

export interface PhewasForestInput {
  /** Title line: the association. */
  title: string;
  model: MetaPhewasModel;
  inputs: readonly MetaPhewasInputRow[];
  fixed: { beta: number | null; se: number | null };
  random: { beta: number | null; se: number | null };
  k: number;
  q_p: number | null;
  i2: number | null;
  direction: string;
}

/** The heterogeneity line of the title: Q p, I², k and the direction. */
export function heterogeneityLine(x: Pick<PhewasForestInput, 'k' | 'q_p' | 'i2' | 'direction'>): string {
  return `Q p = ${fmtPlotP(x.q_p)} · I² = ${fmtI2(x.i2)} % · k = ${x.k} · direction ${x.direction}`;
}

const usable = (b: number | null, s: number | null): b is number =>
  b !== null && s !== null && Number.isFinite(b) && s > 0;

/** Forest plot of one association across its inputs, on the OR / HR scale. */
export function phewasForestSpec(x: PhewasForestInput): VegaLiteSpec {
  const ratio = ratioName(x.model);
  const d = [
    { name: 'Fixed effect (IVW)', ...x.fixed },
    { name: 'Random effects (DL)', ...x.random },
  ].filter((e) => usable(e.beta, e.se)) as { name: string; beta: number; se: number }[];
  const rows = x.inputs.length + d.length;
  const yOf = (row: number) => rows - 1 - row;
  const totalW = x.inputs.reduce((s, e) => s + (usable(e.beta, e.se) ? 1 / (e.se as number) ** 2 : 0), 0);
  const inputs = x.inputs.flatMap((e, i) => {
    if (!usable(e.beta, e.se)) return [];
    const se = e.se as number;
    const w = 1 / se ** 2 / totalW;
    return [
      {
        label: e.label,
        y: yOf(i),
        beta: e.beta,
        se,
        ratio: Math.exp(e.beta),
        lo: Math.exp(e.beta - Z_975 * se),
        hi: Math.exp(e.beta + Z_975 * se),
        p: fmtPlotP(e.p),
        weight: `${(100 * w).toFixed(1)} %`,
        size: Math.round(30 + 170 * w),
        aligned: e.aligned,
        test: e.test ?? '',
      },
    ];
  });
  const absent = x.inputs.flatMap((e, i) =>
    usable(e.beta, e.se)
      ? []
      : [{ label: e.label, y: yOf(i), text: e.aligned === 'absent' ? 'absent (no such row)' : 'not tested' }],
  );
  const diamondPoints = forestDiamondPoints(d, (j) => yOf(x.inputs.length + j), Math.exp, 'ratio');
  const xs = [1, ...inputs.flatMap((e) => [e.lo, e.hi]), ...diamondPoints.map((p) => p.x)].filter(
    (v) => v > 0 && Number.isFinite(v),
  );
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const pad = (hi / lo) ** 0.05;
  const domain = [lo / pad, hi * pad];
  const ticks = [
    ...x.inputs.map((e, i) => ({ value: yOf(i), label: e.label })),
    ...d.map((e, j) => ({ value: yOf(x.inputs.length + j), label: e.name })),
  ];
  const xEnc = {
    field: 'x',
    type: 'quantitative',
    title: `${ratio === 'OR' ? 'odds ratio' : 'hazard ratio'} (${ratio}, log scale), 95% CI`,
    scale: { type: 'log', domain, nice: false },
  };
  const yEnc = forestRowsEncoding(rows, ticks);
  const heterogeneity = heterogeneityLine(x);
  return {
    $schema: SCHEMA,
    width: 'container',
    height: FOREST_ROW_PX * rows + 10,
    title: { text: x.title, subtitle: heterogeneity },
    description: heterogeneity,
    datasets: { inputs, absent, diamonds: diamondPoints },
    layer: [
      {
        name: 'forest_null',
        data: { values: [{ x: 1 }] },
        mark: { type: 'rule', color: '#888', strokeDash: [3, 3] },
        encoding: { x: xEnc },
      },
      {
        name: 'forest_ci',
        data: { name: 'inputs' },
        transform: [{ calculate: 'datum.lo', as: 'x' }],
        mark: { type: 'rule', color: PARITY_COLOURS[0], strokeWidth: 1.5 },
        encoding: { x: xEnc, x2: { field: 'hi' }, y: yEnc },
      },
      {
        name: 'forest_inputs',
        data: { name: 'inputs' },
        transform: [{ calculate: 'datum.ratio', as: 'x' }],
        mark: { type: 'square', filled: true, color: PARITY_COLOURS[0], opacity: 1 },
        encoding: {
          x: xEnc,
          y: yEnc,
          size: { field: 'size', type: 'quantitative', scale: null },
          tooltip: [
            { field: 'label', title: 'input' },
            { field: 'ratio', title: ratio, format: '.4g' },
            { field: 'lo', title: '95% CI low', format: '.4g' },
            { field: 'hi', title: '95% CI high', format: '.4g' },
            { field: 'p', title: 'p' },
            { field: 'test', title: 'test' },
            { field: 'weight', title: 'weight (fixed)' },
            { field: 'aligned', title: 'alignment' },
          ],
        },
      },
      {
        name: 'forest_absent',
        data: { name: 'absent' },
        mark: { type: 'text', align: 'left', dx: 4, fontStyle: 'italic', color: '#777' },
        encoding: { x: { datum: domain[0], type: 'quantitative' }, y: yEnc, text: { field: 'text' } },
      },
      {
        name: 'forest_diamonds',
        data: { name: 'diamonds' },
        mark: { type: 'area', orient: 'vertical', color: LINE_COLOUR, opacity: 0.85 },
        encoding: {
          x: xEnc,
          y: yEnc,
          y2: { field: 'y2' },
          detail: { field: 'estimate' },
          tooltip: [
            { field: 'estimate' },
            { field: 'ratio', title: ratio },
            { field: 'ci', title: '95% CI' },
          ],
        },
      },
    ],
  };
}
