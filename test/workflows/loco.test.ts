/**
 * `gwas.relatedness: 'loco'` through the real phenotype-first workflow (issue 14): step 1
 * (planStep1, level-0 blocks as activities, level 1), then the plain study's shards, each
 * variant tested with its chromosome's LOCO prediction as the offset (a shard spanning a
 * chromosome end switches offsets there).
 *
 * - The step-1 variant set equals an independent count from the release's `variants` table
 *   (MAF ≥ 1 %, missing ≤ 5 %, not Y/MT), cut into blocks of `blockSize` per chromosome.
 * - Step 2 is checked row by row against R: for the first variants of three chromosomes that
 *   begin inside a shard (just after the offset switch),
 *   `lm(y − o_c ~ covariates + g)` with o_c read from the step-1 files (LOCO row of the variant's
 *   chromosome) gives the row's β, SE and p (1e-6 relative); a binary trait against
 *   `glm(y ~ covariates + g, offset = o_c, family = binomial)` (score rows: Rao statistic).
 * - A second study with the same cohort, trait and covariates reuses step 1 (same key, cached),
 *   and its GWAS rows are identical.
 * - The planted LDL variants are still found.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBBlobValue } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { runDir } from '../../engine/run-paths.js';
import { runIdOf } from '../../engine/study.js';
import type { StudySpec } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestSyntheticRelease, ldlSpec, type StudyFixture } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let release: StudyFixture;
let loco: StudyResult;
let again: StudyResult;
let binary: StudyResult;
const tmp = mkdtempSync(join(tmpdir(), 'biobank-loco-wf-'));
const BLOCK = 150;

async function runStudy(spec: StudySpec): Promise<StudyResult> {
  return (await engine.client.workflow.execute('phenotypeFirstStudy', {
    workflowId: await runIdOf(engine.config, spec),
    taskQueue: engine.taskQueue,
    args: [spec],
  })) as StudyResult;
}

interface Row {
  variant_id: string;
  chrom: string;
  beta: number;
  se: number;
  p: number;
  stat: number;
  test: string;
  status: string;
}

async function gwasRows(runId: string): Promise<Row[]> {
  return withEngineDb(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT variant_id, chrom, beta, se, p, stat, test, status FROM gwas_results
           WHERE run_id = $1 ORDER BY variant_id`,
          [runId],
        )
      ).getRowObjectsJS() as unknown as Row[],
    { readOnly: true },
  );
}

const releaseDir = () =>
  join(engine.dataDir, 'releases', release.releaseId, release.fingerprint.slice(0, 12));
const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * A CSV for R: per analysis sample y, covariates, the LOCO offset of `chrom` and the genotypes of
 * `variants` (hard calls from the release, NA missing).
 */
async function rData(result: StudyResult, variants: string[], chrom: string): Promise<string> {
  const step1 = result.gwas!.step1!;
  const dir = join(engine.dataDir, 'step1', step1.key);
  const summary = JSON.parse(readFileSync(join(dir, 'loco.json'), 'utf8')) as {
    chroms: string[];
    nSamples: number;
  };
  const buf = readFileSync(join(dir, 'loco-0.f64'));
  const all = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  const c = summary.chroms.indexOf(chrom);
  expect(c).toBeGreaterThanOrEqual(0);
  const n = summary.nSamples;
  const offset = all.subarray(c * n, (c + 1) * n);
  return withCompute(engine.config, async (conn) => {
    const analysis = (
      await conn.runAndReadAll(
        `SELECT * FROM read_parquet(${q(join(runDir(engine.dataDir, result.runId), 'analysis.parquet'))}) ORDER BY sample_idx`,
      )
    ).getRowObjectsJS() as Record<string, unknown>[];
    expect(analysis.length).toBe(n);
    const covCols = Object.keys(analysis[0]).filter((k) => k.startsWith('cov_'));
    const geno: Uint8Array[] = [];
    for (const id of variants) {
      const [ch, pos, ref, alt] = id.split(':');
      const r = await conn.runAndReadAll(
        `SELECT g.gt FROM read_parquet(${q(join(releaseDir(), 'variants.parquet'))}) v
         JOIN read_parquet(${q(join(releaseDir(), 'genotypes', '*.parquet'))}) g USING (variant_idx)
         WHERE v.chrom = $1 AND v.pos = $2 AND v.ref = $3 AND v.alt = $4`,
        [ch, Number(pos), ref, alt],
      );
      geno.push(Uint8Array.from((r.getRows()[0][0] as DuckDBBlobValue).bytes));
    }
    const lines = [['y', ...covCols, 'o', ...variants.map((_, v) => `g${v}`)].join(',')];
    for (const [i, row] of analysis.entries()) {
      const s = Number(row.sample_idx);
      const calls = geno.map((gt) => {
        const code = (gt[s >> 2] >> ((s & 3) * 2)) & 3;
        return code === 3 ? 'NA' : String(code);
      });
      lines.push(
        [String(row.y), ...covCols.map((k) => String(row[k])), String(offset[i]), ...calls].join(','),
      );
    }
    const path = join(tmp, `r-${result.runId}-${chrom}.csv`);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  });
}

function rFits(csv: string, nVariants: number, family: 'gaussian' | 'binomial'): number[][] {
  const script = `
d <- read.csv('${csv}')
covs <- grep('^cov_', names(d), value = TRUE)
for (v in 0:${nVariants - 1}) {
  d$g <- d[[paste0('g', v)]]
  e <- d[!is.na(d$g), ]
  if ('${family}' == 'gaussian') {
    e$yo <- e$y - e$o
    m <- lm(as.formula(paste('yo ~', paste(c(covs, 'g'), collapse = '+'))), data = e)
    s <- summary(m)$coefficients['g', ]
    cat(sprintf('%.15g %.15g %.15g 0\\n', s[1], s[2], s[4]))
  } else {
    f0 <- as.formula(paste('y ~', paste(covs, collapse = '+')))
    f1 <- as.formula(paste('y ~', paste(c(covs, 'g'), collapse = '+')))
    ctl <- glm.control(epsilon = 1e-14, maxit = 100)
    m0 <- glm(f0, offset = o, family = binomial, data = e, control = ctl)
    m1 <- glm(f1, offset = o, family = binomial, data = e, control = ctl)
    s <- summary(m1)$coefficients['g', ]
    cat(sprintf('%.15g %.15g %.15g %.15g\\n', s[1], s[2], s[4], anova(m0, m1, test = 'Rao')$Rao[2]))
  }
}`;
  return execFileSync('Rscript', ['--vanilla', '-e', script], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  release = await ingestSyntheticRelease(engine.client, engine.taskQueue, engine.dataDir, {
    releaseId: 'loco-release',
  });
  const base = ldlSpec(release.releaseId);
  // REGENIE's blocks, asked for: `auto` would take the whole genome for LDL at this size
  const gwas = { ...base.gwas, relatedness: 'loco', loco: { blockSize: BLOCK, level0: 'blocks' } };
  // SPA off in the PheWAS: its Wald rows are compared with R glm below.
  loco = await runStudy(
    ldlSpec(release.releaseId, { studyId: 'test-ldl-loco', gwas, phewas: { ...base.phewas, spa: 'never' } }),
  );
  again = await runStudy(
    ldlSpec(release.releaseId, {
      studyId: 'test-ldl-loco-again',
      gwas,
      phewas: { ...base.phewas, leadLoci: { p: 1e-7, max: 2 } },
    }),
  );
  binary = await runStudy(
    ldlSpec(release.releaseId, {
      studyId: 'test-t2d-loco',
      phenotype: { type: 'phecode', phecode: '250.2', phecodeVersion: '1.2' },
      gwas: { ...gwas, scoreThreshold: 1e-3, spa: 'never' },
      phewas: { ...base.phewas, leadLoci: { p: 1e-300, max: 0 } },
    }),
  );
}, 600_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe('relatedness: loco', () => {
  it('runs step 1 on the selected variants, in blocks per chromosome', async () => {
    const step1 = loco.gwas!.step1!;
    expect(step1.cached).toBe(false);
    expect(step1.level0).toBe('blocks');
    const { nVariants, nBlocks } = await withCompute(engine.config, async (conn) => {
      const r = await conn.runAndReadAll(
        `WITH v AS (SELECT chrom FROM read_parquet(${q(join(releaseDir(), 'variants.parquet'))})
                    WHERE least(af, 1 - af) >= 0.01 AND call_rate >= 0.95
                      AND chrom NOT IN ('Y', 'MT', 'chrY', 'chrM', 'chrMT'))
         SELECT count(*)::INTEGER, (SELECT sum(ceil(k / ${BLOCK}))::INTEGER FROM (SELECT count(*) AS k FROM v GROUP BY chrom))
         FROM v`,
      );
      const [a, b] = r.getRows()[0] as [number, number];
      return { nVariants: a, nBlocks: b };
    });
    expect(step1.nVariants).toBe(nVariants);
    expect(step1.nBlocks).toBe(nBlocks);
  });

  it('tests each quantitative variant on y minus its chromosome LOCO prediction (R lm)', async () => {
    const rows = (await gwasRows(loco.runId)).filter((r) => r.status === 'ok');
    // The shards are the plain plan's, so some span chromosome ends and switch offsets inside:
    // compare the first variants of chromosomes that begin inside a shard (s0003-chr6-chr9).
    const shardIds = readdirSync(join(runDir(engine.dataDir, loco.runId), 'gwas-shards'))
      .filter((f) => f.endsWith('.parquet'))
      .map((f) => f.replace(/\.parquet$/, ''));
    const spanning = shardIds.filter((id) => /^s\d+-chr[^-]+-chr[^-]+$/.test(id));
    expect(spanning.length).toBeGreaterThan(0);
    const starts = new Set(shardIds.map((id) => id.split('-')[1].replace(/^chr/, '')));
    const chroms = [...new Set(rows.map((r) => r.chrom))]
      .filter((c) => !starts.has(c.replace(/^chr/, '')))
      .slice(0, 3);
    expect(chroms.length).toBeGreaterThanOrEqual(2);
    let compared = 0;
    for (const chrom of chroms) {
      const sample = rows.filter((r) => r.chrom === chrom).slice(0, 6);
      const csv = await rData(
        loco,
        sample.map((r) => r.variant_id),
        chrom,
      );
      const ref = rFits(csv, sample.length, 'gaussian');
      for (const [v, r] of sample.entries()) {
        expect(rel(r.beta, ref[v][0])).toBeLessThan(1e-6);
        expect(rel(r.se, ref[v][1])).toBeLessThan(1e-6);
        expect(rel(r.p, ref[v][2])).toBeLessThan(1e-5);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(12);
  });

  it('tests binary traits with the LOCO prediction as a logistic offset (R glm offset)', async () => {
    expect(binary.gwas!.step1).toBeDefined();
    const rows = (await gwasRows(binary.runId)).filter((r) => r.status === 'ok' && r.test === 'score');
    const chrom = rows[0].chrom;
    const sample = rows.filter((r) => r.chrom === chrom).slice(0, 6);
    const csv = await rData(
      binary,
      sample.map((r) => r.variant_id),
      chrom,
    );
    const ref = rFits(csv, sample.length, 'binomial');
    for (const [v, r] of sample.entries()) expect(rel(r.stat ** 2, ref[v][3])).toBeLessThan(1e-5);
  });

  it("fits the lead-locus PheWAS with each phecode's LOCO offset (R glm offset)", async () => {
    expect(loco.phewas.length).toBeGreaterThan(0);
    const lead = loco.gwas!.leadLoci[0];
    const predictor = loco.phewas[0].predictorId;
    const dir = runDir(engine.dataDir, loco.runId);
    const traitsPath = join(dir, 'step1-traits', 'phecodes-1.2.f64');
    const labels = JSON.parse(readFileSync(`${traitsPath}.json`, 'utf8')) as string[];
    expect(labels.length).toBeGreaterThan(5);
    const rowsOf = await withEngineDb(
      engine.config,
      async (conn) =>
        (
          await conn.runAndReadAll(
            `SELECT phecode, beta, se, test, n_cases FROM phewas_results WHERE run_id = $1 AND predictor = $2
             AND status = 'ok' AND test = 'wald' ORDER BY n_cases DESC, phecode LIMIT 3`,
            [loco.runId, predictor],
          )
        ).getRowObjectsJS() as unknown as { phecode: string; beta: number; se: number; test: string }[],
      { readOnly: true },
    );
    expect(rowsOf.length).toBeGreaterThan(0);
    // the step 1 over these phecodes: the one whose loco.json has one trait per label
    const step1Dirs = readdirSync(join(engine.dataDir, 'step1')).map((k) => join(engine.dataDir, 'step1', k));
    const phenomeStep1 = step1Dirs.find((d) => {
      try {
        return (
          (JSON.parse(readFileSync(join(d, 'loco.json'), 'utf8')) as { traits: unknown[] }).traits.length ===
          labels.length
        );
      } catch {
        return false;
      }
    });
    expect(phenomeStep1).toBeDefined();
    const summary = JSON.parse(readFileSync(join(phenomeStep1!, 'loco.json'), 'utf8')) as {
      chroms: string[];
      nSamples: number;
    };
    const n = summary.nSamples;
    const c = summary.chroms.indexOf(lead.chrom);
    const tb = readFileSync(traitsPath);
    const ys = new Float64Array(tb.buffer.slice(tb.byteOffset, tb.byteOffset + tb.byteLength));
    const csv = await withCompute(engine.config, async (conn) => {
      const analysis = (
        await conn.runAndReadAll(
          `SELECT * FROM read_parquet(${q(join(dir, 'analysis-phewas-cohort.parquet'))}) ORDER BY sample_idx`,
        )
      ).getRowObjectsJS() as Record<string, unknown>[];
      expect(analysis.length).toBe(n);
      const covCols = Object.keys(analysis[0]).filter((k) => k.startsWith('cov_'));
      const r = await conn.runAndReadAll(
        `SELECT gt FROM read_parquet(${q(join(releaseDir(), 'genotypes', '*.parquet'))}) WHERE variant_idx = $1`,
        [lead.variantIdx],
      );
      const gt = Uint8Array.from((r.getRows()[0][0] as DuckDBBlobValue).bytes);
      const header = ['g', ...covCols];
      const cols: string[] = [];
      for (const row of rowsOf) {
        const t = labels.indexOf(row.phecode);
        expect(t).toBeGreaterThanOrEqual(0);
        cols.push(`y${t}`, `o${t}`);
      }
      const lines = [[...header, ...cols].join(',')];
      const locoOf = rowsOf.map((row) => {
        const t = labels.indexOf(row.phecode);
        const b = readFileSync(join(phenomeStep1!, `loco-${t}.f64`));
        const all = new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
        return { t, o: all.subarray(c * n, (c + 1) * n) };
      });
      for (const [i, row] of analysis.entries()) {
        const s = Number(row.sample_idx);
        const code = (gt[s >> 2] >> ((s & 3) * 2)) & 3;
        const vals = locoOf.flatMap(({ t, o }) => {
          const y = ys[t * n + i];
          return [Number.isNaN(y) ? 'NA' : String(y), String(o[i])];
        });
        lines.push(
          [code === 3 ? 'NA' : String(code), ...covCols.map((k) => String(row[k])), ...vals].join(','),
        );
      }
      const path = join(tmp, 'phewas-loco.csv');
      writeFileSync(path, `${lines.join('\n')}\n`);
      return { path, covCols, ts: locoOf.map((l) => l.t) };
    });
    const script = `
d <- read.csv('${csv.path}')
covs <- grep('^cov_', names(d), value = TRUE)
for (t in c(${csv.ts.join(', ')})) {
  e <- d[!is.na(d$g) & !is.na(d[[paste0('y', t)]]), ]
  e$y <- e[[paste0('y', t)]]; e$o <- e[[paste0('o', t)]]
  m <- glm(as.formula(paste('y ~ g +', paste(covs, collapse = '+'))), offset = o, family = binomial, data = e,
           control = glm.control(epsilon = 1e-14, maxit = 100))
  s <- summary(m)$coefficients['g', ]
  cat(sprintf('%.15g %.15g\\n', s[1], s[2]))
}`;
    const ref = execFileSync('Rscript', ['--vanilla', '-e', script], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split(' ').map(Number));
    for (const [k, row] of rowsOf.entries()) {
      expect(rel(row.beta, ref[k][0])).toBeLessThan(1e-5);
      expect(rel(row.se, ref[k][1])).toBeLessThan(1e-5);
    }
  });

  it('reuses a cached step 1 for the same cohort, trait and covariates', async () => {
    expect(again.gwas!.step1!.key).toBe(loco.gwas!.step1!.key);
    expect(again.gwas!.step1!.cached).toBe(true);
    const a = await gwasRows(loco.runId);
    const b = await gwasRows(again.runId);
    expect(b.map((r) => [r.variant_id, r.beta, r.p])).toEqual(a.map((r) => [r.variant_id, r.beta, r.p]));
  });

  it('still finds the planted LDL variants', () => {
    const truth = JSON.parse(readFileSync(join(release.manifestPath, '..', 'truth.json'), 'utf8')) as {
      quantitative: { trait: string; causal: { id: string }[] }[];
    };
    const causal = truth.quantitative.find((t) => t.trait === 'LDL')!.causal;
    const leads = new Set(loco.gwas!.leadLoci.map((l) => `${l.chrom}:${l.pos}:${l.ref}:${l.alt}`));
    expect(causal.length).toBeGreaterThan(0);
    expect(causal.filter((c) => leads.has(c.id)).length).toBeGreaterThanOrEqual(Math.min(2, causal.length));
  });
});
