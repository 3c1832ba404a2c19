/**
 * The meta-analysis report (report/meta.ts via meta/report.ts, written by the activity) on a
 * three-site run with planted loci (test/meta/report-fixture.ts): a homogeneous locus, one where
 * site C's effect is opposite, a mildly heterogeneous one (Q p ≈ 0.03, between 0.05 / m and
 * 0.05) and one significant at site A only.
 *
 * The expectations come from R metafor at test time, on every variant of the union as the sites
 * wrote them: `rma(yi, sei, method = "FE")` gives the pooled p and Cochran's Q p, each site's own
 * p is 2·pnorm(−|β / SE|), `leave1out` the leave-one-out β. From these the test derives which
 * loci must be flagged heterogeneous (p < 5e-8 and Q p < 0.05 / m, m the loci with p < 5e-8) and
 * which significant in one site only, and checks the report's tables, its forest plots (one row
 * per site, β as aligned, fixed and random diamonds), its Manhattan plot and that no person count
 * from 1 to 20 is shown (site C gives 12 cases).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDir } from '../../engine/results.js';
import { heterogeneousLeads, metaRunData } from '../../report/data-meta.js';
import { buildMetaReportHtml } from '../../report/meta.js';
import { Z_975 } from '../../stats/distributions.js';
import { tempDir } from '../ingest/helpers.js';
import { runR } from '../stats/fixture.js';
import {
  type MetaReportFixture,
  makeMetaReportFixture,
  PLANTED,
  SITE_COUNTS,
  SITES,
} from './report-fixture.js';

let dir: string;
let fx: MetaReportFixture;
let html: string;
let ref: Record<string, number | string>[];
let loo: Record<string, number | string>[];

function readCsv(path: string): Record<string, number | string>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) =>
    Object.fromEntries(
      l.split(',').map((v, c) => [cols[c], cols[c] === 'variant' || cols[c] === 'site' ? v : Number(v)]),
    ),
  );
}

const R_SCRIPT = (d: string) => `
suppressPackageStartupMessages(library(metafor))
d <- read.csv(${JSON.stringify(join(d, 'sites.csv'))}, colClasses = c(variant = "character"))
out <- list(); loo <- list()
for (v in unique(d$variant)) {
  s <- d[d$variant == v, ]
  fe <- rma(yi = s$beta, sei = s$se, method = "FE")
  own <- 2 * pnorm(-abs(s$beta / s$se))
  out[[length(out) + 1]] <- data.frame(variant = v, beta = fe$beta[1], se = fe$se, p = fe$pval, qp = fe$QEp,
    p0 = own[1], p1 = own[2], p2 = own[3])
  if (fe$pval < 5e-8) {
    l <- leave1out(fe)
    loo[[length(loo) + 1]] <- data.frame(variant = v, site = s$site, beta = l$estimate)
  }
}
f <- function(df) { for (c in names(df)) if (is.numeric(df[[c]])) df[[c]] <- sprintf('%.17g', df[[c]]); df }
write.csv(f(do.call(rbind, out)), ${JSON.stringify(join(d, 'rma.csv'))}, row.names = FALSE, quote = FALSE)
write.csv(f(do.call(rbind, loo)), ${JSON.stringify(join(d, 'loo.csv'))}, row.names = FALSE, quote = FALSE)
`;

/** The text of each cell of each body row of the table with class `cls`. */
function tableRows(page: string, cls: string): string[][] {
  const m = new RegExp(`<table class="${cls}">([\\s\\S]*?)</table>`).exec(page);
  if (!m) return [];
  const body = m[1].split('<tbody>')[1] ?? '';
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((r) =>
    [...r[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) =>
      c[1]
        .replace(/<[^>]+>/g, '')
        .replaceAll('&gt;', '>')
        .replaceAll('&lt;', '<')
        .replaceAll('&amp;', '&')
        .trim(),
    ),
  );
}

function tableHead(page: string, cls: string): string[] {
  const m = new RegExp(`<table class="${cls}"><thead><tr>([\\s\\S]*?)</tr>`).exec(page);
  return m ? [...m[1].matchAll(/<th[^>]*>([\s\S]*?)<\/th>/g)].map((c) => c[1]) : [];
}

/** The Vega-Lite specs of the page's plots, by plot id. */
function plotSpecs(page: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const m of page.matchAll(/<script type="application\/json" id="([^"]+)-spec">([\s\S]*?)<\/script>/g))
    out.set(m[1], JSON.parse(m[2]) as Record<string, unknown>);
  return out;
}

/** The page's text: no library bundles, no plot specs (whose data hold arbitrary numbers). */
const pageText = (page: string) =>
  page
    .slice(page.indexOf('<main>'), page.indexOf('</main>'))
    .replace(/<script type="application\/json"[\s\S]*?<\/script>/g, '');

const vid = (v: { chrom: string; pos: number; other: string; effect: string }) =>
  `${v.chrom}:${v.pos}:${v.other}:${v.effect}`;

beforeAll(async () => {
  dir = tempDir('meta-report');
  fx = await makeMetaReportFixture(dir);
  const lines = ['variant,site,beta,se'];
  fx.rows.forEach((rows, s) => {
    for (const r of rows) lines.push(`${vid(r)},${SITES[s].replace(' ', '_')},${r.beta},${r.se}`);
  });
  writeFileSync(join(dir, 'sites.csv'), `${lines.join('\n')}\n`);
  runR(R_SCRIPT(dir), dir);
  ref = readCsv(join(dir, 'rma.csv'));
  loo = readCsv(join(dir, 'loo.csv'));
  html = readFileSync(join(runDir(fx.config.dataDir, fx.runId), 'report.html'), 'utf8');
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const significant = () => ref.filter((r) => (r.p as number) < 5e-8);

describe('meta report: heterogeneity and fairness', () => {
  it('the fixture separates the corrected from the uncorrected Q threshold', () => {
    const sig = significant();
    expect(sig.map((r) => r.variant).sort()).toEqual(Object.values(PLANTED).map(vid).sort());
    const mild = ref.find((r) => r.variant === vid(PLANTED.mild)) as Record<string, number>;
    expect(mild.qp).toBeGreaterThan(0.05 / sig.length);
    expect(mild.qp).toBeLessThan(0.05);
  });

  it('flags exactly the loci significant in the pooled analysis with Q p < 0.05 / m', () => {
    const m = significant().length;
    const expected = significant()
      .filter((r) => (r.qp as number) < 0.05 / m)
      .map((r) => r.variant)
      .sort();
    expect(expected).toContain(vid(PLANTED.opposite));
    const rows = tableRows(html, 'meta-heterogeneous-table');
    expect(rows.map((r) => r[0]).sort()).toEqual(expected);
    expect(html).toContain(`m = ${m} lead loci`);
  });

  it('lists the loci significant in only one input, with that input', () => {
    const p = (r: Record<string, number | string>) => [r.p0, r.p1, r.p2] as number[];
    const expected = significant()
      .filter((r) => p(r).filter((x) => x < 5e-8).length === 1)
      .map((r) => [r.variant, SITES[p(r).findIndex((x) => x < 5e-8)]]);
    expect(expected).toEqual([[vid(PLANTED.single), 'site A']]);
    const rows = tableRows(html, 'meta-single-input-table');
    expect(rows.map((r) => [r[0], r[1]])).toEqual(expected);
    // the input's own p as R computes it
    const single = ref.find((r) => r.variant === vid(PLANTED.single)) as Record<string, number>;
    expect(rows[0][4]).toBe(single.p0.toExponential(2));
  });
});

describe('meta report: forest plots', () => {
  it('draws one forest plot per lead locus, one row per input and the pooled diamonds', () => {
    const specs = plotSpecs(html);
    const forest = [...specs.entries()].filter(([id]) => id.startsWith('forest-'));
    expect(forest).toHaveLength(significant().length);
    for (const r of significant()) {
      const key = String(r.variant).replace(/[^A-Za-z0-9_-]+/g, '_');
      const entry = forest.find(([id]) => id.endsWith(key));
      expect(entry, String(r.variant)).toBeDefined();
      const data = (
        (entry as [string, unknown])[1] as { datasets: Record<string, Record<string, unknown>[]> }
      ).datasets;
      expect(data.inputs.map((x) => x.label)).toEqual([...SITES]);
      expect(data.absent).toEqual([]);
      // each input's β and its 95% interval, as the site wrote it (no allele swaps here)
      fx.rows.forEach((rows, s) => {
        const site = rows.find((x) => vid(x) === r.variant) as { beta: number; se: number };
        expect(data.inputs[s].beta).toBeCloseTo(site.beta, 12);
        expect(data.inputs[s].hi as number).toBeCloseTo(site.beta + Z_975 * site.se, 12);
      });
      // two diamonds (fixed, random), 3 vertices each; the fixed one centred on metafor's β
      const diamonds = data.diamonds as { estimate: string; x: number }[];
      expect(new Set(diamonds.map((d) => d.estimate)).size).toBe(2);
      expect(diamonds).toHaveLength(6);
      expect(diamonds[1].x).toBeCloseTo(r.beta as number, 10);
      expect(diamonds[0].x).toBeCloseTo((r.beta as number) - Z_975 * (r.se as number), 10);
    }
    expect(html.match(/<table class="meta-forest-table">/g)).toHaveLength(significant().length);
  });

  it('shows leave-one-out per lead locus as metafor leave1out', () => {
    const rows = tableRows(html, 'meta-loo-table');
    expect(rows).toHaveLength(significant().length);
    expect(tableHead(html, 'meta-loo-table').slice(2)).toEqual(SITES.map((s) => `without ${s}`));
    for (const row of rows) {
      const refs = loo.filter((l) => l.variant === row[0]);
      expect(refs).toHaveLength(3);
      refs.forEach((l, s) => {
        const shown = Number(row[2 + s].split(' ')[0]);
        const want = l.beta as number;
        expect(Math.abs(shown - want)).toBeLessThanOrEqual(Math.max(5e-3 * Math.abs(want), 1e-12));
      });
    }
  });

  it('draws the Manhattan plot of the fixed-effect p, thinned like the study report', () => {
    const manhattan = plotSpecs(html).get('manhattan-0-meta-LDL') as {
      datasets: { points: { variant_id: string }[]; bins: unknown[] };
    };
    expect(manhattan).toBeDefined();
    const points = ref.filter((r) => -Math.log10(r.p as number) >= 4).map((r) => r.variant);
    expect(manhattan.datasets.points.map((p) => p.variant_id).sort()).toEqual(points.sort());
    expect(manhattan.datasets.bins.length).toBeGreaterThan(0);
  });
});

describe('meta report: inputs and privacy', () => {
  it('shows every input with its format, provenance, rows and λGC', () => {
    const rows = tableRows(html, 'meta-inputs-table');
    expect(rows.map((r) => r[1])).toEqual([...SITES]);
    for (const [s, r] of rows.entries()) {
      expect(r[3]).toBe('gwas-ssf');
      expect(r[4]).toBe(`site${'ABC'[s]}.tsv`);
      expect(r[5]).toMatch(/^[0-9a-f]{12}$/);
      expect(r[9]).toBe(String(fx.rows[s].length));
      expect(r[11]).toBe('none');
      expect(Number(r[12])).toBeGreaterThan(0.5);
    }
  });

  it('shows no person count from 1 to 20, nor one it could be derived from', async () => {
    const rows = tableRows(html, 'meta-inputs-table');
    for (const r of rows)
      for (const cell of r.slice(6, 9)) {
        const n = Number(cell.replaceAll(',', ''));
        expect(Number.isFinite(n) && n >= 1 && n <= 20, `count ${cell}`).toBe(false);
      }
    expect(rows[2].slice(6, 9)).toEqual(['>=5000', '≤20', '>=4980']);
    expect(rows[0].slice(6, 9)).toEqual(['8,000', '3,000', '5,000']);
    // the hidden count and the counts it could be derived from appear nowhere in the page's text
    const body = pageText(html);
    const c = SITE_COUNTS[2];
    for (const n of [c.n, c.nCases, c.nControls])
      expect(body).not.toMatch(new RegExp(`(?<![\\w.,:-])(${n}|${n.toLocaleString('en')})(?![\\w.,%])`));
    const spec = /<pre class="spec-json">([\s\S]*?)<\/pre>/.exec(body)?.[1].replaceAll('&quot;', '"') ?? '';
    const shown = JSON.parse(spec.replaceAll('&gt;', '>').replaceAll('&lt;', '<')) as {
      inputs: Record<string, unknown>[];
    };
    expect(shown.inputs[2]).toMatchObject({ nCases: '≤20', nControls: '>=4980', n: '>=5000' });
    // with --no-suppress the counts appear as given
    const open = (await buildMetaReportHtml(fx.config, fx.runId, { noSuppress: true, inline: false })).html;
    expect(tableRows(open, 'meta-inputs-table')[2].slice(6, 9)).toEqual(['5,002', '12', '4,990']);
  });

  it('counts m over the loci with a Q test', async () => {
    const data = await metaRunData(fx.config, fx.runId);
    const h = heterogeneousLeads(data.leads, data.leadP);
    expect(h.m).toBe(significant().length);
    // a lead without a Q test (k = 1) is neither counted nor flagged
    const withSingle = [...data.leads, { ...data.leads[0], variant_id: 'x', k: 1, q_p: null }];
    expect(heterogeneousLeads(withSingle, data.leadP).m).toBe(h.m);
  });
});
