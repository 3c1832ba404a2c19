/**
 * The data of the GWAS benchmark (bench/gwas.ts), deterministic: a release in the engine's
 * Parquet layout, the same genotypes as PLINK 1 .bed/.bim/.fam, phenotypes, covariates and the
 * two analysis tables (linear and logistic trait).
 */
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { packGt } from '../engine/genotypes.js';
import { GENOTYPE_COMPRESSION, GENOTYPE_ROW_GROUP } from '../ingest/vcf/shard.js';
import { boxMullerNormal, mulberry32 } from '../stats/random.js';

/** Variants per genotype file of the generated release (as ingest shards would write them). */
const SHARD = 25_000;

function rng(seed: number) {
  const next = mulberry32(seed);
  return { next, normal: () => boxMullerNormal(next) };
}

/** Writes the benchmark data for `samples` × `variants` into `dir`. */
export async function generateGwasData(
  dir: string,
  o: { samples: number; variants: number; missingVariants: number },
): Promise<void> {
  const N = o.samples;
  const M = o.variants;
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
    const miss = (j % 1000) / 1000 < o.missingVariants ? 0.01 : 0;
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
    ga.appendBlob(packGt(gt));
    ga.appendNull();
    ga.endRow();
    if ((j + 1) % SHARD === 0 || j === M - 1) {
      ga.closeSync();
      const s = Math.floor(j / SHARD);
      await conn.run(
        `COPY genotypes TO '${join(dir, 'release', 'genotypes', `s${s}.parquet`)}' (FORMAT parquet, ${GENOTYPE_COMPRESSION}, ROW_GROUP_SIZE ${GENOTYPE_ROW_GROUP})`,
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
