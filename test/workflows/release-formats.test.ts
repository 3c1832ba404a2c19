/**
 * Every genotype format a biobank ships, made from one VCF by Debian's plink2 and ingested
 * through the real ingest workflow: PLINK 1 `.bed`, PLINK 2 `.pgen` (plain and `.pvar.zst`),
 * BGEN 1.2 at 8 and 16 bits (zlib), BGEN 1.3 (zstd) and BGEN 1.1 (layout 1). Each release's
 * `variants` (alleles, AC, AN, AF, call rate, HWE) and genotype calls must equal the VCF
 * release's, and a GWAS on each must give the VCF release's rows. A release may mix formats
 * across files (one chromosome per format), never within a chromosome.
 */
import { execFileSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute, withEngineDb } from '../../engine/duckdb.js';
import { findRelease } from '../../engine/release.js';
import { runIdOf } from '../../engine/study.js';
import { startOrAttach } from '../../engine/temporal.js';
import { workflowTypeFor } from '../../schemas/study.js';
import type { StudyResult } from '../../schemas/study-io.js';
import { generateBiobank } from '../../synth/index.js';
import { makeTestEngine, type TestEngine } from '../helpers/engine.js';
import { ingestManifest, ldlSpec } from '../helpers/study-fixture.js';

let engine: TestEngine;
let worker: { stop(): Promise<void> };
let synthDir: string;
let baseManifest: Record<string, unknown>;
let vcfRel: string;

function plink2(args: string[]): void {
  execFileSync('plink2', [...args, '--threads', '1', '--silent'], { cwd: synthDir, stdio: 'pipe' });
}

beforeAll(async () => {
  engine = await makeTestEngine();
  worker = await engine.startWorker();
  const synth = await generateBiobank({
    size: 'custom',
    persons: 600,
    variants: 1200,
    seed: 13,
    releaseId: 'fmt-vcf',
    out: join(engine.dataDir, 'synth'),
    ifExists: 'reuse',
  });
  synthDir = join(engine.dataDir, 'synth');
  baseManifest = JSON.parse(await readFile(synth.manifestPath, 'utf8'));
  vcfRel = (baseManifest.genotypes as string[])[0];
  const vcf = ['--vcf', vcfRel];
  plink2([...vcf, '--make-bed', '--out', 'g']);
  plink2([...vcf, '--make-pgen', '--out', 'p']);
  plink2([...vcf, '--make-pgen', 'vzs', '--out', 'pz']);
  plink2([...vcf, '--export', 'bgen-1.2', 'bits=8', 'ref-first', '--out', 'b8']);
  plink2([...vcf, '--export', 'bgen-1.2', 'bits=16', 'ref-first', '--out', 'b16']);
  plink2([...vcf, '--export', 'bgen-1.3', 'ref-first', '--out', 'b13']);
  plink2([...vcf, '--export', 'bgen-1.1', 'ref-first', '--out', 'b11']);
  plink2([...vcf, '--export', 'bgen-1.2', 'bits=8', '--out', 'balt']);
  // Chromosomes 1–11 and 12–22 as two files of two formats.
  plink2([...vcf, '--chr', '1-11', '--make-bed', '--out', 'lo']);
  plink2([...vcf, '--chr', '12-22', '--make-pgen', '--out', 'hi']);
  await ingest('fmt-vcf', [vcfRel]);
}, 600_000);

afterAll(async () => {
  await worker?.stop();
  await engine?.cleanup();
});

async function ingest(releaseId: string, genotypes: unknown[]): Promise<string> {
  const m = structuredClone(baseManifest);
  m.releaseId = releaseId;
  m.genotypes = genotypes;
  const path = join(synthDir, `${releaseId}.json`);
  await writeFile(path, JSON.stringify(m, null, 2));
  return (await ingestManifest(engine.client, engine.taskQueue, path)).releaseId;
}

async function dataPath(releaseId: string): Promise<string> {
  const r = await findRelease(engine.config, releaseId);
  if (!r) throw new Error(`no release ${releaseId}`);
  return r.data_path;
}

const VARIANT_COLUMNS = 'chrom, pos, rsid, ref, alt, ac, an, n_called, round(af, 12) AS af, call_rate, hwe_p';

/** Rows of `variants` that differ between two releases (both directions), and the count. */
async function variantDiff(a: string, b: string): Promise<{ n: number; differ: number; sample: unknown[] }> {
  const [pa, pb] = [await dataPath(a), await dataPath(b)];
  return withCompute(engine.config, async (conn) => {
    const q = (p: string) =>
      `SELECT variant_idx, ${VARIANT_COLUMNS} FROM read_parquet('${join(p, 'variants.parquet')}')`;
    const diff = await conn.runAndReadAll(
      `(${q(pa)} EXCEPT ${q(pb)}) UNION ALL (${q(pb)} EXCEPT ${q(pa)}) ORDER BY variant_idx LIMIT 5`,
    );
    const n = await conn.runAndReadAll(`SELECT count(*)::INTEGER FROM (${q(pa)})`);
    return {
      n: n.getRows()[0][0] as number,
      differ: diff.getRows().length,
      sample: diff.getRowObjectsJson(),
    };
  });
}

/** Genotype rows whose packed calls differ, and the largest |Δ dosage| where both have `ds`. */
async function genotypeDiff(a: string, b: string): Promise<{ n: number; differ: number; withDs: number }> {
  const [pa, pb] = [await dataPath(a), await dataPath(b)];
  return withCompute(engine.config, async (conn) => {
    const g = (p: string) => `read_parquet('${join(p, 'genotypes', '*.parquet')}')`;
    const r = await conn.runAndReadAll(
      `SELECT count(*)::INTEGER, count(*) FILTER (WHERE x.gt IS DISTINCT FROM y.gt)::INTEGER,
              count(y.ds)::INTEGER
       FROM ${g(pa)} x FULL JOIN ${g(pb)} y USING (variant_idx)`,
    );
    const [n, differ, withDs] = r.getRows()[0] as number[];
    return { n, differ, withDs };
  });
}

async function gwasRows(releaseId: string, studyId: string) {
  const spec = ldlSpec(releaseId, { studyId });
  const workflowId = await runIdOf(engine.config, spec);
  const { handle } = await startOrAttach(engine.client, workflowTypeFor(spec), {
    workflowId,
    taskQueue: engine.taskQueue,
    args: [spec],
  });
  const result = (await handle.result()) as StudyResult;
  return withEngineDb(
    engine.config,
    async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT variant_id, n, af, beta, se, p, test, status FROM gwas_results WHERE run_id = $1 ORDER BY variant_id`,
          [result.runId],
        )
      ).getRowObjectsJson() as Array<Record<string, string | number | null>>,
    { readOnly: true },
  );
}

let vcfGwas: Array<Record<string, string | number | null>>;

/** Largest |Δ| of β, SE and −log10 p against the VCF release's GWAS; row sets must match. */
function gwasDelta(rows: Array<Record<string, string | number | null>>): number {
  expect(rows.map((r) => `${r.variant_id} ${r.status} ${r.n}`)).toEqual(
    vcfGwas.map((r) => `${r.variant_id} ${r.status} ${r.n}`),
  );
  let worst = 0;
  rows.forEach((r, i) => {
    const v = vcfGwas[i];
    for (const k of ['beta', 'se'] as const)
      if (r[k] !== null || v[k] !== null) worst = Math.max(worst, Math.abs(Number(r[k]) - Number(v[k])));
    worst = Math.max(worst, Math.abs(Math.log10(Number(r.p)) - Math.log10(Number(v.p))));
  });
  return worst;
}

describe('genotype formats made by plink2 from one VCF', () => {
  it('the VCF release GWAS (the reference)', async () => {
    vcfGwas = await gwasRows('fmt-vcf', 'fmt-vcf');
    expect(vcfGwas.length).toBeGreaterThan(300);
  }, 300_000);

  it.each([
    ['fmt-bed', 'g.bed'],
    ['fmt-pgen', 'p.pgen'],
    ['fmt-pgen-zst', 'pz.pgen'],
  ])(
    '%s: variants, calls and GWAS rows equal the VCF release',
    async (id, file) => {
      await ingest(id, [file]);
      const v = await variantDiff('fmt-vcf', id);
      expect(v.sample).toEqual([]);
      expect(v.n).toBeGreaterThan(1000);
      const g = await genotypeDiff('fmt-vcf', id);
      expect(g).toEqual({ n: v.n, differ: 0, withDs: 0 });
      // Same calls, same samples: the GWAS is the same computation.
      expect(gwasDelta(await gwasRows(id, id))).toBeLessThan(1e-12);
    },
    300_000,
  );

  it.each([
    ['fmt-bgen8', 'b8.bgen'],
    ['fmt-bgen16', 'b16.bgen'],
    ['fmt-bgen13-zstd', 'b13.bgen'],
    ['fmt-bgen11', 'b11.bgen'],
  ])(
    '%s: alleles and calls equal the VCF release, hard-call dosages are not stored; GWAS rows equal',
    async (id, file) => {
      await ingest(id, [file]);
      const v = await variantDiff('fmt-vcf', id);
      expect(v.sample).toEqual([]);
      const g = await genotypeDiff('fmt-vcf', id);
      // Every call of the VCF is a hard call, so its probabilities (1, 0, 0) are exact at any bit
      // depth: the hard calls match, and every dosage equals its call, so none is stored (`gt`
      // holds them, as a .pgen omits such dosages).
      expect(g).toEqual({ n: v.n, differ: 0, withDs: 0 });
      // Same calls, same samples: the GWAS is the same computation.
      expect(gwasDelta(await gwasRows(id, id))).toBeLessThan(1e-12);
    },
    300_000,
  );

  it('BGEN without ref-first: plink2 writes ALT first, the engine takes the first allele as REF and says so', async () => {
    await ingest('fmt-bgen-alt-first', ['balt.bgen']);
    const [pa, pb] = [await dataPath('fmt-vcf'), await dataPath('fmt-bgen-alt-first')];
    const r = await withCompute(engine.config, async (conn) =>
      (
        await conn.runAndReadAll(
          `SELECT count(*)::INTEGER AS n,
                  count(*) FILTER (WHERE x.ref = y.alt AND x.alt = y.ref AND x.ac = y.an - y.ac)::INTEGER AS swapped
           FROM read_parquet('${join(pa, 'variants.parquet')}') x JOIN read_parquet('${join(pb, 'variants.parquet')}') y USING (variant_idx)`,
        )
      ).getRowObjectsJson(),
    );
    expect(r[0].n).toBeGreaterThan(1000);
    expect(r[0].swapped).toBe(r[0].n);
  }, 300_000);

  it('a release of a .bed (chr 1–11) and a .pgen (chr 12–22) equals the VCF release', async () => {
    await ingest('fmt-mixed', ['lo.bed', 'hi.pgen']);
    const v = await variantDiff('fmt-vcf', 'fmt-mixed');
    expect(v.sample).toEqual([]);
    expect((await genotypeDiff('fmt-vcf', 'fmt-mixed')).differ).toBe(0);
  }, 300_000);

  it('one chromosome in two formats is refused, naming both files, and nothing is registered', async () => {
    const err = await ingest('fmt-clash', [vcfRel, 'g.bed']).catch((e) => e);
    const messages: string[] = [];
    for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) messages.push((e as Error).message);
    expect(messages.join(' | ')).toMatch(/chromosome \w+ is in a vcf file .* and a bed file \(g\.bed\)/);
    expect(await findRelease(engine.config, 'fmt-clash')).toBeNull();
    await rm(join(synthDir, 'fmt-clash.json'));
  }, 300_000);
});
