/**
 * The forest plot of a meta-analysis lead locus (Vega-Lite): one row per input, top to bottom in
 * spec order, with its aligned β as a square (area ∝ its inverse-variance weight) and its 95 %
 * interval β ± 1.96·SE as a line; inputs without an estimate (absent, or dropped by allele
 * alignment) get a text row saying so. Below them, the pooled estimates as diamonds spanning
 * their 95 % interval: fixed-effect inverse-variance and DerSimonian–Laird random effects (when
 * computed). A vertical line marks β = 0. The title gives k, Cochran's Q p, I² and the
 * direction string (the spec's description; the page prints them above the plot).
 *
 * The 1.96 is Φ⁻¹(0.975) (stats/distributions.ts `Z_975`), as metafor's `forest()` draws.
 * Layers are named (`forest_inputs`, `forest_ci`, `forest_absent`, `forest_diamonds`) so the
 * browser tests can count the drawn marks.
 */
import { Z_975 } from '../stats/distributions.js';
import type { MetaForestEntry, MetaLeadView } from './data-meta.js';
import {
  FOREST_ROW_PX,
  fmt,
  fmtPlotP as fmtP,
  forestDiamondPoints,
  forestRowsEncoding,
  LINE_COLOUR,
  PARITY_COLOURS,
  SCHEMA,
  type VegaLiteSpec,
} from './specs-common.js';

interface Diamond {
  name: string;
  beta: number;
  se: number;
}

/** The pooled estimates a lead has (fixed always; random when computed). */
function diamonds(lead: MetaLeadView): Diamond[] {
  const out: Diamond[] = [];
  if (lead.beta !== null && lead.se !== null)
    out.push({ name: 'Fixed effect (IVW)', beta: lead.beta, se: lead.se });
  if (lead.beta_random !== null && lead.se_random !== null)
    out.push({ name: 'Random effects (DL)', beta: lead.beta_random, se: lead.se_random });
  return out;
}

/** Forest plot of one lead locus across the inputs (`entries` in spec order). */
export function forestSpec(lead: MetaLeadView, entries: readonly MetaForestEntry[]): VegaLiteSpec {
  const d = diamonds(lead);
  const rows = entries.length + d.length;
  // y: the first input at the top; the diamonds below the inputs
  const yOf = (row: number) => rows - 1 - row;
  const withEstimate = entries.filter((e) => e.beta !== null && e.se !== null && (e.se as number) > 0);
  const totalW = withEstimate.reduce((s, e) => s + 1 / (e.se as number) ** 2, 0);
  const inputs = entries.flatMap((e, i) => {
    if (e.beta === null || e.se === null || !(e.se > 0)) return [];
    const w = 1 / e.se ** 2 / totalW;
    return [
      {
        label: e.label,
        y: yOf(i),
        beta: e.beta,
        lo: e.beta - Z_975 * e.se,
        hi: e.beta + Z_975 * e.se,
        se: fmt(e.se),
        p: fmtP(e.p),
        weight: `${(100 * w).toFixed(1)} %`,
        size: Math.round(30 + 170 * w),
        aligned: e.aligned,
      },
    ];
  });
  const absent = entries.flatMap((e, i) =>
    inputs.some((x) => x.y === yOf(i))
      ? []
      : [
          {
            label: e.label,
            y: yOf(i),
            text: e.aligned === 'absent' ? 'not in this input' : `dropped (${e.aligned})`,
          },
        ],
  );
  const diamondPoints = forestDiamondPoints(
    d,
    (j) => yOf(entries.length + j),
    (b) => b,
    'beta',
  );
  const xs = [0, ...inputs.flatMap((x) => [x.lo, x.hi]), ...diamondPoints.map((p) => p.x)];
  const span = Math.max(...xs) - Math.min(...xs) || 1;
  const ticks = [
    ...entries.map((e, i) => ({ value: yOf(i), label: e.label })),
    ...d.map((x, j) => ({ value: yOf(entries.length + j), label: x.name })),
  ];
  const x = {
    field: 'x',
    type: 'quantitative',
    title: `β (${lead.effect_allele} vs ${lead.other_allele}), 95% CI`,
    scale: {
      domain: [Math.min(...xs) - 0.05 * span, Math.max(...xs) + 0.05 * span],
      nice: false,
      zero: false,
    },
  };
  const y = forestRowsEncoding(rows, ticks);
  const heterogeneity = `k = ${lead.k ?? 'NA'} · Q p = ${fmtP(lead.q_p)} · I² = ${lead.i2 === null ? 'NA' : `${lead.i2.toFixed(1)} %`} · direction ${lead.direction ?? 'NA'}`;
  return {
    $schema: SCHEMA,
    width: 'container',
    height: FOREST_ROW_PX * rows + 10,
    description: heterogeneity,
    datasets: { inputs, absent, diamonds: diamondPoints },
    layer: [
      {
        name: 'forest_null',
        data: { values: [{ x: 0 }] },
        mark: { type: 'rule', color: '#888', strokeDash: [3, 3] },
        encoding: { x },
      },
      {
        name: 'forest_ci',
        data: { name: 'inputs' },
        transform: [{ calculate: 'datum.lo', as: 'x' }],
        mark: { type: 'rule', color: PARITY_COLOURS[0], strokeWidth: 1.5 },
        encoding: { x, x2: { field: 'hi' }, y },
      },
      {
        name: 'forest_inputs',
        data: { name: 'inputs' },
        transform: [{ calculate: 'datum.beta', as: 'x' }],
        mark: { type: 'square', filled: true, color: PARITY_COLOURS[0], opacity: 1 },
        encoding: {
          x,
          y,
          size: { field: 'size', type: 'quantitative', scale: null },
          tooltip: [
            { field: 'label', title: 'input' },
            { field: 'beta', title: 'β', format: '.4g' },
            { field: 'se', title: 'SE' },
            { field: 'p', title: 'p' },
            { field: 'weight', title: 'weight (fixed)' },
            { field: 'aligned', title: 'alignment' },
          ],
        },
      },
      {
        name: 'forest_absent',
        data: { name: 'absent' },
        mark: { type: 'text', align: 'left', fontStyle: 'italic', color: '#777' },
        encoding: {
          x: { datum: Math.min(...xs), type: 'quantitative' },
          y,
          text: { field: 'text' },
        },
      },
      {
        name: 'forest_diamonds',
        data: { name: 'diamonds' },
        mark: { type: 'area', orient: 'vertical', color: LINE_COLOUR, opacity: 0.85 },
        encoding: {
          x,
          y,
          y2: { field: 'y2' },
          detail: { field: 'estimate' },
          tooltip: [{ field: 'estimate' }, { field: 'beta', title: 'β' }, { field: 'ci', title: '95% CI' }],
        },
      },
    ],
  };
}
