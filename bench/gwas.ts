/**
 * End-to-end GWAS benchmark against PLINK2, measured in the same run on the same data:
 * our shard activities (plan → test shards, 2 at a time → merge) over the release Parquet
 * layout, versus `plink2 --bfile … --glm hide-covar` (linear, and logistic with
 * firth-fallback, PLINK2's default "hybrid" logistic), 2 threads each.
 *
 *   node --import tsx bench/gwas.ts [--samples 10000] [--variants 100000] [--trait linear|logistic|both]
 *
 * Data: deterministic; MAF from a U-shaped mix (60% of variants MAF < 5%), 1% missing calls in
 * a third of the variants, 3 standard-normal covariates; the quantitative trait has 20 causal
 * variants, the binary one is its top 30%. Peak RSS of each side comes from GNU time (PLINK2)
 * and process.resourceUsage() (ours, the whole Node process including DuckDB).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createGwasActivities } from '../activities/gwas.js';
import { gwasSpecSchema } from '../schemas/study.js';
import type {
  AnalysisTable,
  GwasShard,
  GwasShardResult,
  GwasSummary,
  RunContext,
} from '../schemas/study-io.js';
import { loadConfig } from '../temporal.config.js';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '10000' },
    variants: { type: 'string', default: '100000' },
    trait: { type: 'string', default: 'both' },
    out: { type: 'string', default: 'bench/out/gwas' },
    keep: { type: 'boolean', default: false },
  },
});
const N = Number(values.samples);
const M = Number(values.variants);
const OUT = values.out as string;
const SHARD = 25_000;

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    normal: () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-300))) * Math.cos(2 * Math.PI * next()),
  };
}

async function generate(dir: string) {
  const r = rng(2026);
  await mkdir(join(dir, 'release', 'genotypes'), { recursive: true });
  const cov = [0, 1, 2].map(() => Float64Array.from({ length: N }, r.normal));
  const y = Float64Array.from({ length: N }, (_, i) => 0.3 * cov[0][i] - 0.2 * cov[1][i] + r.normal());
  const causal = new Set(Array.from({ length: 20 }, (_, k) => Math.floor(((k + 0.5) * M) / 20)));

  const db = await DuckDBInstance.create(':memory:', { threads: '2', preserve_insertion_order: 'false' });
  const conn = await db.connect();
  await conn.run('CREATE TABLE samples (sample_idx INTEGER, sample_id VARCHAR, person_id VARCHAR)');
  await conn.run(
    'CREATE TABLE variants (variant_idx BIGINT, chrom VARCHAR, pos BIGINT, rsid VARCHAR, ref VARCHAR, alt VARCHAR, shard VARCHAR)',
  );
  await conn.run('CREATE TABLE genotypes (variant_idx BIGINT, gt BLOB, ds BLOB)');
  const sa = await conn.createAppender('samples');
  for (let i = 0; i < N; i++) {
    sa.appendInteger(i);
    sa.appendVarchar(`S${i}`);
    sa.appendVarchar(`S${i}`);
    sa.endRow();
  }
  sa.closeSync();

  // PLINK 1 .bed: variant-major, 2 bits per sample, codes 00 hom A1, 01 missing, 10 het, 11 hom A2.
  // A1 = ALT (first allele column of .bim), so the dosage counts ALT as ours does.
  const bytesPerVar = Math.ceil(N / 4);
  const bed = await open(join(dir, 'x.bed'), 'w');
  await bed.write(Uint8Array.from([0x6c, 0x1b, 0x01]));
  const bim: string[] = [];
  const va = await conn.createAppender('variants');
  let ga = await conn.createAppender('genotypes');
  const gt = new Uint8Array(N);
  const block = Buffer.alloc(bytesPerVar * 1000);
  let inBlock = 0;
  for (let j = 0; j < M; j++) {
    const chrom = String(1 + Math.floor((j * 22) / M));
    const pos = 10_000 + (j % Math.ceil(M / 22)) * 300;
    const u = r.next();
    const maf = u < 0.6 ? 0.001 + 0.049 * r.next() : 0.05 + 0.45 * r.next();
    const miss = j % 3 === 0 ? 0.01 : 0;
    const off = inBlock * bytesPerVar;
    block.fill(0, off, off + bytesPerVar);
    for (let i = 0; i < N; i++) {
      let g: number;
      if (miss && r.next() < miss) g = 255;
      else g = (r.next() < maf ? 1 : 0) + (r.next() < maf ? 1 : 0);
      gt[i] = g;
      // bed code for ALT count with A1 = ALT: 2 → 00, 1 → 10, 0 → 11, missing → 01
      const code = g === 255 ? 1 : g === 2 ? 0 : g === 1 ? 2 : 3;
      block[off + (i >> 2)] |= code << ((i & 3) * 2);
      if (causal.has(j) && g !== 255) y[i] += 0.12 * g;
    }
    inBlock++;
    if (inBlock === 1000) {
      await bed.write(block, 0, inBlock * bytesPerVar);
      inBlock = 0;
    }
    bim.push(`${chrom}\tv${j}\t0\t${pos}\tG\tA`);
    va.appendBigInt(BigInt(j));
    va.appendVarchar(chrom);
    va.appendBigInt(BigInt(pos));
    va.appendVarchar(`v${j}`);
    va.appendVarchar('A');
    va.appendVarchar('G');
    va.appendVarchar(`s${Math.floor(j / SHARD)}`);
    va.endRow();
    ga.appendBigInt(BigInt(j));
    ga.appendBlob(gt);
    ga.appendNull();
    ga.endRow();
    if ((j + 1) % SHARD === 0 || j === M - 1) {
      ga.closeSync();
      const s = Math.floor(j / SHARD);
      await conn.run(
        `COPY genotypes TO '${join(dir, 'release', 'genotypes', `s${s}.parquet`)}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`,
      );
      await conn.run('DELETE FROM genotypes');
      ga = await conn.createAppender('genotypes');
    }
  }
  ga.closeSync();
  if (inBlock) await bed.write(block, 0, inBlock * bytesPerVar);
  await bed.close();
  va.closeSync();
  await writeFile(join(dir, 'x.bim'), `${bim.join('\n')}\n`);
  await writeFile(
    join(dir, 'x.fam'),
    `${Array.from({ length: N }, (_, i) => `S${i}\tS${i}\t0\t0\t0\t-9`).join('\n')}\n`,
  );
  await conn.run(`COPY samples TO '${join(dir, 'release', 'samples.parquet')}' (FORMAT parquet)`);
  await conn.run(`COPY variants TO '${join(dir, 'release', 'variants.parquet')}' (FORMAT parquet)`);

  const sorted = [...y].sort((a, b) => a - b);
  const cut = sorted[Math.floor(N * 0.7)];
  const yb = Float64Array.from(y, (v) => (v > cut ? 1 : 0));
  const lines = ['#FID\tIID\ty\tyb'];
  const covLines = ['#FID\tIID\tc1\tc2\tc3'];
  for (let i = 0; i < N; i++) {
    lines.push(`S${i}\tS${i}\t${y[i]}\t${yb[i] + 1}`);
    covLines.push(`S${i}\tS${i}\t${cov[0][i]}\t${cov[1][i]}\t${cov[2][i]}`);
  }
  await writeFile(join(dir, 'pheno.tsv'), `${lines.join('\n')}\n`);
  await writeFile(join(dir, 'covar.tsv'), `${covLines.join('\n')}\n`);
  for (const [name, trait] of [
    ['analysis-linear', y],
    ['analysis-logistic', yb],
  ] as const) {
    await conn.run(
      'CREATE OR REPLACE TABLE a (sample_idx INTEGER, person_id VARCHAR, y DOUBLE, cov_c1 DOUBLE, cov_c2 DOUBLE, cov_c3 DOUBLE)',
    );
    const aa = await conn.createAppender('a');
    for (let i = 0; i < N; i++) {
      aa.appendInteger(i);
      aa.appendVarchar(`S${i}`);
      aa.appendDouble(trait[i]);
      for (const c of cov) aa.appendDouble(c[i]);
      aa.endRow();
    }
    aa.closeSync();
    await conn.run(`COPY a TO '${join(dir, `${name}.parquet`)}' (FORMAT parquet)`);
  }
  conn.closeSync();
  db.closeSync();
}

/** Wall time (s) and peak RSS (MiB, from GNU time) of one command. */
function runTimed(cmd: string, args: string[]): { seconds: number; rssMiB: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCH_TIME %e %M', cmd, ...args], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${String(r.stderr).slice(-2000)}`);
  const m = /BENCH_TIME ([\d.]+) (\d+)/.exec(String(r.stderr));
  return { seconds, rssMiB: m ? Math.round(Number(m[2]) / 1024) : Number.NaN };
}

async function timeOurs(dir: string, trait: 'linear' | 'logistic') {
  const config = loadConfig({
    BIOBANK_DATA_DIR: join(dir, 'data'),
    BIOBANK_DUCKDB_THREADS: '2',
    BIOBANK_DUCKDB_MEMORY: '4GB',
  });
  const acts = createGwasActivities(config);
  const run: RunContext = {
    runId: `bench-${trait}`,
    studyId: 'bench',
    releaseId: 'bench',
    releaseFingerprint: '0'.repeat(64),
    releaseDir: join(dir, 'release'),
    specHash: '0'.repeat(64),
    runDir: join(dir, `run-${trait}`),
  };
  await rm(run.runDir, { recursive: true, force: true });
  const analysis: AnalysisTable = {
    path: join(dir, `analysis-${trait}.parquet`),
    trait: trait === 'linear' ? 'quantitative' : 'binary',
    nSamples: N,
    covariates: ['c1', 'c2', 'c3'],
    droppedCovariates: [],
  };
  // PLINK2 --glm applies no variant filters unless asked: match that.
  const gwas = gwasSpecSchema.parse({ minMac: 0, minMaf: 0, maxMissing: 1, hweP: 0 });
  const env = new MockActivityEnvironment();
  const t0 = process.hrtime.bigint();
  const shards = (await env.run(acts.planGwasShards, {
    run,
    chromosomes: null,
    shardVariants: SHARD,
  })) as GwasShard[];
  const queue = [...shards];
  const results: GwasShardResult[] = [];
  await Promise.all(
    [0, 1].map(async () => {
      for (let s = queue.shift(); s; s = queue.shift()) {
        results.push(
          await new MockActivityEnvironment().run(acts.runGwasShard, { run, shard: s, analysis, gwas }),
        );
      }
    }),
  );
  const summary = (await env.run(acts.mergeGwas, {
    run,
    nShards: shards.length,
    leadLoci: { p: 5e-8, windowKb: 500, max: 20 },
  })) as GwasSummary;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { seconds, nTested: summary.nTested, lambdaGc: summary.lambdaGc, leads: summary.leadLoci.length };
}

async function main() {
  const dir = OUT;
  await mkdir(dir, { recursive: true });
  const t0 = Date.now();
  await generate(dir);
  console.log(
    `generated ${N} samples × ${M} variants in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${dir}`,
  );
  const traits =
    values.trait === 'both' ? (['linear', 'logistic'] as const) : [values.trait as 'linear' | 'logistic'];
  const report: Record<string, unknown> = { samples: N, variants: M, covariates: 3 };
  for (const trait of traits) {
    const plinkArgs = [
      '--bfile',
      join(dir, 'x'),
      '--pheno',
      join(dir, 'pheno.tsv'),
      '--pheno-name',
      trait === 'linear' ? 'y' : 'yb',
      '--covar',
      join(dir, 'covar.tsv'),
      '--glm',
      'hide-covar',
      ...(trait === 'logistic' ? ['firth-fallback'] : []),
      '--threads',
      '2',
      '--memory',
      '8000',
      '--out',
      join(dir, `plink-${trait}`),
    ];
    // warm the page cache once, then time
    runTimed('plink2', plinkArgs);
    const plink = runTimed('plink2', plinkArgs);
    const rss0 = process.resourceUsage().maxRSS;
    const ours = await timeOurs(dir, trait);
    const rss = process.resourceUsage().maxRSS;
    const row = {
      plinkSeconds: Number(plink.seconds.toFixed(2)),
      plinkPeakRssMiB: plink.rssMiB,
      oursSeconds: Number(ours.seconds.toFixed(2)),
      ratio: Number((ours.seconds / plink.seconds).toFixed(2)),
      oursPeakRssMiB: Math.round(Math.max(rss, rss0) / 1024),
      nTested: ours.nTested,
      lambdaGc: ours.lambdaGc,
      leadLoci: ours.leads,
    };
    report[trait] = row;
    console.log(
      `${trait}: plink2 ${row.plinkSeconds} s (${row.plinkPeakRssMiB} MiB), ours ${row.oursSeconds} s, ratio ${row.ratio}×, ours peak RSS ${row.oursPeakRssMiB} MiB`,
    );
  }
  await writeFile(join(dir, 'result.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (!values.keep) {
    for (const f of ['x.bed', 'release', 'data', 'run-linear', 'run-logistic'])
      await rm(join(dir, f), { recursive: true, force: true });
  }
}

await main();
