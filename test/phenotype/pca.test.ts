/**
 * Genetic PCs against PLINK2: a simulated sample with population structure (5 populations of
 * different sizes and drift, Balding–Nichols-like frequencies) plus blocks of correlated
 * variants for the pruning to remove. Our PCs come from the genotype Parquet; PLINK2's
 * `--pca 4` runs on a VCF of the same calls restricted (`--extract`) to the variants we kept.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlString, withCompute } from '../../engine/duckdb.js';
import { packGt } from '../../engine/genotypes.js';
import { buildPcs } from '../../phenotype/pcs.js';
import { ldPrune, randomizedPca } from '../../stats/pca.js';
import type { EngineConfig } from '../../temporal.config.js';
import { testConfig } from './fixture.js';

const SIZES = [260, 220, 180, 140, 100];
const DRIFT = [0.04, 0.07, 0.1, 0.13, 0.16];
const N = SIZES.reduce((a, b) => a + b, 0);
const M = 3000;

/** mulberry32: a seeded uniform generator, independent of the engine's. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function simulate(): { gt: Uint8Array; chrom: string[]; pos: number[] } {
  const u = rng(7);
  const normal = () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
  const gt = new Uint8Array(N * M);
  const chrom: string[] = [];
  const pos: number[] = [];
  const pop = new Int32Array(N);
  let s = 0;
  SIZES.forEach((size, k) => {
    for (let i = 0; i < size; i++) pop[s++] = k;
  });
  for (let j = 0; j < M; j++) {
    chrom.push(j < M / 2 ? '1' : '2');
    pos.push(1000 + (j % (M / 2)) * 1000);
    if (j % 4 === 3) {
      // A near-copy of the previous variant (strong LD): pruning should drop most of these.
      for (let i = 0; i < N; i++) gt[j * N + i] = u() < 0.97 ? gt[(j - 1) * N + i] : Math.floor(u() * 3);
      continue;
    }
    const p = 0.1 + 0.8 * u();
    const q = DRIFT.map((F) => Math.min(0.98, Math.max(0.02, p + normal() * Math.sqrt(F * p * (1 - p)))));
    for (let i = 0; i < N; i++) {
      const f = q[pop[i]];
      gt[j * N + i] = (u() < f ? 1 : 0) + (u() < f ? 1 : 0);
    }
  }
  // A few missing calls.
  for (let k = 0; k < 200; k++) gt[Math.floor(u() * N * M)] = 255;
  return { gt, chrom, pos };
}

let config: EngineConfig;
let releaseDir: string;
let work: string;
const sim = simulate();

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

beforeAll(async () => {
  config = await testConfig();
  releaseDir = join(config.dataDir, 'releases', 'pca', '000000000000');
  work = join(config.dataDir, 'plink');
  await mkdir(join(releaseDir, 'genotypes'), { recursive: true });
  await mkdir(work, { recursive: true });
  // VCF for PLINK2.
  const lines = [
    '##fileformat=VCFv4.2',
    '##contig=<ID=1>',
    '##contig=<ID=2>',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    [
      '#CHROM',
      'POS',
      'ID',
      'REF',
      'ALT',
      'QUAL',
      'FILTER',
      'INFO',
      'FORMAT',
      ...Array.from({ length: N }, (_, i) => `S${i}`),
    ].join('\t'),
  ];
  const txt = ['0/0', '0/1', '1/1'];
  for (let j = 0; j < M; j++) {
    const calls: string[] = new Array(N);
    for (let i = 0; i < N; i++) {
      const v = sim.gt[j * N + i];
      calls[i] = v === 255 ? './.' : txt[v];
    }
    lines.push([sim.chrom[j], sim.pos[j], `v${j}`, 'A', 'G', '.', 'PASS', '.', 'GT', ...calls].join('\t'));
  }
  await writeFile(join(work, 'sim.vcf'), `${lines.join('\n')}\n`);
  // The same calls as a release: samples, variants, genotypes/<shard>.parquet (gt BLOB).
  const tsv = [];
  for (let j = 0; j < M; j++) {
    const calls = sim.gt.subarray(j * N, (j + 1) * N);
    let sum = 0;
    let called = 0;
    for (const v of calls) {
      if (v !== 255) {
        sum += v;
        called++;
      }
    }
    const hex = Buffer.from(packGt(calls)).toString('hex');
    tsv.push(`${j}\t${sim.chrom[j]}\t${sim.pos[j]}\t${sum / (2 * called)}\t${called / N}\t${hex}`);
  }
  await writeFile(join(work, 'gt.tsv'), `${tsv.join('\n')}\n`);
  await withCompute(config, async (conn) => {
    await conn.run(
      `CREATE TEMP TABLE g AS SELECT * FROM read_csv(${sqlString(join(work, 'gt.tsv'))}, delim = '\t', header = false,
         columns = {'variant_idx': 'BIGINT', 'chrom': 'VARCHAR', 'pos': 'BIGINT', 'af': 'DOUBLE',
                    'call_rate': 'DOUBLE', 'hex': 'VARCHAR'})`,
    );
    await conn.run(
      `COPY (SELECT i::INTEGER AS sample_idx, 'S' || i AS sample_id, 'person' || i AS person_id FROM range(${N}) t(i))
       TO ${sqlString(join(releaseDir, 'samples.parquet'))} (FORMAT parquet)`,
    );
    await conn.run(
      `COPY (SELECT 'pca' AS release_id, variant_idx, chrom, pos, NULL::VARCHAR AS rsid, 'A' AS ref, 'G' AS alt,
                    af, call_rate, 'shard0' AS shard FROM g)
       TO ${sqlString(join(releaseDir, 'variants.parquet'))} (FORMAT parquet)`,
    );
    await conn.run(
      `COPY (SELECT variant_idx, from_hex(hex) AS gt, NULL::BLOB AS ds FROM g)
       TO ${sqlString(join(releaseDir, 'genotypes', 'shard0.parquet'))} (FORMAT parquet)`,
    );
  });
}, 120_000);

afterAll(async () => {
  await rm(config.dataDir, { recursive: true, force: true });
});

describe('genetic PCs', () => {
  it('LD pruning drops near-copies of neighbouring variants and keeps independent ones', () => {
    const g = { nSamples: N, nVariants: M, gt: sim.gt };
    const kept = new Set(ldPrune(g, { window: 50, r2: 0.2, chrom: sim.chrom }));
    let copiesKept = 0;
    for (let j = 3; j < M; j += 4) if (kept.has(j) && kept.has(j - 1)) copiesKept++;
    expect(copiesKept).toBe(0);
    expect(kept.size).toBeGreaterThan(0.6 * M * 0.75);
  });

  it('randomised PCA is deterministic and its top eigenvalues are ordered', () => {
    const g = { nSamples: N, nVariants: 600, gt: sim.gt.subarray(0, N * 600) };
    const a = randomizedPca(g, { k: 4, seed: 1 });
    const b = randomizedPca(g, { k: 4, seed: 1 });
    expect(Array.from(a.scores)).toEqual(Array.from(b.scores));
    for (let c = 1; c < 4; c++) expect(a.eigenvalues[c]).toBeLessThanOrEqual(a.eigenvalues[c - 1]);
    expect(() => randomizedPca(g, { k: 0 })).toThrow(/k must be/);
  });

  it('top 4 PCs from the genotype Parquet match plink2 --pca on the same variants (|r| >= 0.99)', async () => {
    const res = await withCompute(config, (conn) => buildPcs(conn, releaseDir, { k: 4 }));
    expect(res.nPruned).toBeLessThan(res.nCandidates);
    const { ours, kept } = await withCompute(config, async (conn) => {
      const r = await conn.runAndReadAll(
        `SELECT * FROM read_parquet(${sqlString(res.pcs)}) ORDER BY sample_idx`,
      );
      const v = await conn.runAndReadAll(
        `SELECT variant_idx::INTEGER AS j FROM read_parquet(${sqlString(res.prunedVariants)})`,
      );
      return { ours: r.getRowObjectsJS(), kept: v.getRowObjectsJS().map((o) => `v${o.j}`) };
    });
    expect(ours).toHaveLength(N);
    expect(ours[5].person_id).toBe('person5');
    await writeFile(join(work, 'keep.txt'), `${kept.join('\n')}\n`);
    execFileSync(
      'plink2',
      [
        '--vcf',
        join(work, 'sim.vcf'),
        '--extract',
        join(work, 'keep.txt'),
        '--pca',
        '4',
        '--threads',
        '2',
        '--memory',
        '2000',
        '--out',
        join(work, 'plink'),
      ],
      { stdio: 'pipe' },
    );
    const rows = (await readFile(join(work, 'plink.eigenvec'), 'utf8')).trim().split('\n');
    const header = rows[0].split('\t');
    const body = rows.slice(1).map((l) => l.split('\t'));
    const idCol = header.findIndex((h) => h === 'IID' || h === '#IID');
    for (let c = 1; c <= 4; c++) {
      const col = header.indexOf(`PC${c}`);
      const theirs = body.map((b) => Number(b[col]));
      const byId = new Map(ours.map((o) => [o.sample_id as string, o[`PC${c}`] as number]));
      const mine = body.map((b) => byId.get(b[idCol]) as number);
      const r = pearson(mine, theirs);
      if (process.env.BIOBANK_TEST_VERBOSE) console.log(`PC${c} |r| vs plink2 = ${Math.abs(r).toFixed(6)}`);
      expect(Math.abs(r), `PC${c}`).toBeGreaterThanOrEqual(0.99);
    }
    const again = await withCompute(config, (conn) => buildPcs(conn, releaseDir, { k: 4 }));
    expect(again.reused).toBe(true);
  });

  it('two producers racing for the same PCA both succeed with one identical result, no temp left', async () => {
    const [a, b] = await Promise.all([
      withCompute(config, (conn) => buildPcs(conn, releaseDir, { k: 3 })),
      withCompute(config, (conn) => buildPcs(conn, releaseDir, { k: 3 })),
    ]);
    expect(a.dir).toBe(b.dir);
    expect(a.reused || b.reused).toBe(false); // both computed: a real race, not a reuse
    const info = JSON.parse(await readFile(join(a.dir, 'info.json'), 'utf8'));
    expect(info.nPruned).toBe(a.nPruned);
    expect(b.nPruned).toBe(a.nPruned);
    const leftovers = (await readdir(join(releaseDir, 'derived', 'pca'))).filter((f) => f.includes('.tmp-'));
    expect(leftovers).toEqual([]);
  });
});
