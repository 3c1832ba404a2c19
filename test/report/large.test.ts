/**
 * The size budget: a report of a 1,000,000-variant GWAS (written through `writeRunResults`)
 * stays under 5 MB because the Manhattan and QQ plots are binned. Its own file: generating and
 * writing a million rows takes most of this file's time.
 */
import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeRunReport } from '../../report/index.js';
import { type Fixture, makeFixture } from '../results/fixture.js';
import { addBigRun } from './helpers.js';

let fx: Fixture;

beforeAll(async () => {
  fx = await makeFixture();
});
afterAll(async () => {
  await fx?.cleanup();
});

describe('a genome-wide GWAS', () => {
  it('a 1M-variant GWAS gives a report under 5 MB', async () => {
    const runId = await addBigRun(fx, 1_000_000);
    const t0 = Date.now();
    const { path, bytes } = await writeRunReport(fx.config, runId);
    const ms = Date.now() - t0;
    expect((await stat(path)).size).toBe(bytes);
    expect(bytes).toBeLessThan(5 * 1024 * 1024);
    // What the file holds: the Manhattan spec's datasets.
    const html = await readFile(path, 'utf8');
    const m = /<script type="application\/json" id="manhattan-0-height-spec">(.*?)<\/script>/s.exec(html);
    const spec = JSON.parse(m?.[1] ?? '{}') as { datasets: { points: { nlp: number }[]; bins: unknown[] } };
    const data = { points: spec.datasets.points, bins: spec.datasets.bins };
    expect(html).toContain('1,000,000 variants with a p-value');
    // About 1e-4 of null variants pass p < 1e-4, plus the 3 signals.
    expect(data.points.length).toBeGreaterThan(50);
    expect(data.points.length).toBeLessThan(200);
    expect(data.points.slice(0, 3).every((p) => p.nlp > 11)).toBe(true);
    expect(data.bins.length).toBeLessThan(50_000);
    console.log(
      `1M-variant report: ${(bytes / 1e6).toFixed(2)} MB in ${ms} ms; ${data.points.length} points, ${data.bins.length} bins`,
    );
  });
});
