/**
 * The meta-analysis activity path without a server (activities/meta.ts → meta/): three sites in
 * three formats (gzipped GWAS-SSF, PLINK2 --glm, REGENIE; test/meta/fixture.ts) with a swapped
 * variant, strand-ambiguous SNPs and a variant missing from one site.
 *
 * - Every `meta_results` row with two or more contributing sites equals R metafor computed at
 *   test time on the aligned truth: `rma(yi, sei = …, method = "FE")` (β, SE, z, p, Q, Q p, I²)
 *   and `method = "DL"` (τ², β, SE, p), to 1e-8 relative; the sample-size z equals its formula
 *   in R; k and the direction string are right for every variant.
 * - The ambiguous SNPs are dropped and reported (meta_inputs counts, the dropped list, a
 *   `no_inputs` row where every entry went).
 * - The lead locus, its forest rows (aligned: site C's swapped β flipped) and leave-one-out
 *   (= metafor `leave1out`) are recorded; the run is recorded as completed, with a report.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetaActivities } from '../../activities/meta.js';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { getRun } from '../../engine/results.js';
import { SUMSTATS_FORMATS } from '../../ingest/sumstats.js';
import { readMetaSpec } from '../../meta/spec.js';
import { META_INPUT_FORMATS, type MetaResult } from '../../schemas/meta.js';
import { loadConfig } from '../../temporal.config.js';
import { tempDir } from '../ingest/helpers.js';
import { runR } from '../stats/fixture.js';
import { LABELS, type MetaFixture, truthCsv, writeMetaFixture } from './fixture.js';

let dir: string;
let fx: MetaFixture;
let result: MetaResult;
let rows: Record<string, unknown>[];
let r: Record<string, number>[];
let loo: Record<string, number>[];
const config = () => loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '2' });

function readCsv(path: string): Record<string, number>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, c) => [cols[c], Number(v)])));
}

const R_SCRIPT = (d: string) => `
suppressPackageStartupMessages(library(metafor))
d <- read.csv(${JSON.stringify(join(d, 'truth.csv'))})
g <- function(df) { df[] <- lapply(df, function(c) if (is.numeric(c)) sprintf('%.17g', c) else c); df }
out <- list(); loo <- list()
for (v in unique(d$variant)) {
  s <- d[d$variant == v, ]
  if (nrow(s) < 2) next
  fe <- rma(yi = s$yi, sei = s$sei, method = "FE")
  dl <- rma(yi = s$yi, sei = s$sei, method = "DL")
  zn <- sum(sqrt(s$n) * s$yi / s$sei) / sqrt(sum(s$n))
  out[[length(out) + 1]] <- data.frame(variant = v, beta = fe$beta[1], se = fe$se, z = fe$zval,
    p = fe$pval, q = fe$QE, qp = fe$QEp, i2 = fe$I2, tau2 = dl$tau2, beta_re = dl$beta[1],
    se_re = dl$se, p_re = dl$pval, zn = zn, pn = 2 * pnorm(-abs(zn)))
  l <- leave1out(fe)
  loo[[length(loo) + 1]] <- data.frame(variant = v, input = s$input, beta = l$estimate, se = l$se, p = l$pval)
}
write.csv(g(do.call(rbind, out)), ${JSON.stringify(join(d, 'rma.csv'))}, row.names = FALSE, quote = FALSE)
write.csv(g(do.call(rbind, loo)), ${JSON.stringify(join(d, 'loo.csv'))}, row.names = FALSE, quote = FALSE)
`;

function expectClose(actual: unknown, expected: number, label: string, rel = 1e-8): void {
  const a = Number(actual);
  const tol = rel * Math.max(Math.abs(a), Math.abs(expected)) + 1e-300;
  expect(Math.abs(a - expected), `${label}: ${a} vs metafor ${expected}`).toBeLessThanOrEqual(tol);
}

beforeAll(async () => {
  dir = tempDir('meta-run');
  fx = writeMetaFixture(dir);
  writeFileSync(join(dir, 'truth.csv'), truthCsv(fx));
  runR(R_SCRIPT(dir), dir);
  r = readCsv(join(dir, 'rma.csv'));
  loo = readCsv(join(dir, 'loo.csv'));
  const acts = createMetaActivities(config());
  const spec = await readMetaSpec(fx.specPath);
  const prepared = await acts.prepareMeta({ spec, workflowId: 'test' });
  expect(prepared.completed).toBeNull();
  const core = await acts.analyseMetaInputs({ run: prepared.run, spec, inputs: prepared.inputs });
  await acts.metaLoci({ run: prepared.run, spec, core });
  result = await acts.recordMeta({ run: prepared.run, spec, inputs: prepared.inputs, core });
  await acts.writeMetaReport({ run: prepared.run, result });
  rows = await withEngineDb(
    config(),
    async (conn) =>
      (
        await conn.runAndReadAll('SELECT * FROM meta_results WHERE run_id = $1 ORDER BY chrom, pos', [
          result.runId,
        ])
      ).getRowObjectsJS() as Record<string, unknown>[],
    { readOnly: true },
  );
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const rowOf = (j: number) => {
  const v = fx.variants[j];
  const row = rows.find((x) => x.chrom === v.chrom && Number(x.pos) === v.pos);
  expect(row, `${v.chrom}:${v.pos}`).toBeDefined();
  return row as Record<string, unknown>;
};

describe('meta_results against R metafor', () => {
  it('has one row per variant of the union', () => {
    expect(rows.length).toBe(fx.variants.length);
    expect(result.nVariants).toBe(fx.variants.length);
  });

  it('fixed and random effects, Q, I², sample-size z equal metafor to 1e-8', () => {
    expect(r.length).toBeGreaterThan(30);
    for (const ref of r) {
      const row = rowOf(ref.variant);
      const at = `variant ${ref.variant}`;
      expectClose(row.beta, ref.beta, `${at} beta`);
      expectClose(row.se, ref.se, `${at} se`);
      expectClose(row.z, ref.z, `${at} z`);
      expectClose(row.p, ref.p, `${at} p`);
      expectClose(row.q, ref.q, `${at} Q`, 1e-7);
      expectClose(row.q_p, ref.qp, `${at} Q p`, 1e-7);
      expectClose(row.i2, ref.i2, `${at} I2`, 1e-7);
      expectClose(row.tau2, ref.tau2, `${at} tau2`, 1e-7);
      expectClose(row.beta_random, ref.beta_re, `${at} beta DL`);
      expectClose(row.se_random, ref.se_re, `${at} se DL`);
      expectClose(row.p_random, ref.p_re, `${at} p DL`);
      expectClose(row.z_n, ref.zn, `${at} z_n`);
      expectClose(row.p_n, ref.pn, `${at} p_n`);
    }
  });

  it('k and the direction string follow the sites, ? where absent or dropped', () => {
    fx.variants.forEach((v, j) => {
      const row = rowOf(j);
      const used = v.sites.map((s, i) => s !== undefined && !v.dropped[i]);
      const dir = v.sites.map((s, i) => (!used[i] ? '?' : s!.beta > 0 ? '+' : '-')).join('');
      expect(row.direction, `${v.chrom}:${v.pos}`).toBe(dir);
      expect(Number(row.k)).toBe(used.filter(Boolean).length);
      expect(row.effect_allele).toBe(v.effect);
      expect(row.other_allele).toBe(v.other);
    });
    expect(String(rowOf(fx.special.missing).direction)[1]).toBe('?');
    expect(String(rowOf(fx.special.ambiguousOne).direction)).toMatch(/^[+-]{2}\?$/);
  });

  it('reports the dropped strand-ambiguous SNPs', async () => {
    const all = rowOf(fx.special.ambiguousAll);
    expect(all.status).toBe('no_inputs');
    expect(all.p).toBeNull();
    expect(all.direction).toBe('???');
    const inputs = await withEngineDb(
      config(),
      async (conn) =>
        (
          await conn.runAndReadAll(
            'SELECT label, dropped_json, format, sha256, rows_kept, n_cases, ancestry FROM meta_inputs WHERE run_id = $1 ORDER BY input_index',
            [result.runId],
          )
        ).getRowObjectsJS(),
      { readOnly: true },
    );
    expect(inputs.map((x) => x.label)).toEqual([...LABELS]);
    expect(inputs.map((x) => x.format)).toEqual(['gwas-ssf', 'plink2', 'regenie']);
    const dropped = inputs.map((x) => JSON.parse(String(x.dropped_json)));
    expect(dropped.map((d) => d.strand_ambiguous)).toEqual([1, 1, 2]);
    expect(dropped[1].not_additive_test).toBe(fx.variants.length - 1);
    expect(Number(inputs[0].n_cases)).toBe(0);
    expect(inputs[0].ancestry).toBe('EUR');
    const v = fx.variants[fx.special.ambiguousOne];
    const list = await withCompute(config(), async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT chrom, pos, label, reason FROM read_parquet('${join(result.reportPath!, '..', 'meta-work', 'dropped', '*.parquet')}') ORDER BY pos, label`,
        )
      ).getRowObjectsJS(),
    );
    expect(list).toContainEqual({
      chrom: v.chrom,
      pos: BigInt(v.pos),
      label: 'site C',
      reason: 'strand_ambiguous',
    });
    expect(list.length).toBe(4);
  });
});

describe('lead loci, forest and leave-one-out', () => {
  it('finds the planted locus with both variants, forest rows aligned', async () => {
    expect(result.leadLoci.length).toBe(1);
    const lead = result.leadLoci[0];
    expect(lead.chrom).toBe('2');
    expect([500_000, 500_500]).toContain(lead.pos);
    expect(lead.nVariants).toBe(2);
    expect(lead.k).toBe(3);
    const forest = await withEngineDb(
      config(),
      async (conn) =>
        (
          await conn.runAndReadAll(
            'SELECT pos, label, beta, se, aligned FROM meta_forest WHERE run_id = $1 ORDER BY label',
            [result.runId],
          )
        ).getRowObjectsJS(),
      { readOnly: true },
    );
    const j = fx.variants.findIndex((v) => v.chrom === lead.chrom && v.pos === lead.pos);
    expect(forest.length).toBe(3);
    forest.forEach((f, i) => {
      expectClose(f.beta, fx.variants[j].sites[i]!.beta, `forest ${f.label}`, 1e-15);
    });
    if (j === fx.special.hit) expect(forest[2].aligned).toBe('swapped');
  });

  it('leave-one-out equals metafor leave1out', async () => {
    const lead = result.leadLoci[0];
    const j = fx.variants.findIndex((v) => v.chrom === lead.chrom && v.pos === lead.pos);
    const got = await withEngineDb(
      config(),
      async (conn) =>
        (
          await conn.runAndReadAll(
            'SELECT left_out, beta, se, p, status FROM meta_leave_one_out WHERE run_id = $1 ORDER BY left_out',
            [result.runId],
          )
        ).getRowObjectsJS(),
      { readOnly: true },
    );
    const want = loo.filter((x) => x.variant === j);
    expect(got.length).toBe(3);
    expect(want.length).toBe(3);
    for (const w of want) {
      const g = got.find((x) => x.left_out === LABELS[w.input])!;
      expect(g.status).toBe('ok');
      expectClose(g.beta, w.beta, `loo ${w.input} beta`);
      expectClose(g.se, w.se, `loo ${w.input} se`);
      expectClose(g.p, w.p, `loo ${w.input} p`);
    }
  });

  it('records the run as completed, with lead_loci rows and a report', async () => {
    const run = await getRun(config(), result.runId);
    expect(run?.status).toBe('completed');
    expect(run?.release_id).toBe('summary-statistics');
    const html = readFileSync(result.reportPath!, 'utf8');
    expect(html).toContain('site C');
    expect(html).toContain('Lead loci');
    const lead = await withEngineDb(
      config(),
      async (conn) =>
        (
          await conn.runAndReadAll('SELECT phenotype, variant_id FROM lead_loci WHERE run_id = $1', [
            result.runId,
          ])
        ).getRowObjectsJS(),
      { readOnly: true },
    );
    expect(lead.length).toBe(1);
    expect(lead[0].phenotype).toBe('LDL');
  });

  it('a second prepare returns the completed run', async () => {
    const spec = await readMetaSpec(fx.specPath);
    const again = await createMetaActivities(config()).prepareMeta({ spec, workflowId: 'test' });
    expect(again.completed?.runId).toBe(result.runId);
    expect(again.completed?.reused).toBe(true);
  });

  it('the spec lists the formats the reader knows', () => {
    expect([...META_INPUT_FORMATS]).toEqual([...SUMSTATS_FORMATS]);
  });
});
