/**
 * A meta-analysis run in the viewer (test/meta/report-fixture.ts: three sites, four planted lead
 * loci, site C with 12 cases): it is listed as a meta-analysis, its page has the meta report's
 * sections and renders in Chromium with one forest plot per lead locus (one square per site, two
 * diamonds, counted in the drawn SVG), its lead variants link to variant pages that list the
 * meta-analysis rows, and the JSON API gives the same rows with person counts suppressed.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startViewer, type Viewer } from '../../viewer/server.js';
import { tempDir } from '../ingest/helpers.js';
import { type MetaReportFixture, makeMetaReportFixture, PLANTED, SITES } from '../meta/report-fixture.js';
import { type BrowserSession, countMarks, openBrowser, plotIds, waitForPlots } from './browser.js';

let dir: string;
let fx: MetaReportFixture;
let viewer: Viewer;

const vid = (v: { chrom: string; pos: number; other: string; effect: string }) =>
  `${v.chrom}:${v.pos}:${v.other}:${v.effect}`;

beforeAll(async () => {
  dir = tempDir('viewer-meta');
  fx = await makeMetaReportFixture(dir);
  viewer = await startViewer(fx.config, { port: 0 });
}, 60_000);

afterAll(async () => {
  await viewer?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${viewer.url}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('a meta run in the viewer', () => {
  it('is listed as a meta-analysis and its page has the meta report sections', async () => {
    const runs = await get('/');
    expect(runs.status).toBe(200);
    const row = runs.body.split('<tr>').find((r) => r.includes(`href="/runs/${fx.runId}"`));
    expect(row).toContain('<td>meta-analysis</td>');

    const run = await get(`/runs/${fx.runId}`);
    expect(run.status).toBe(200);
    expect(run.body).toContain('<script src="/static/vega.min.js"></script>');
    for (const id of ['inputs', 'heterogeneity', 'forest', 'leave-one-out'])
      expect(run.body).toContain(`<h2 id="${id}">`);
    expect(run.body.match(/data-plot="forest-/g)).toHaveLength(Object.keys(PLANTED).length);
    expect(run.body).toContain(`<a href="/variant/${encodeURIComponent(vid(PLANTED.opposite))}">`);
    expect(run.body).toContain('≤20');
    expect(run.body).not.toMatch(/>12</);
  });

  it('renders the forest plots in Chromium: one square per input, two diamonds', async () => {
    let session: BrowserSession | undefined;
    try {
      session = await openBrowser();
      const errors: string[] = [];
      session.page.on('pageerror', (e) => errors.push(e.message));
      await session.page.goto(`${viewer.url}/runs/${fx.runId}`);
      await waitForPlots(session.page);
      const forest = (await plotIds(session.page)).filter((id) => id.startsWith('forest-'));
      expect(forest).toHaveLength(Object.keys(PLANTED).length);
      for (const id of forest) {
        expect(await countMarks(session.page, id, 'forest_inputs')).toBe(SITES.length);
        expect(await countMarks(session.page, id, 'forest_ci')).toBe(SITES.length);
        expect(await countMarks(session.page, id, 'forest_diamonds')).toBe(2);
      }
      expect(await countMarks(session.page, 'manhattan-0-meta-LDL', 'manhattan_points')).toBe(4);
      expect(errors).toEqual([]);
    } finally {
      await session?.close();
    }
  });

  it('a lead variant page lists its meta-analysis rows; the API gives them in either orientation', async () => {
    const id = vid(PLANTED.opposite);
    const page = await get(`/variant/${encodeURIComponent(id)}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('variant-meta-table');
    expect(page.body).toContain('<code>++-</code>');
    const swapped = `${PLANTED.opposite.chrom}:${PLANTED.opposite.pos}:${PLANTED.opposite.effect}:${PLANTED.opposite.other}`;
    for (const v of [id, swapped]) {
      const api = await get(`/api/variant/${encodeURIComponent(v)}`);
      expect(api.status).toBe(200);
      const rows = (JSON.parse(api.body) as { meta: Record<string, unknown>[] }).meta;
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ run_id: fx.runId, effect_allele: 'C', other_allele: 'T', k: 3 });
      expect(rows[0].beta as number).toBeCloseTo(0.1, 12);
    }
    expect((await get('/api/variant/9:1:A:G')).status).toBe(404);
  });

  it('the run API gives inputs with suppressed counts and the heterogeneity calls', async () => {
    const api = await get(`/api/runs/${fx.runId}`);
    expect(api.status).toBe(200);
    const meta = (JSON.parse(api.body) as { meta: Record<string, unknown> }).meta as {
      inputs: { label: string; n: unknown; n_cases: unknown; n_controls: unknown }[];
      lead_loci: { variant_id: string; forest: unknown[] }[];
      heterogeneous: { m: number; variant_ids: string[] };
      single_input: { variant_id: string; input: string }[];
    };
    expect(meta.inputs.map((x) => x.label)).toEqual([...SITES]);
    expect(meta.inputs[2]).toMatchObject({ n: '>=5000', n_cases: '≤20', n_controls: '>=4980' });
    expect(meta.lead_loci).toHaveLength(4);
    for (const l of meta.lead_loci) expect(l.forest).toHaveLength(3);
    expect(meta.heterogeneous.m).toBe(4);
    expect(meta.heterogeneous.variant_ids).toContain(vid(PLANTED.opposite));
    expect(meta.heterogeneous.variant_ids).not.toContain(vid(PLANTED.mild));
    expect(meta.single_input).toEqual([
      expect.objectContaining({ variant_id: vid(PLANTED.single), input: 'site A' }),
    ]);
    expect(api.body).not.toMatch(/"(nCases|n_cases)":12\b/);
  });
});
