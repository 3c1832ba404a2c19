/**
 * Genetic PCs of a release, stored per release: read the genotype Parquet (`gt` BLOB, one
 * byte per sample), keep autosomal biallelic variants with MAF ≥ minMaf and call rate ≥
 * minCallRate, LD-prune them (`ldPrune`), and compute the top k PCs (`randomizedPca`).
 *
 * Output folder `<release>/derived/pca/k<k>-<key>/` (key = hash of the parameters):
 * `pcs.parquet` (sample_idx INTEGER, sample_id VARCHAR, person_id VARCHAR, PC1..PCk DOUBLE),
 * `pruned_variants.parquet` (variant_idx BIGINT, the variants used) and `info.json`
 * (eigenvalues, counts, parameters). An existing folder is reused.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBBlobValue, DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce, canonicalJson, exists, sha256Text } from '../engine/fsutil.js';
import { packedGtBytes, unpackGt } from '../engine/genotypes.js';
import { type GenotypeMatrix, ldPrune, randomizedPca, variantStats } from '../stats/pca.js';
import { releaseTables } from './release.js';

export interface PcaParams {
  k: number;
  minMaf?: number;
  minCallRate?: number;
  window?: number;
  r2?: number;
  seed?: number;
}

export interface PcaBuildResult {
  dir: string;
  pcs: string;
  prunedVariants: string;
  k: number;
  nSamples: number;
  nCandidates: number;
  nPruned: number;
  eigenvalues: number[];
  reused: boolean;
}

const AUTOSOME = '^(chr)?([1-9]|1[0-9]|2[0-2])$';

/** Named statement: candidate variants (autosomal, common, well called), in genome order. */
function candidatesSql(variants: string, genotypesGlob: string): string {
  return `
    SELECT g.variant_idx, v.chrom, g.gt
    FROM read_parquet(${sqlString(genotypesGlob)}) g
    JOIN read_parquet(${sqlString(variants)}) v USING (variant_idx)
    WHERE regexp_matches(v.chrom, '${AUTOSOME}') AND least(v.af, 1 - v.af) >= $1 AND v.call_rate >= $2
    ORDER BY g.variant_idx`;
}

/** Read candidate genotypes into one variant-major byte matrix. */
export async function readGenotypeMatrix(
  conn: DuckDBConnection,
  releaseDir: string,
  minMaf: number,
  minCallRate: number,
  onProgress?: (variantsRead: number) => void,
): Promise<{ g: GenotypeMatrix; variantIdx: Float64Array; chrom: string[] }> {
  const rel = releaseTables(releaseDir);
  const n = Number(
    (
      await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlString(rel.samples)})`)
    ).getRowObjectsJS()[0].n,
  );
  const sql = candidatesSql(rel.variants, join(rel.genotypesDir, '*.parquet'));
  const m = Number(
    (
      await conn.runAndReadAll(`SELECT count(*)::INTEGER AS m FROM (${sql})`, [minMaf, minCallRate])
    ).getRowObjectsJS()[0].m,
  );
  if (m === 0)
    throw new InputError(`no autosomal variant with MAF >= ${minMaf} for PCA`, { file: rel.variants });
  const gt = new Uint8Array(n * m);
  const unpacked = new Uint8Array(packedGtBytes(n) * 4);
  const variantIdx = new Float64Array(m);
  const chrom: string[] = new Array(m);
  const result = await conn.stream(sql, [minMaf, minCallRate]);
  let j = 0;
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const idx = chunk.getColumnValues(0);
    const chr = chunk.getColumnValues(1);
    const blobs = chunk.getColumnValues(2) as DuckDBBlobValue[];
    for (let r = 0; r < chunk.rowCount; r++, j++) {
      const bytes = blobs[r].bytes;
      if (bytes.length !== packedGtBytes(n)) {
        throw new InputError(`gt has ${bytes.length} bytes for ${n} samples (packed 4 per byte)`, {
          file: rel.genotypesDir,
          field: `gt (variant_idx ${idx[r]})`,
        });
      }
      gt.set(unpackGt(bytes, n, unpacked), j * n);
      variantIdx[j] = Number(idx[r]);
      chrom[j] = String(chr[r]);
    }
    onProgress?.(j);
  }
  return { g: { nSamples: n, nVariants: m, gt }, variantIdx, chrom };
}

/** Compute (or reuse) the release's PCs. */
export async function buildPcs(
  conn: DuckDBConnection,
  releaseDir: string,
  params: PcaParams,
  onProgress?: (phase: string, done: number) => void,
): Promise<PcaBuildResult> {
  const p = { minMaf: 0.05, minCallRate: 0.95, window: 50, r2: 0.2, seed: 12345, ...params };
  const rel = releaseTables(releaseDir);
  const key = sha256Text(canonicalJson({ ...p, release: rel.dir })).slice(0, 12);
  const dir = join(rel.derivedDir, 'pca', `k${p.k}-${key}`);
  const files = { pcs: join(dir, 'pcs.parquet'), prunedVariants: join(dir, 'pruned_variants.parquet') };
  if (await exists(join(dir, 'info.json'))) {
    return {
      ...(JSON.parse(await readFile(join(dir, 'info.json'), 'utf8')) as PcaBuildResult),
      ...files,
      dir,
      reused: true,
    };
  }
  const { g, variantIdx, chrom } = await readGenotypeMatrix(conn, releaseDir, p.minMaf, p.minCallRate, (d) =>
    onProgress?.('read', d),
  );
  // Re-check MAF from the calls themselves (the catalog's af may be from a different sample set).
  const { af } = variantStats(g);
  const keep: number[] = [];
  for (let j = 0; j < g.nVariants; j++) if (Math.min(af[j], 1 - af[j]) >= p.minMaf) keep.push(j);
  const common = subsetVariants(g, keep);
  onProgress?.('prune', 0);
  const pruned = ldPrune(common, { window: p.window, r2: p.r2, chrom: keep.map((j) => chrom[j]) });
  const used = subsetVariants(common, Array.from(pruned));
  if (used.nVariants < p.k)
    throw new InputError(`only ${used.nVariants} variants left after pruning; need >= k`, {});
  onProgress?.('pca', 0);
  const pca = randomizedPca(used, { k: p.k, seed: p.seed });
  await mkdir(join(dir, '..'), { recursive: true });
  return atomicProduce(dir, async (tmp) => {
    await mkdir(tmp, { recursive: true });
    const pcCols = Array.from({ length: p.k }, (_, c) => `PC${c + 1}`);
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE _pcs (sample_idx INTEGER, ${pcCols.map((c) => `${sqlIdent(c)} DOUBLE`).join(', ')})`,
    );
    const app = await conn.createAppender('_pcs', 'main', 'temp');
    for (let i = 0; i < g.nSamples; i++) {
      app.appendInteger(i);
      for (let c = 0; c < p.k; c++) app.appendDouble(pca.scores[i * p.k + c]);
      app.endRow();
    }
    app.closeSync();
    await conn.run(
      `COPY (SELECT s.sample_idx, s.sample_id, s.person_id, ${pcCols.map((c) => `x.${sqlIdent(c)}`).join(', ')}
             FROM _pcs x JOIN read_parquet(${sqlString(rel.samples)}) s USING (sample_idx) ORDER BY s.sample_idx)
       TO ${sqlString(join(tmp, 'pcs.parquet'))} (FORMAT parquet)`,
    );
    await conn.run('CREATE OR REPLACE TEMP TABLE _pruned (variant_idx BIGINT)');
    const va = await conn.createAppender('_pruned', 'main', 'temp');
    for (const j of pruned) {
      va.appendBigInt(BigInt(variantIdx[keep[j]]));
      va.endRow();
    }
    va.closeSync();
    await conn.run(`COPY _pruned TO ${sqlString(join(tmp, 'pruned_variants.parquet'))} (FORMAT parquet)`);
    await conn.run('DROP TABLE _pcs');
    await conn.run('DROP TABLE _pruned');
    const result: PcaBuildResult = {
      dir,
      ...files,
      k: p.k,
      nSamples: g.nSamples,
      nCandidates: keep.length,
      nPruned: pruned.length,
      eigenvalues: Array.from(pca.eigenvalues),
      reused: false,
    };
    await writeFile(join(tmp, 'info.json'), `${JSON.stringify({ ...result, params: p }, null, 2)}\n`);
    return result;
  });
}

function subsetVariants(g: GenotypeMatrix, keep: number[]): GenotypeMatrix {
  const n = g.nSamples;
  const gt = new Uint8Array(n * keep.length);
  keep.forEach((j, r) => {
    gt.set(g.gt.subarray(j * n, (j + 1) * n), r * n);
  });
  return { nSamples: n, nVariants: keep.length, gt };
}
