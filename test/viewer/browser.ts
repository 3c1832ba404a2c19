/**
 * Debian's Chromium driven by playwright-core, for the report and viewer browser tests.
 * Headless, no sandbox (containers), no network side traffic, a fresh profile per launch.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');

export interface BrowserSession {
  browser: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** Launch Chromium with a throw-away profile and open one page (1400 × 900). */
export async function openBrowser(): Promise<BrowserSession> {
  const profile = await mkdtemp(join(tmpdir(), 'biobank-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    browser: context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Page-side code is passed as expression strings: the tests compile without the DOM library, and
 * the expressions run in Chromium.
 */
export function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

/** Wait until every plot of the page rendered (boot.js sets body[data-plots]); fail on a plot error. */
export async function waitForPlots(page: Page, timeout = 60_000): Promise<void> {
  await page.waitForFunction('document.body.dataset.plots !== undefined', undefined, { timeout });
  const state = await inPage<string>(page, 'document.body.dataset.plots');
  if (state !== 'done') {
    const text = await inPage<string[]>(
      page,
      `Array.from(document.querySelectorAll('[data-rendered="error"]')).map((e) => e.textContent)`,
    );
    throw new Error(`plots failed to render: ${text.join('; ')}`);
  }
}

/** Ids of the page's plots, in page order. */
export function plotIds(page: Page): Promise<string[]> {
  return inPage(page, `Array.from(document.querySelectorAll('[data-plot]')).map((e) => e.id)`);
}

/**
 * Rendered marks of a named Vega-Lite layer in a plot, counted in the SVG the view drew
 * (`<g class="mark-… <layer>_marks">` holds one element per mark); -1 when the plot is missing.
 */
export function countMarks(page: Page, plotId: string, layer: string): Promise<number> {
  return inPage(
    page,
    `(() => {
      const root = document.getElementById(${JSON.stringify(plotId)});
      if (!root) return -1;
      let n = 0;
      for (const g of root.querySelectorAll(${JSON.stringify(`g.${layer}_marks`)})) n += g.children.length;
      return n;
    })()`,
  );
}

export type { Browser, Page };
