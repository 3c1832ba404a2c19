/**
 * The time-to-event (Cox) PheWAS in the report: a run with `phewas_cox_results` rows (a variant
 * and a burden predictor, 40 phecodes, some with small counts) and `phewas_cox_km` curves built
 * by phewas/km.ts from a seeded cohort, written into the results fixture. Checked: the section,
 * the HR plot (one point per tested phecode, ▲/▼ by HR), the top table with HR, CI and the PH
 * flag, KM plots drawn only from the coarsened staircase (every drawn step pools ≥ 21 exact
 * events, no drawn point has < 21 at risk, a group with < 21 events is "not shown"), the privacy
 * note, and no person count 1–20 in the tables or plot data.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { writeRunResults } from '../../engine/results.js';
import { type KmParquetRow, kaplanMeierRows, writeKmParquet } from '../../phewas/km.js';
import { writeRunReport } from '../../report/index.js';
import type { PhewasCoxResultRow } from '../../schemas/results.js';
import { apiPhecode } from '../../viewer/routes-api.js';
import type { Context } from '../../viewer/routes-common.js';
import { phecodePage, variantPage } from '../../viewer/routes-pages.js';
import { rng } from '../helpers/rng.js';
import { type Fixture, makeFixture } from '../results/fixture.js';

const VARIANT = '1:55039974:G:T';
const BURDEN = 'PCSK9__pLoF__0.01';
let fx: Fixture;
let km: KmParquetRow[];
let html: string;

/** 40 phecodes per predictor; phecode 401.1 strongly associated; 3 untested; small counts in some. */
function coxRows(
  predictor: string,
  type: 'variant' | 'burden',
  seed: number,
): Omit<PhewasCoxResultRow, 'run_id'>[] {
  const r = rng(seed);
  const cats = ['circulatory system', 'endocrine/metabolic', 'digestive'];
  return Array.from({ length: 40 }, (_, k) => {
    const tested = k % 13 !== 7;
    const strong = k === 1 || k === 2;
    const p = tested ? (strong ? 10 ** -(9 + k) : 0.01 + r.next() * 0.98) : null;
    const beta = tested ? (k === 2 ? -0.8 : strong ? 0.9 : (r.next() - 0.5) * 0.6) : null;
    const se = tested ? 0.1 + r.next() * 0.1 : null;
    const n_events = tested ? (k === 5 ? 13 : 60 + 7 * k) : 9;
    const n_censored = 4000 - n_events;
    return {
      predictor,
      predictor_type: type,
      phecode: `${400 + k}.1`,
      phecode_version: '1.2',
      description: `cox phecode ${k}`,
      category: cats[k % 3],
      time_scale: 'age',
      n_events,
      n_censored,
      n_prevalent: k === 3 ? 17 : 30 + k,
      n_excluded: 25,
      n_at_risk: n_events + n_censored,
      person_years: 31_234.5 + k,
      beta,
      se,
      hazard_ratio: beta === null ? null : Math.exp(beta),
      ci_low: beta === null || se === null ? null : Math.exp(beta - 1.96 * se),
      ci_high: beta === null || se === null ? null : Math.exp(beta + 1.96 * se),
      p,
      neg_log10_p: p === null ? null : -Math.log10(p),
      p_wald: p,
      p_score: p,
      test: tested ? (k === 4 ? 'cox_firth' : 'cox') : null,
      zph_p: tested && p !== null && p < 0.05 ? (k === 1 ? 0.003 : 0.4) : null,
      zph_global_p: null,
      status: tested ? 'ok' : 'too_few_events',
      reason: tested ? null : '9 events < minEvents 20',
    };
  });
}

/** A cohort on the age scale (entry 40–60) with carriers at higher hazard; `carrierEvents` caps carrier events. */
function kmCohort(seed: number, carrierEvents: number) {
  const r = rng(seed);
  const n = 3000;
  const start = new Float64Array(n);
  const stop = new Float64Array(n);
  const event = new Uint8Array(n);
  const x = new Float64Array(n);
  let ce = 0;
  for (let i = 0; i < n; i++) {
    x[i] = r.next() < 0.15 ? 1 : r.next() < 0.05 ? 2 : 0;
    start[i] = 40 + r.next() * 20;
    const rate = x[i] > 0 ? 0.03 : 0.012;
    const tEvent = start[i] - Math.log(Math.max(r.next(), 1e-12)) / rate;
    const tCens = start[i] + 0.5 + r.next() * 15;
    stop[i] = Math.min(tEvent, tCens);
    event[i] = tEvent <= tCens ? 1 : 0;
    if (x[i] > 0 && event[i] === 1 && ++ce > carrierEvents) event[i] = 0;
  }
  return { start, stop, event, x };
}

beforeAll(async () => {
  fx = await makeFixture();
  await writeRunResults(fx.config, fx.runId, 'phewas_cox_results', [
    ...coxRows(VARIANT, 'variant', 1),
    ...coxRows(BURDEN, 'burden', 2),
  ]);
  km = [];
  for (const [phecode, carrierEvents] of [
    ['401.1', 10_000],
    ['402.1', 15],
  ] as const) {
    const c = kmCohort(phecode === '401.1' ? 11 : 12, carrierEvents);
    for (const row of kaplanMeierRows({ phecode, predictor: VARIANT, ...c }))
      km.push({ ...row, predictor: VARIANT, phecode });
  }
  // As the activity does: the Parquet file of phewas/km.ts, then the results table.
  const file = join(fx.dataDir, 'km.parquet');
  await withCompute(fx.config, (conn) => writeKmParquet(conn, km, file));
  expect((await writeRunResults(fx.config, fx.runId, 'phewas_cox_km', { parquet: file })).rows).toBe(
    km.length,
  );
  html = await readFile((await writeRunReport(fx.config, fx.runId)).path, 'utf8');
}, 60_000);
afterAll(async () => {
  await fx?.cleanup();
});

/** The JSON spec of a plot by id prefix. */
function specs(
  prefix: string,
): { id: string; spec: { datasets: Record<string, Record<string, unknown>[]> } }[] {
  return [...html.matchAll(/<script type="application\/json" id="([^"]+)-spec">([\s\S]*?)<\/script>/g)]
    .filter((m) => m[1].startsWith(prefix))
    .map((m) => ({ id: m[1], spec: JSON.parse(m[2]) }));
}

function tableRows(cls: string): string[][][] {
  return [...html.matchAll(new RegExp(`<table class="${cls}">([\\s\\S]*?)</table>`, 'g'))].map((t) =>
    [...t[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) =>
      [...row[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) =>
        c[1]
          .replace(/<[^>]+>/g, '')
          .replaceAll('&lt;', '<')
          .replaceAll('&gt;', '>')
          .replaceAll('&amp;', '&'),
      ),
    ),
  );
}

describe('report: time-to-event PheWAS (Cox)', () => {
  it('renders the section with one HR plot per predictor, ▲/▼ by HR', () => {
    expect(html).toContain('<h2 id="phewas-cox">Time-to-event PheWAS (Cox)</h2>');
    const plots = specs('cox-');
    expect(plots.length).toBe(2);
    for (const { spec } of plots) {
      const points = spec.datasets.phewas;
      expect(points.length).toBe(40 - 3); // untested phecodes are not drawn
      expect(points.find((p) => p.phecode === '402.1')?.direction).toBe('down');
      expect(points.find((p) => p.phecode === '401.1')?.direction).toBe('up');
    }
  });

  it('lists the top associations with HR, 95% CI, test, person-years and the PH flag', () => {
    const tables = tableRows('cox-top');
    expect(tables.length).toBe(2);
    const [head, ...rows] = tables[0];
    expect(head).toEqual([
      'phecode',
      'description',
      'HR',
      '95% CI',
      'p',
      'test',
      'events',
      'at risk',
      'prevalent excluded',
      'person-years',
      'PH check p',
      'status',
    ]);
    expect(rows.length).toBe(15);
    expect(rows[0][0]).toBe('402.1'); // p = 1e-11 first
    expect(rows[0][2]).toBe(Math.exp(-0.8).toPrecision(3));
    const r401 = rows.find((r) => r[0] === '401.1') as string[];
    expect(r401[11 - 1]).toMatch(/^⚠ /);
    expect(r401[9]).toBe('31,200');
  });

  it('shows no person count from 1 to 20 in the tables or plot data', () => {
    const [head, ...rows] = tableRows('cox-top')[0];
    const countCols = ['events', 'at risk', 'prevalent excluded'].map((t) => head.indexOf(t));
    const all = tableRows('cox-top').flatMap((t) => t.slice(1));
    const shown = all.flatMap((r) => countCols.map((c) => r[c]));
    expect(shown.some((v) => v === '≤20')).toBe(true); // the planted 13 events and 17 prevalent
    expect(
      shown.filter(
        (v) =>
          /^\d+$/.test(v.replaceAll(',', '')) &&
          Number(v.replaceAll(',', '')) >= 1 &&
          Number(v.replaceAll(',', '')) <= 20,
      ),
    ).toEqual([]);
    expect(rows.length).toBeGreaterThan(0);
    expect(html).not.toMatch(/"n_(events|at_risk)":"(20|1[0-9]|[1-9])"/);
    expect(html).not.toMatch(/13 events|17 prevalent/);
  });

  it('draws KM curves only as the coarsened staircase and hides small groups', () => {
    const plots = specs('km-');
    expect(plots.length).toBe(2);
    // 402.1: the carriers' 15 events are not drawn, the non-carriers' curve is.
    expect(html).toContain('carriers: not shown: fewer than 21 events in this group');
    const groups = (i: number) => [...new Set(plots[i].spec.datasets.km.map((p) => p.group))].sort();
    expect([groups(0), groups(1)]).toEqual([['non-carriers'], ['carriers', 'non-carriers']]); // by p
    const points = plots[1].spec.datasets.km as { group: string; time: number; incidence: number }[];
    for (const [group, label] of [
      ['carrier', 'carriers'],
      ['non_carrier', 'non-carriers'],
    ] as const) {
      const exact = km.filter((r) => r.phecode === '401.1' && r.group === group);
      const shown = points.filter((p) => p.group === label);
      expect(shown.length).toBeGreaterThan(2);
      expect(shown.length).toBeLessThan(exact.filter((r) => r.n_events > 0).length / 3);
      for (let k = 1; k < shown.length; k++) {
        const between = exact.filter(
          (r) => r.time > shown[k - 1].time - 1e-5 && r.time <= shown[k].time + 1e-5,
        );
        expect(between.reduce((a, r) => a + r.n_events, 0)).toBeGreaterThanOrEqual(21);
        expect(between.every((r) => r.n_at_risk >= 21)).toBe(true);
        expect(shown[k].incidence).toBeGreaterThan(shown[k - 1].incidence);
      }
    }
    expect(html).toMatch(/Kaplan–Meier curves are coarsened: a point is drawn only where at least 21 events/);
  });

  it('the viewer shows the Cox rows and KM plots on the variant and phecode pages, counts suppressed', async () => {
    const ctx: Context = { config: fx.config, suppress: true, query: new URLSearchParams() };
    const body = (r: unknown) => (r as { body: string }).body;
    const variant = body(await variantPage(ctx, [VARIANT]));
    expect(variant).toContain('Time-to-event PheWAS (Cox)');
    expect(variant.match(/data-plot="km-/g)?.length).toBe(2);
    expect(variant).toContain('class="cox-top"');
    const phecode = body(await phecodePage(ctx, ['405.1']));
    expect(phecode).toContain('class="phecode-cox-table"');
    expect(phecode).toContain('≤20'); // 13 events at 405.1
    expect(phecode).not.toMatch(/>13</);
    const api = JSON.parse(body(await apiPhecode(ctx, ['407.1']))) as {
      cox: { n_events: unknown; reason: string }[];
    };
    expect(api.cox.map((r) => [r.n_events, r.reason])).toEqual([
      ['≤20', '≤20 events < minEvents 20'],
      ['≤20', '≤20 events < minEvents 20'],
    ]);
  });
});
