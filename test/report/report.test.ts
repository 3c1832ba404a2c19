/**
 * The HTML report: one self-contained file per run with every section, counts suppressed by
 * default, λGC checked against R, the Manhattan thinning checked against the raw rows, unknown
 * runs writing nothing, and the `biobank report` command. The 1M-variant size budget: large.test.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../cli/main.js';
import { InputError } from '../../engine/errors.js';
import { getRun, recordRun, runDir } from '../../engine/results.js';
import {
  MANHATTAN_MAX_POINTS,
  MANHATTAN_POINT_MIN_NLP,
  MANHATTAN_Y_STEP,
  manhattanData,
  qqData,
} from '../../report/data.js';
import { writeRunReport } from '../../report/index.js';
import type { RunRow } from '../../schemas/results.js';
import { type Fixture, makeFixture } from '../results/fixture.js';
import { addBurdenPhewas } from './helpers.js';

const exec = promisify(execFile);
let fx: Fixture;

beforeAll(async () => {
  fx = await makeFixture();
  await addBurdenPhewas(fx);
});
afterAll(async () => {
  await fx?.cleanup();
});

/** Text of the HTML table with class `cls` (tags stripped, cells tab-separated, rows by line). */
function tableText(html: string, cls: string): string[][] {
  const m = new RegExp(`<table class="${cls}">([\\s\\S]*?)</table>`).exec(html);
  if (!m) return [];
  return [...m[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
    [...r[1].matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map((c) =>
      c[1]
        .replace(/<[^>]+>/g, '')
        .replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>')
        .replaceAll('&amp;', '&')
        .replaceAll('&quot;', '"'),
    ),
  );
}

describe('writeRunReport', () => {
  it('writes one self-contained file with every section to the run folder', async () => {
    const { path, bytes } = await writeRunReport(fx.config, fx.runId);
    expect(path).toBe(join(runDir(fx.dataDir, fx.runId), 'report.html'));
    const html = await readFile(path, 'utf8');
    expect(Buffer.byteLength(html)).toBe(bytes);
    // No temp files left next to it.
    expect((await readdir(runDir(fx.dataDir, fx.runId))).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // Self-contained: libraries inlined, nothing loaded from elsewhere.
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href="(?!data:)/);
    expect(html).toContain('vegaEmbed');
    // Every section and plot.
    for (const id of ['gwas', 'lead-loci', 'phewas', 'burden', 'qc', 'provenance'])
      expect(html).toContain(`id="${id}"`);
    for (const phenotype of ['LDL', '250.2', 'rare']) {
      expect(html).toContain(`id="manhattan-`);
      expect(html).toContain(`id="gwas-${phenotype}"`);
    }
    expect(html.match(/data-plot="manhattan-/g)?.length).toBe(3);
    expect(html.match(/data-plot="qq-/g)?.length).toBe(3);
    // One PheWAS plot per lead locus with PheWAS rows (the fixture's two lead variants).
    expect(html.match(/data-plot="phewas-/g)?.length).toBe(fx.lead.length);
    expect(html).toContain('data-plot="burden-phewas"');
    expect(html).toContain('data-plot="burden-tests"');
    // Lead loci table lists each lead variant.
    const lead = tableText(html, 'lead-loci-table');
    expect(lead.slice(1).map((r) => r[2])).toEqual(fx.lead.map((l) => l.variant_id));
    // QC summary.
    const qc = tableText(html, 'qc-table');
    expect(
      qc
        .slice(1)
        .map((r) => r[1])
        .sort(),
    ).toEqual(fx.qc.map((q) => q.filter).sort());
    // Provenance: release fingerprint, spec hash, map versions with sha256, software version.
    const run = await getRun(fx.config, fx.runId);
    expect(html).toContain(run?.release_fingerprint);
    expect(html).toContain(run?.spec_hash);
    expect(html).toContain(run?.software_version);
    const maps = JSON.parse(run?.phecode_maps_json ?? '{}') as Record<string, { sha256: string }>;
    for (const [version, m] of Object.entries(maps)) {
      const rows = tableText(html, 'phecode-maps-table');
      expect(rows).toContainEqual([version, m.sha256]);
    }
    expect(html).toContain('&quot;studyId&quot;: &quot;ldl-gwas&quot;');
  });

  it('suppresses person counts 1–20 as ≤20 by default (All of Us policy), and says so; --no-suppress shows them', async () => {
    const html = await readFile((await writeRunReport(fx.config, fx.runId)).path, 'utf8');
    expect(html).toContain('id="privacy-note"');
    expect(html).toMatch(
      /person counts from 1 to 20 are suppressed and shown as ≤20 \(All of Us Data and Statistics Dissemination Policy/,
    );
    const burden = tableText(html, 'burden-table');
    const carriers = burden[0].indexOf('carriers');
    const singleton = burden.find((r) => r[2] === 'singleton');
    expect(fx.burden.find((b) => b.aaf_bin === 'singleton')?.n_carriers).toBe(9);
    expect(singleton?.[carriers]).toBe('≤20');
    // The phenotype with 15 cases: cases ≤20, and the others coarsened so 15 cannot be derived.
    const phenos = tableText(html, 'phenotypes-table');
    const rare = phenos.find((r) => r[0] === 'rare') as string[];
    expect(rare.slice(3, 6)).toEqual(['>=5000', '≤20', '>=4980']);
    // Plot tooltips carry the suppressed text too, never the raw small number.
    expect(html).not.toMatch(/"n_cases":"(20|1[0-9]|[1-9])"/);

    const out = join(fx.dataDir, 'open-report');
    const open = await readFile(
      (await writeRunReport(fx.config, fx.runId, out, { noSuppress: true })).path,
      'utf8',
    );
    expect(open).toContain('NOT suppressed');
    expect(tableText(open, 'burden-table').find((r) => r[2] === 'singleton')?.[carriers]).toBe('9');
    expect(
      tableText(open, 'phenotypes-table')
        .find((r) => r[0] === 'rare')
        ?.slice(3, 6),
    ).toEqual(['5,000', '15', '4,985']);
  });

  it('reports a run without results (still running) with empty sections', async () => {
    const base = await getRun(fx.config, fx.runId);
    const runId = 'empty-study-0123456789abcdef';
    await recordRun(fx.config, {
      ...(base as RunRow),
      run_id: runId,
      study_id: 'empty-study',
      status: 'running',
      finished_at: null,
    });
    const html = await readFile((await writeRunReport(fx.config, runId)).path, 'utf8');
    expect(html).toContain('This run is <b>running</b>');
    expect(html).toContain('no GWAS results in this run');
    expect(html).toContain('no lead loci');
    expect(html).toContain('no burden results in this run');
    expect(html).toContain('no QC summary recorded');
    expect(html).not.toContain('data-plot=');
  });

  it('an unknown run raises an InputError naming the run and writes nothing', async () => {
    const out = join(fx.dataDir, 'nothing-here');
    const err = await writeRunReport(fx.config, 'ldl-gwas-ffffffffffffffff', out).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(String(err.message)).toContain('unknown run id "ldl-gwas-ffffffffffffffff"');
    expect(existsSync(out)).toBe(false);
  });
});

describe('plot data', () => {
  it('λGC matches R (qchisq of the median p / qchisq(0.5, 1))', async () => {
    for (const phenotype of ['LDL', '250.2']) {
      const ps = fx.gwas.filter((r) => r.phenotype === phenotype && r.p !== null).map((r) => r.p as number);
      const file = join(fx.dataDir, `p-${phenotype}.txt`);
      await writeFile(file, ps.map((p) => p.toPrecision(17)).join('\n'));
      const { stdout } = await exec('Rscript', [
        '-e',
        `p <- scan("${file}", quiet = TRUE); cat(sprintf("%.10f", qchisq(median(p), 1, lower.tail = FALSE) / qchisq(0.5, 1)))`,
      ]);
      const qq = await qqData(fx.config, fx.runId, phenotype);
      expect(qq.nVariants).toBe(ps.length);
      expect(qq.lambdaGc).toBeCloseTo(Number(stdout), 6);
    }
  });

  it('the Manhattan thinning keeps significant variants as points and covers every other variant by a bin', async () => {
    const data = await manhattanData(fx.config, fx.runId, 'LDL');
    const rows = fx.gwas.filter((r) => r.phenotype === 'LDL' && r.neg_log10_p !== null);
    expect(data.nVariants).toBe(rows.length);
    const strong = rows.filter((r) => (r.neg_log10_p as number) >= MANHATTAN_POINT_MIN_NLP);
    expect(strong.length).toBeLessThan(MANHATTAN_MAX_POINTS);
    expect(data.points.map((p) => p.variant_id).sort()).toEqual(strong.map((r) => r.variant_id).sort());
    const offset = new Map(data.chroms.map((c) => [c.chrom, c.offset]));
    // Chromosomes in genome order, the unplaced contig last.
    expect(data.chroms.map((c) => c.chrom)).toEqual(['1', '2', 'X', 'chrUn_gl000220']);
    for (const r of rows) {
      if ((r.neg_log10_p as number) >= MANHATTAN_POINT_MIN_NLP) continue;
      const x = (offset.get(r.chrom) as number) + (Math.floor(r.pos / data.binBp) + 0.5) * data.binBp;
      const y = r.neg_log10_p as number;
      const covered = data.bins.some(
        (b) => Math.abs(b.gpos - x) <= 0.5 && b.lo <= y + 1e-9 && y < b.hi + MANHATTAN_Y_STEP * 1e-6,
      );
      expect(covered, `${r.variant_id} (−log10 p ${y}) is in no bin`).toBe(true);
    }
    // No bin without a variant: every bin's lowest cell holds one.
    for (const b of data.bins) {
      const has = rows.some(
        (r) =>
          Math.abs(
            (offset.get(r.chrom) as number) + (Math.floor(r.pos / data.binBp) + 0.5) * data.binBp - b.gpos,
          ) <= 0.5 &&
          Math.floor((r.neg_log10_p as number) / MANHATTAN_Y_STEP) === Math.round(b.lo / MANHATTAN_Y_STEP),
      );
      expect(has).toBe(true);
    }
  });
});

describe('biobank report (CLI)', () => {
  const bin = resolve(import.meta.dirname, '../../bin/biobank.mjs');

  /** The CLI in this process (fast), with its output captured. */
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
    const error = vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
    const saved = process.env.BIOBANK_DATA_DIR;
    process.env.BIOBANK_DATA_DIR = fx.dataDir;
    try {
      const code = await main(args);
      return { code, stdout: out.join('\n'), stderr: err.join('\n') };
    } finally {
      log.mockRestore();
      error.mockRestore();
      if (saved === undefined) delete process.env.BIOBANK_DATA_DIR;
      else process.env.BIOBANK_DATA_DIR = saved;
    }
  }

  it('writes the report through bin/biobank.mjs', async () => {
    const out = join(fx.dataDir, 'cli-report');
    const { stdout } = await exec('node', [bin, 'report', fx.runId, '--out', out], {
      env: { ...process.env, BIOBANK_DATA_DIR: fx.dataDir },
    });
    expect(stdout).toContain(`wrote ${join(out, 'report.html')}`);
    expect(stdout).toContain('counts 1-20 shown as ≤20');
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  });

  it('explains bad input in one line with a hint and exit code 2, and has help with examples', async () => {
    const unknown = await cli(['report', 'ldl-gwas-ffffffffffffffff']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: .*unknown run id/m);
    expect(unknown.stderr).toContain(`hint: recent runs:`);
    expect(unknown.stderr).not.toMatch(/\n\s+at /);

    const bad = await cli(['report', '../../etc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a run id');
    expect(bad.stderr).toContain('hint: list runs with');

    expect((await cli(['report'])).code).toBe(2);
    expect((await cli(['report', fx.runId, '--bogus'])).code).toBe(2);

    const help = await cli(['report', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    expect(help.stdout).toContain('--no-suppress');
    const serveHelp = await cli(['serve', '--help']);
    expect(serveHelp.stdout).toContain('127.0.0.1');
    expect(serveHelp.stdout).toContain('Examples:');
    const badPort = await cli(['serve', '--port', 'http']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('--port must be a number');
  });
});
