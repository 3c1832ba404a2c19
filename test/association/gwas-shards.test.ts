/**
 * GWAS activities end to end on real Parquet and DuckDB: plan shards, test each shard, merge —
 * compared with `plink2 --glm` run on the same genotypes as a VCF, with the same QC filters.
 * Also: a shard retried after a heartbeat resumes without duplicating rows, and a finished
 * shard is not recomputed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGwasActivities } from '../../activities/gwas.js';
import { computeGwasShard, type ShardCursor } from '../../gwas/shard.js';
import { gwasSpecSchema } from '../../schemas/study.js';
import type { AnalysisTable, GwasShardResult, RunContext } from '../../schemas/study-io.js';
import { linearGwas, prepareLinear } from '../../stats/linear.js';
import { loadConfig } from '../../temporal.config.js';
import { runActivity } from '../helpers/activity.js';
import {
  type FixtureVariant,
  writeAnalysisFixture,
  writeReleaseFixture,
  writeVcf,
} from '../helpers/release-fixture.js';
import { rng } from '../helpers/rng.js';

const N = 1000;
const M = 400;
let dir = '';
let run: RunContext;
let analysis: AnalysisTable;
let binaryAnalysis: AnalysisTable;
let multiAnalysis: AnalysisTable;
let gtOf: Uint8Array[] = [];
let ybOf: Float64Array;
let c1Of: Float64Array;
let c2Of: Float64Array;
const gwas = gwasSpecSchema.parse({ minMac: 20, minMaf: 0.01, maxMissing: 0.1, hweP: 1e-15 });

function plinkTable(path: string): Record<string, string>[] {
  const [header, ...lines] = execFileSync('cat', [path], { encoding: 'utf8' }).trim().split('\n');
  const cols = header.replace(/^#/, '').split('\t');
  return lines.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [cols[i], v])));
}

async function readRows(glob: string) {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const rows = (
    await conn.runAndReadAll(`SELECT * FROM read_parquet('${glob}') ORDER BY variant_idx`)
  ).getRowObjectsJS();
  conn.closeSync();
  return rows as {
    variant_idx: bigint;
    rsid: string;
    beta: number;
    se: number;
    p: number;
    neg_log10_p: number;
    test: string;
    status: string;
    n: number;
  }[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'biobank-gwas-'));
  const r = rng(42);
  const ids = Array.from({ length: N }, (_, i) => `S${i + 1}`);
  const variants: FixtureVariant[] = [];
  for (let j = 0; j < M; j++) {
    const chrom = j < M / 2 ? '1' : '2';
    const af = j % 50 === 7 ? 0 : j % 9 === 0 ? 0.004 + r.next() * 0.01 : 0.02 + r.next() * 0.45;
    const missRate = j % 37 === 5 ? 0.2 : j % 3 === 0 ? 0.03 : 0;
    const gt = new Uint8Array(N);
    for (let i = 0; i < N; i++) {
      if (r.next() < missRate) gt[i] = 255;
      else gt[i] = (r.next() < af ? 1 : 0) + (r.next() < af ? 1 : 0);
    }
    variants.push({
      chrom,
      pos: 10_000 + (j % (M / 2)) * 5_000,
      ref: 'A',
      alt: 'G',
      gt,
      shard: `s${Math.floor(j / 150)}`,
    });
  }
  const c1 = Float64Array.from({ length: N }, () => r.normal());
  const c2 = Float64Array.from({ length: N }, () => r.normal());
  const g = (j: number, i: number) => (variants[j].gt[i] === 255 ? 0 : variants[j].gt[i]);
  const y = Float64Array.from(
    { length: N },
    (_, i) => 0.5 * g(10, i) + 0.3 * g(250, i) + 0.2 * c1[i] - 0.1 * c2[i] + r.normal(),
  );
  const liab = Float64Array.from({ length: N }, (_, i) => 0.9 * g(10, i) + 0.3 * c1[i] + r.normal());
  const sorted = [...liab].sort((a, b) => a - b);
  const cut = sorted[Math.floor(N * 0.7)];
  const yb = Float64Array.from(liab, (v) => (v > cut ? 1 : 0));

  gtOf = variants.map((v) => v.gt);
  ybOf = yb;
  c1Of = c1;
  c2Of = c2;
  const releaseDir = join(dir, 'release');
  await writeReleaseFixture(releaseDir, ids, variants);
  await writeVcf(join(dir, 'x.vcf'), ids, variants);
  const covars = { c1, c2 };
  // Two more quantitative traits for the one-pass test: one with its own causal variant, one null.
  const y2 = Float64Array.from({ length: N }, (_, i) => 0.4 * g(300, i) - 0.2 * c2[i] + r.normal());
  const y3 = Float64Array.from({ length: N }, () => 3 + 2 * r.normal());
  await writeAnalysisFixture(join(dir, 'analysis.parquet'), ids, y, covars);
  await writeAnalysisFixture(join(dir, 'analysis-multi.parquet'), ids, y, covars, [y2, y3]);
  await writeAnalysisFixture(join(dir, 'analysis-bin.parquet'), ids, yb, covars);
  await writeFile(
    join(dir, 'pheno.tsv'),
    `#IID\ty\tyb\ty2\ty3\n${ids.map((id, i) => `${id}\t${y[i]}\t${yb[i] + 1}\t${y2[i]}\t${y3[i]}`).join('\n')}\n`,
  );
  await writeFile(
    join(dir, 'covar.tsv'),
    `#IID\tc1\tc2\n${ids.map((id, i) => `${id}\t${c1[i]}\t${c2[i]}`).join('\n')}\n`,
  );
  execFileSync(
    'plink2',
    [
      '--vcf',
      join(dir, 'x.vcf'),
      '--pheno',
      join(dir, 'pheno.tsv'),
      '--covar',
      join(dir, 'covar.tsv'),
      '--glm',
      'hide-covar',
      'firth-fallback',
      'cols=+beta',
      '--mac',
      '20',
      '--maf',
      '0.01',
      '--geno',
      '0.1',
      '--hwe',
      '1e-15',
      '--threads',
      '1',
      '--out',
      join(dir, 'plink'),
    ],
    { stdio: 'ignore' },
  );

  run = {
    runId: 'gwas-test',
    studyId: 'gwas-test',
    releaseId: 'fixture',
    releaseFingerprint: 'f'.repeat(64),
    releaseDir,
    specHash: 'e'.repeat(64),
    runDir: join(dir, 'run'),
  };
  analysis = {
    path: join(dir, 'analysis.parquet'),
    trait: 'quantitative',
    nSamples: N,
    covariates: ['c1', 'c2'],
    droppedCovariates: [],
  };
  binaryAnalysis = { ...analysis, path: join(dir, 'analysis-bin.parquet'), trait: 'binary' };
  multiAnalysis = { ...analysis, path: join(dir, 'analysis-multi.parquet'), traits: ['y', 'y2', 'y3'] };
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function activities(sub: string) {
  const config = loadConfig({ BIOBANK_DATA_DIR: join(dir, 'data'), BIOBANK_DUCKDB_THREADS: '1' });
  return { config, acts: createGwasActivities(config), runFor: { ...run, runDir: join(dir, sub) } };
}

describe('GWAS shards against plink2 --glm', () => {
  it('linear: same variants pass QC, β and SE within 1e-4 relative, −log10 p within 1e-3', async () => {
    const { acts, runFor } = activities('run-linear');
    const shards = await runActivity(acts.planGwasShards, {
      run: runFor,
      chromosomes: null,
      shardVariants: 120,
    });
    // 400 variants in genome order → ⌈400 / 120⌉ = 4 equal shards.
    expect(shards.map((s) => s.nVariants)).toEqual([100, 100, 100, 100]);
    expect(shards.map((s) => s.shardId)).toEqual(['s0000-chr1', 's0001-chr1', 's0002-chr2', 's0003-chr2']);
    expect(shards[0].files.map((f) => f.split('/').pop())).toEqual(['s0.parquet']);
    expect(shards[1].files.map((f) => f.split('/').pop())).toEqual(['s0.parquet', 's1.parquet']);
    // A shard may span a chromosome boundary, never variants outside the chosen chromosomes.
    const spanning = await runActivity(acts.planGwasShards, {
      run: runFor,
      chromosomes: null,
      shardVariants: 150,
    });
    expect(spanning.map((s) => [s.shardId, s.chrom, s.firstVariantIdx, s.lastVariantIdx])).toEqual([
      ['s0000-chr1', '1', 0, 133],
      ['s0001-chr1-chr2', '1-2', 134, 266],
      ['s0002-chr2', '2', 267, 399],
    ]);
    const chr2 = await runActivity(acts.planGwasShards, {
      run: runFor,
      chromosomes: ['2'],
      shardVariants: 150,
    });
    expect(chr2.map((s) => [s.firstVariantIdx, s.lastVariantIdx])).toEqual([
      [200, 299],
      [300, 399],
    ]);
    const results: GwasShardResult[] = [];
    for (const shard of shards)
      results.push(await runActivity(acts.runGwasShard, { run: runFor, shard, analysis, gwas }));
    const summary = await runActivity(acts.mergeGwas, {
      run: runFor,
      nShards: shards.length,
      leadLoci: { p: 5e-8, windowKb: 500, max: 20 },
    });

    const ref = plinkTable(join(dir, 'plink.y.glm.linear'));
    const ours = await readRows(summary.resultsGlob);
    expect(ours.map((r) => r.rsid)).toEqual(ref.map((r) => r.ID));
    expect(summary.nTested).toBe(ref.length);
    expect(summary.qc.nInput).toBe(M);
    expect(
      summary.qc.removedMissing + summary.qc.removedMac + summary.qc.removedMaf + summary.qc.removedHwe,
    ).toBe(M - ref.length);
    for (let i = 0; i < ref.length; i++) {
      const want = ref[i];
      const got = ours[i];
      if (want.ERRCODE !== '.') {
        expect(got.status).not.toBe('ok');
        continue;
      }
      expect(got.status).toBe('ok');
      expect(got.n).toBe(Number(want.OBS_CT));
      expect(Math.abs(got.beta - Number(want.BETA)) / Math.abs(Number(want.BETA))).toBeLessThan(1e-4);
      expect(Math.abs(got.se - Number(want.SE)) / Number(want.SE)).toBeLessThan(1e-4);
      expect(Math.abs(got.neg_log10_p + Math.log10(Number(want.P)))).toBeLessThan(1e-3);
    }
    // The planted variant leads a locus; λGC is computed over the tested variants.
    expect(summary.leadLoci[0]).toMatchObject({ chrom: '1', variantIdx: 10 });
    expect(summary.lambdaGc).toBeGreaterThan(0.7);
    expect(summary.lambdaGc).toBeLessThan(1.4);
  });

  it('three traits in one genotype pass: each trait agrees with plink2 --glm on that trait alone', async () => {
    const { acts, runFor } = activities('run-multi');
    const shards = await runActivity(acts.planGwasShards, {
      run: runFor,
      chromosomes: null,
      shardVariants: 150,
    });
    for (const shard of shards)
      await runActivity(acts.runGwasShard, { run: runFor, shard, analysis: multiAnalysis, gwas });
    const summary = await runActivity(acts.mergeGwas, {
      run: runFor,
      nShards: shards.length,
      leadLoci: { p: 5e-8, windowKb: 500, max: 20 },
      traits: multiAnalysis.traits,
    });
    expect(summary.traits?.map((t) => t.phenotype)).toEqual(['y', 'y2', 'y3']);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    for (const [k, name] of ['y', 'y2', 'y3'].entries()) {
      const ref = plinkTable(join(dir, `plink.${name}.glm.linear`));
      const ours = (
        await conn.runAndReadAll(
          `SELECT rsid, n, beta, se, neg_log10_p, status FROM read_parquet('${summary.resultsGlob}')
           WHERE trait = ${k} ORDER BY variant_idx`,
        )
      ).getRowObjectsJS() as {
        rsid: string;
        n: number;
        beta: number;
        se: number;
        neg_log10_p: number;
        status: string;
      }[];
      expect(
        ours.map((r) => r.rsid),
        name,
      ).toEqual(ref.map((r) => r.ID));
      for (let i = 0; i < ref.length; i++) {
        const want = ref[i];
        const got = ours[i];
        expect(got.status, `${name} ${want.ID}`).toBe(want.ERRCODE === '.' ? 'ok' : got.status);
        if (want.ERRCODE !== '.') continue;
        expect(got.n).toBe(Number(want.OBS_CT));
        expect(Math.abs(got.beta - Number(want.BETA)) / Math.abs(Number(want.BETA))).toBeLessThan(1e-4);
        expect(Math.abs(got.se - Number(want.SE)) / Number(want.SE)).toBeLessThan(1e-4);
        expect(Math.abs(got.neg_log10_p + Math.log10(Number(want.P)))).toBeLessThan(1e-3);
      }
    }
    conn.closeSync();
    // Lead loci follow the main trait; y2's planted variant is found in its own rows.
    expect(summary.leadLoci[0]).toMatchObject({ variantIdx: 10 });
    expect(summary.traits?.[2].lambdaGc).toBeGreaterThan(0.7);
  });

  it('reads dosages where a release has them and tests them, not the hard calls', async () => {
    // A small release: every third variant also carries DS (hard call plus noise).
    const r = rng(7);
    const ids = Array.from({ length: 300 }, (_, i) => `D${i}`);
    const variants: FixtureVariant[] = Array.from({ length: 30 }, (_, j) => {
      const gt = Uint8Array.from({ length: 300 }, () => (r.next() < 0.3 ? 1 : 0) + (r.next() < 0.3 ? 1 : 0));
      const ds =
        j % 3 === 0
          ? Float32Array.from(gt, (g) => Math.min(2, Math.max(0, g + 0.3 * (r.next() - 0.5))))
          : undefined;
      return { chrom: '1', pos: 1000 + j, ref: 'A', alt: 'G', gt, ds, shard: 'd0' };
    });
    const y = Float64Array.from({ length: 300 }, () => r.normal());
    const c1 = Float64Array.from({ length: 300 }, () => r.normal());
    const sub = join(dir, 'dosage');
    await writeReleaseFixture(join(sub, 'release'), ids, variants);
    await writeAnalysisFixture(join(sub, 'analysis.parquet'), ids, y, { c1 });
    const config = loadConfig({ BIOBANK_DATA_DIR: join(sub, 'data'), BIOBANK_DUCKDB_THREADS: '1' });
    const acts = createGwasActivities(config);
    const runFor = { ...run, releaseDir: join(sub, 'release'), runDir: join(sub, 'run') };
    const a: AnalysisTable = { ...analysis, path: join(sub, 'analysis.parquet'), covariates: ['c1'] };
    const open = gwasSpecSchema.parse({ minMac: 0, minMaf: 0, maxMissing: 1, hweP: 0 });
    const [shard] = await runActivity(acts.planGwasShards, {
      run: runFor,
      chromosomes: null,
      shardVariants: 100,
    });
    const res = await runActivity(acts.runGwasShard, { run: runFor, shard, analysis: a, gwas: open });
    const rows = await readRows(res.path);
    const cov = Float64Array.from(c1);
    const model = prepareLinear(
      [y],
      cov,
      1,
      300,
      Int32Array.from({ length: 300 }, (_, i) => i),
    );
    const want = linearGwas(
      model,
      variants.map((v) => v.ds ?? v.gt),
    );
    expect(rows.map((x) => x.beta)).toEqual(Array.from(want.beta));

    // An analysis of a subset of the genotyped samples: QC counts (n, af) and β over exactly them.
    const keep = Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 3 !== 1);
    await writeAnalysisFixture(join(sub, 'analysis-subset.parquet'), ids, y, { c1 });
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(
      `COPY (SELECT * FROM read_parquet('${join(sub, 'analysis-subset.parquet')}') WHERE sample_idx % 3 <> 1)
       TO '${join(sub, 'analysis-keep.parquet')}' (FORMAT parquet)`,
    );
    conn.closeSync();
    const runSub = { ...runFor, runDir: join(sub, 'run-subset') };
    const aSub: AnalysisTable = { ...a, path: join(sub, 'analysis-keep.parquet'), nSamples: keep.length };
    const resSub = await runActivity(acts.runGwasShard, { run: runSub, shard, analysis: aSub, gwas: open });
    const subRows = await readRows(resSub.path);
    const subModel = prepareLinear(
      [Float64Array.from(keep, (i) => y[i])],
      Float64Array.from(keep, (i) => c1[i]),
      1,
      300,
      Int32Array.from(keep),
    );
    const wantSub = linearGwas(
      subModel,
      variants.map((v) => v.ds ?? v.gt),
    );
    expect(subRows.map((x) => x.beta)).toEqual(Array.from(wantSub.beta));
    for (const [j, v] of variants.entries()) {
      if (v.ds) continue; // af comes from the hard calls
      let alt = 0;
      for (const i of keep) alt += v.gt[i];
      expect(subRows[j].n, `variant ${j}`).toBe(keep.length);
      expect((subRows[j] as unknown as { af: number }).af).toBeCloseTo(alt / (2 * keep.length), 12);
    }
    // and the dosage rows differ from what the hard calls alone give
    const hard = linearGwas(model, [variants[0].gt]);
    expect(rows[0].beta).not.toBe(hard.beta[0]);
  });

  it('logistic: Wald and Firth rows agree with plink2 firth-fallback', async () => {
    const { acts, runFor } = activities('run-binary');
    const shards = await runActivity(acts.planGwasShards, {
      run: runFor,
      chromosomes: ['1'],
      shardVariants: 500,
    });
    expect(shards).toHaveLength(1);
    await runActivity(acts.runGwasShard, { run: runFor, shard: shards[0], analysis: binaryAnalysis, gwas });
    const ours = await readRows(join(runFor.runDir, 'gwas-shards', '*.parquet'));
    const ref = new Map(plinkTable(join(dir, 'plink.yb.glm.logistic.hybrid')).map((r) => [r.ID, r]));
    let compared = 0;
    const withMissing: typeof ours = [];
    for (const got of ours) {
      const want = ref.get(got.rsid);
      expect(want).toBeDefined();
      if (want?.ERRCODE !== '.' || (got.test !== 'wald' && got.test !== 'firth')) continue;
      const refBeta = Number(want.BETA);
      // PLINK2 a3.5's logistic path departs from exact maximum likelihood by up to ~2e-4 in SE on
      // variants with dropped (missing) calls; R's glm agrees with ours there (checked below).
      const tol = got.test === 'firth' || got.n < N ? 1e-3 : 1e-4;
      if (got.n < N && got.test === 'wald') withMissing.push(got);
      expect(Math.abs(got.beta - refBeta) / Math.abs(refBeta)).toBeLessThan(tol);
      const refSe = Number(want.SE ?? want['LOG(OR)_SE']);
      expect(Math.abs(got.se - refSe) / refSe).toBeLessThan(tol);
      expect(Math.abs(got.neg_log10_p + Math.log10(Number(want.P)))).toBeLessThan(1e-3);
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
    // Exact check against R glm on a Wald row with missing calls: same subset, same model.
    expect(withMissing.length).toBeGreaterThan(0);
    const v = withMissing[0];
    const j = Number(v.variant_idx);
    const csv = join(dir, 'missing-variant.csv');
    const lines = ['y,g,c1,c2'];
    for (let i = 0; i < N; i++) {
      if (gtOf[j][i] !== 255) lines.push(`${ybOf[i]},${gtOf[j][i]},${c1Of[i]},${c2Of[i]}`);
    }
    await writeFile(csv, `${lines.join('\n')}\n`);
    const [rb, rse] = execFileSync(
      'Rscript',
      [
        '-e',
        `d <- read.csv('${csv}'); s <- summary(glm(y ~ g + c1 + c2, family = binomial, data = d, control = glm.control(epsilon = 1e-14, maxit = 100)))$coefficients; cat(sprintf('%.15g %.15g', s['g', 1], s['g', 2]))`,
      ],
      { encoding: 'utf8' },
    )
      .trim()
      .split(' ')
      .map(Number);
    expect(Math.abs(v.beta - rb) / Math.abs(rb)).toBeLessThan(1e-6);
    expect(Math.abs(v.se - rse) / rse).toBeLessThan(1e-6);
  });
});

describe('shard durability', () => {
  it('a retried shard resumes from its heartbeat without duplicating rows; a finished shard is reused', async () => {
    const clean = activities('run-clean');
    const [shard] = await runActivity(clean.acts.planGwasShards, {
      run: clean.runFor,
      chromosomes: ['1'],
      shardVariants: 1000,
    });
    // Same batch and part sizes as the interrupted run below, so the kernel sees the same batches.
    const small = { batchVariants: 10, partVariants: 10 };
    const cleanResult = await runActivity(clean.acts.runGwasShard, {
      run: clean.runFor,
      shard,
      analysis,
      gwas,
      ...small,
    });

    // First attempt, as it runs on its worker thread (computeGwasShard), stopped by its abort
    // signal right after the first part is committed — the state a crash or a cancellation
    // leaves. (The thread hop itself is exercised by every other test here.)
    const resumed = activities('run-resumed');
    let cursor: ShardCursor | undefined;
    const stop = new AbortController();
    await expect(
      computeGwasShard(
        resumed.config,
        { run: resumed.runFor, shard, analysis, gwas, ...small },
        null,
        (c) => {
          if (c.parts === 1 && !cursor) {
            cursor = structuredClone(c);
            stop.abort(new Error('crash'));
          }
        },
        stop.signal,
      ),
    ).rejects.toThrow('crash');
    // Committed state only: the counts cover exactly the variants up to the cursor.
    expect(cursor!.lastVariantIdx).toBeGreaterThanOrEqual(9);
    expect(cursor!.lastVariantIdx).toBeLessThan(shard.lastVariantIdx);
    expect(cursor!.qc.nInput).toBe(cursor!.lastVariantIdx + 1);
    const out = join(resumed.runFor.runDir, 'gwas-shards', `${shard.shardId}.parquet`);
    expect(existsSync(out)).toBe(false);
    // The retry starts from the heartbeat's cursor: the first part is not recomputed, no row twice.
    const retry = new MockActivityEnvironment({ heartbeatDetails: cursor } as never);
    const beats: number[] = [];
    retry.on('heartbeat', (d: unknown) => beats.push((d as { lastVariantIdx: number }).lastVariantIdx));
    const result = await runActivity(
      resumed.acts.runGwasShard,
      { run: resumed.runFor, shard, analysis, gwas, ...small },
      retry,
    );
    expect(Math.min(...beats)).toBeGreaterThanOrEqual(cursor!.lastVariantIdx);
    const a = await readRows(cleanResult.path);
    const b = await readRows(result.path);
    expect(b).toEqual(a);
    expect(result.qc).toEqual(cleanResult.qc);

    const before = (await stat(out)).mtimeMs;
    const again = await runActivity(resumed.acts.runGwasShard, {
      run: resumed.runFor,
      shard,
      analysis,
      gwas,
    });
    expect(again).toEqual(result);
    expect((await stat(out)).mtimeMs).toBe(before);
    expect(JSON.parse(await readFile(`${out}.json`, 'utf8')).sha256).toBe(result.sha256);
  });
});
