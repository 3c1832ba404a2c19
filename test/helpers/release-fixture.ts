/**
 * Writes a small ingested-release folder by hand, in the layout of docs/ARCHITECTURE.md
 * (samples.parquet, variants.parquet, genotypes/<shard>.parquet with gt BLOBs), plus the same
 * genotypes as a VCF for PLINK2 — so association code can be tested on its own, against a
 * reference computed by an independent tool.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { encodeDs, packGt } from '../../engine/genotypes.js';

export interface FixtureVariant {
  chrom: string;
  pos: number;
  ref: string;
  alt: string;
  /** One byte per sample: 0/1/2 ALT count, 255 missing. */
  gt: Uint8Array;
  /** ALT dosages (NaN missing), stored as the `ds` BLOB; absent: NULL. */
  ds?: Float32Array;
  shard: string;
  gene?: string;
  consequence?: string;
}

export async function writeReleaseFixture(
  dir: string,
  sampleIds: string[],
  variants: FixtureVariant[],
): Promise<void> {
  await mkdir(join(dir, 'genotypes'), { recursive: true });
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await conn.run('CREATE TABLE samples (sample_idx INTEGER, sample_id VARCHAR, person_id VARCHAR)');
    let app = await conn.createAppender('samples');
    sampleIds.forEach((id, i) => {
      app.appendInteger(i);
      app.appendVarchar(id);
      app.appendVarchar(id);
      app.endRow();
    });
    app.closeSync();
    await conn.run(`COPY samples TO '${join(dir, 'samples.parquet')}' (FORMAT parquet)`);

    await conn.run(`CREATE TABLE variants (variant_idx BIGINT, chrom VARCHAR, pos BIGINT, rsid VARCHAR, ref VARCHAR,
      alt VARCHAR, af DOUBLE, ac BIGINT, an BIGINT, call_rate DOUBLE, gene VARCHAR, consequence VARCHAR, shard VARCHAR)`);
    await conn.run('CREATE TABLE genotypes (variant_idx BIGINT, gt BLOB, ds BLOB, shard VARCHAR)');
    app = await conn.createAppender('variants');
    const gapp = await conn.createAppender('genotypes');
    variants.forEach((v, i) => {
      let ac = 0;
      let an = 0;
      for (const g of v.gt) {
        if (g !== 255) {
          ac += g;
          an += 2;
        }
      }
      app.appendBigInt(BigInt(i));
      app.appendVarchar(v.chrom);
      app.appendBigInt(BigInt(v.pos));
      app.appendVarchar(`v${i}`);
      app.appendVarchar(v.ref);
      app.appendVarchar(v.alt);
      app.appendDouble(an ? ac / an : 0);
      app.appendBigInt(BigInt(ac));
      app.appendBigInt(BigInt(an));
      app.appendDouble(an / 2 / v.gt.length);
      if (v.gene) app.appendVarchar(v.gene);
      else app.appendNull();
      if (v.consequence) app.appendVarchar(v.consequence);
      else app.appendNull();
      app.appendVarchar(v.shard);
      app.endRow();
      gapp.appendBigInt(BigInt(i));
      gapp.appendBlob(packGt(v.gt));
      if (v.ds) gapp.appendBlob(encodeDs(v.ds));
      else gapp.appendNull();
      gapp.appendVarchar(v.shard);
      gapp.endRow();
    });
    app.closeSync();
    gapp.closeSync();
    await conn.run(`COPY variants TO '${join(dir, 'variants.parquet')}' (FORMAT parquet)`);
    for (const shard of new Set(variants.map((v) => v.shard))) {
      await conn.run(
        `COPY (SELECT variant_idx, gt, ds FROM genotypes WHERE shard = '${shard}' ORDER BY variant_idx)
         TO '${join(dir, 'genotypes', `${shard}.parquet`)}' (FORMAT parquet, ROW_GROUP_SIZE 1024)`,
      );
    }
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** The same genotypes as an uncompressed VCF (unphased GT), for PLINK2 or bcftools. */
export async function writeVcf(path: string, sampleIds: string[], variants: FixtureVariant[]): Promise<void> {
  const code = ['0/0', '0/1', '1/1'];
  const lines = [
    '##fileformat=VCFv4.2',
    ...[...new Set(variants.map((v) => v.chrom))].map((c) => `##contig=<ID=${c}>`),
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    `#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t${sampleIds.join('\t')}`,
  ];
  variants.forEach((v, i) => {
    const gts = Array.from(v.gt, (g) => (g === 255 ? './.' : code[g]));
    lines.push(`${v.chrom}\t${v.pos}\tv${i}\t${v.ref}\t${v.alt}\t.\tPASS\t.\tGT\t${gts.join('\t')}`);
  });
  await writeFile(path, `${lines.join('\n')}\n`);
}

/** Write an analysis table (sample_idx, person_id, y, cov_*) as the study activities expect. */
export async function writeAnalysisFixture(
  path: string,
  sampleIds: string[],
  y: ArrayLike<number>,
  covariates: Record<string, ArrayLike<number>>,
  /** More traits, written as y_1, y_2, … (a study's extraTraits). */
  extraTraits: ArrayLike<number>[] = [],
): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const names = Object.keys(covariates);
    await conn.run(
      `CREATE TABLE a (sample_idx INTEGER, person_id VARCHAR, y DOUBLE${extraTraits.map((_, k) => `, y_${k + 1} DOUBLE`).join('')}${names.map((n) => `, "cov_${n}" DOUBLE`).join('')})`,
    );
    const app = await conn.createAppender('a');
    sampleIds.forEach((id, i) => {
      app.appendInteger(i);
      app.appendVarchar(id);
      app.appendDouble(y[i]);
      for (const t of extraTraits) app.appendDouble(t[i]);
      for (const n of names) app.appendDouble(covariates[n][i]);
      app.endRow();
    });
    app.closeSync();
    await conn.run(`COPY a TO '${path}' (FORMAT parquet)`);
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
