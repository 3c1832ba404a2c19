/**
 * Browser tests in Debian's Chromium (playwright-core): the report file opened offline and every
 * viewer page render their plots with the expected number of marks (counted in the SVG), a top
 * hit clicks through to its variant page, search works from the header, and no page logs an
 * error (CSP included). Screenshots go to test-artifacts/ (git-ignored).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manhattanData, qqData } from '../../report/data.js';
import { writeRunReport } from '../../report/index.js';
import type { PhewasResultRow } from '../../schemas/results.js';
import { startViewer, type Viewer } from '../../viewer/server.js';
import { addBurdenPhewas } from '../report/helpers.js';
import { type Fixture, makeFixture } from '../results/fixture.js';
import {
  ARTIFACTS,
  type BrowserSession,
  countMarks,
  inPage,
  openBrowser,
  plotIds,
  waitForPlots,
} from './browser.js';

let fx: Fixture;
let viewer: Viewer;
let session: BrowserSession;
let reportPath = '';
let burdenRows: Omit<PhewasResultRow, 'run_id'>[] = [];
const errors: string[] = [];
const shots = join(ARTIFACTS, 'viewer');

beforeAll(async () => {
  fx = await makeFixture();
  burdenRows = await addBurdenPhewas(fx);
  reportPath = (await writeRunReport(fx.config, fx.runId)).path;
  viewer = await startViewer(fx.config, { port: 0 });
  session = await openBrowser();
  session.page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${session.page.url()}: ${m.text()}`);
  });
  session.page.on('pageerror', (e) => errors.push(`${session.page.url()}: ${e.message}`));
  await mkdir(shots, { recursive: true });
});
afterAll(async () => {
  await session?.close();
  await viewer?.close();
  await fx?.cleanup();
});

const testedFor = (rows: Omit<PhewasResultRow, 'run_id'>[], predictor?: string) =>
  rows.filter((r) => (predictor === undefined || r.predictor === predictor) && r.p !== null);

/** Distinct symbol shapes drawn in a layer (▲ and ▼ have different path data). */
function distinctShapes(plotId: string, layer: string): Promise<number> {
  return inPage(
    session.page,
    `new Set(Array.from(document.querySelectorAll('#${plotId} g.${layer}_marks > path')).map((p) => p.getAttribute('d'))).size`,
  );
}

describe('the HTML report in Chromium', () => {
  it('renders every plot with the expected marks, offline', async () => {
    const page = session.page;
    // Offline: any request other than the file itself would be a bug.
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file://')) requests.push(r.url());
    });
    await page.goto(`file://${reportPath}`);
    await waitForPlots(page);
    expect(requests).toEqual([]);
    const ids = await plotIds(page);
    const ldl = ids.find((id) => id.startsWith('manhattan-') && id.endsWith('-LDL')) as string;
    const ldlRows = fx.gwas.filter((r) => r.phenotype === 'LDL' && r.neg_log10_p !== null);
    // Points: the variants with p < 1e-4; bins: as computed; labels: one per lead locus.
    expect(await countMarks(page, ldl, 'manhattan_points')).toBe(
      ldlRows.filter((r) => (r.neg_log10_p as number) >= 4).length,
    );
    const data = await manhattanData(fx.config, fx.runId, 'LDL');
    expect(await countMarks(page, ldl, 'manhattan_bins')).toBe(data.bins.length);
    expect(await countMarks(page, ldl, 'manhattan_labels')).toBe(fx.lead.length);
    expect(await countMarks(page, ldl, 'manhattan_threshold')).toBe(1);
    const qq = ldl.replace('manhattan-', 'qq-');
    expect(await countMarks(page, qq, 'qq_points')).toBe(
      (await qqData(fx.config, fx.runId, 'LDL')).points.length,
    );
    // One PheWAS plot per lead variant: one mark per tested phecode, ▲ and ▼ both used.
    const phewasIds = ids.filter((id) => id.startsWith('phewas-'));
    expect(phewasIds).toHaveLength(fx.lead.length);
    for (const [i, lead] of fx.lead.entries()) {
      const tested = testedFor(fx.phewas, lead.variant_id);
      expect(await countMarks(page, phewasIds[i], 'phewas_points')).toBe(tested.length);
      expect(await countMarks(page, phewasIds[i], 'phewas_bonferroni')).toBe(1);
      const signs = new Set(tested.map((r) => Math.sign(r.beta as number) < 0));
      expect(await distinctShapes(phewasIds[i], 'phewas_points')).toBe(signs.size);
    }
    expect(await countMarks(page, 'burden-phewas', 'phewas_points')).toBe(testedFor(burdenRows).length);
    expect(await countMarks(page, 'burden-tests', 'burden_points')).toBe(
      fx.burden.filter((b) => b.p !== null).length,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'report-full.png'), fullPage: true });
    await page.locator(`#gwas-LDL`).screenshot({ path: join(ARTIFACTS, 'report-gwas-ldl.png') });
    await page
      .locator('section.lead-phewas')
      .first()
      .screenshot({ path: join(ARTIFACTS, 'report-phewas.png') });
    await page.locator('#burden-phewas').screenshot({ path: join(ARTIFACTS, 'report-burden-phewas.png') });
    expect(errors).toEqual([]);
  });
});

describe('the viewer in Chromium', () => {
  it('runs list → run → GWAS page → top hit → variant page, each with its plots', async () => {
    const page = session.page;
    await page.goto(`${viewer.url}/`);
    await page.screenshot({ path: join(shots, '1-runs.png'), fullPage: true });
    await page.click(`a[href="/runs/${fx.runId}"]`);
    await page.waitForURL(`${viewer.url}/runs/${fx.runId}`);
    await waitForPlots(page);
    expect((await plotIds(page)).filter((id) => id.startsWith('manhattan-'))).toHaveLength(3);
    await page.screenshot({ path: join(shots, '2-run.png') });

    await page.click(`a[href="/runs/${fx.runId}/gwas/LDL"]`);
    await page.waitForURL(`${viewer.url}/runs/${fx.runId}/gwas/LDL`);
    await waitForPlots(page);
    expect(await countMarks(page, 'manhattan-0-LDL', 'manhattan_points')).toBe(
      fx.gwas.filter((r) => r.phenotype === 'LDL' && (r.neg_log10_p ?? 0) >= 4).length,
    );
    expect(await countMarks(page, 'qq-0-LDL', 'qq_points')).toBeGreaterThan(100);
    const rows = await page.locator('table.top-hits-table tbody tr').count();
    expect(rows).toBe(50);
    await page.screenshot({ path: join(shots, '3-gwas.png'), fullPage: true });

    // A Manhattan point links to its variant too (Vega's href channel); the top hit is drawn first.
    const point = page.locator('#manhattan-0-LDL g.manhattan_points_marks > path');
    const href = `${viewer.url}/variant/${encodeURIComponent(fx.topVariant)}`;
    const boxes = await Promise.all((await point.all()).map((p) => p.boundingBox()));
    const top = boxes.reduce((a, b) => ((b?.y ?? 1e9) < (a?.y ?? 1e9) ? b : a));
    await page.mouse.click((top?.x ?? 0) + (top?.width ?? 0) / 2, (top?.y ?? 0) + (top?.height ?? 0) / 2);
    await page.waitForURL(href);
    await page.goBack();
    await waitForPlots(page);

    // Click the top hit.
    await page.locator('table.top-hits-table tbody tr').first().locator('a').click();
    await page.waitForURL(`${viewer.url}/variant/${encodeURIComponent(fx.topVariant)}`);
    await waitForPlots(page);
    const [phewasPlot] = await plotIds(page);
    expect(await countMarks(page, phewasPlot, 'phewas_points')).toBe(
      testedFor(fx.phewas, fx.topVariant).length,
    );
    expect(await page.locator('table.variant-gwas-table tbody tr').count()).toBe(
      fx.gwas.filter((r) => r.variant_id === fx.topVariant).length,
    );
    await page.screenshot({ path: join(shots, '4-variant.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('search from the header reaches the gene and phecode pages', async () => {
    const page = session.page;
    await page.goto(`${viewer.url}/`);
    await page.fill('header input[name=q]', 'PCSK9');
    await page.press('header input[name=q]', 'Enter');
    await page.waitForURL(`${viewer.url}/gene/PCSK9`);
    await waitForPlots(page);
    expect(await countMarks(page, 'burden-phewas', 'phewas_points')).toBe(
      testedFor(burdenRows, 'PCSK9/pLoF/0.01').length,
    );
    expect(await countMarks(page, 'burden-tests', 'burden_points')).toBe(2);
    await page.screenshot({ path: join(shots, '5-gene.png'), fullPage: true });

    await page.fill('header input[name=q]', '255.2');
    await page.press('header input[name=q]', 'Enter');
    await page.waitForURL(`${viewer.url}/phecode/255.2`);
    expect(await page.locator('table.phecode-table tbody tr').count()).toBe(
      fx.phewas.filter((r) => r.phecode === '255.2').length,
    );
    await page.screenshot({ path: join(shots, '6-phecode.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
