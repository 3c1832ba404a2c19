/**
 * VCF → Parquet against bcftools, on the hand-written fixture (multi-allelic sites,
 * missing and haploid calls, DS, GP, CSQ and ANN): per-variant AC, AN, AF, call rate and
 * dosage sums must agree with `bcftools norm -m- | bcftools +fill-tags` computed now.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { decodeDs, GT_MISSING, unpackGt } from '../../engine/genotypes.js';
import { listReleases } from '../../engine/release.js';
import { loadConfig } from '../../temporal.config.js';
import { FIXTURE_SAMPLES, ingestInProcess, makeReleaseFolder, sh, tempDir, testConfig } from './helpers.js';

interface Row {
  chrom: string;
  pos: number;
  ref: string;
  alt: string;
  ac: number;
  an: number;
  af: number | null;
  call_rate: number;
  n_called: number;
  ds_sum: number | null;
  gene: string | null;
  consequence: string | null;
  impact: string | null;
  variant_idx: number;
  shard: string;
  cadd_phred: number | null;
  revel: number | null;
  rsid: string | null;
  filter: string | null;
  qual: number | null;
}

async function readVariants(config: ReturnType<typeof testConfig>, dataPath: string): Promise<Row[]> {
  return withCompute(config, async (conn) => {
    const r = await conn.runAndReadAll(
      `SELECT * FROM read_parquet('${join(dataPath, 'variants.parquet')}') ORDER BY variant_idx`,
    );
    return r.getRowObjectsJS().map((o) => {
      const x = o as Record<string, unknown>;
      for (const k of ['pos', 'ac', 'an', 'n_called', 'variant_idx']) x[k] = Number(x[k]);
      return x as unknown as Row;
    });
  });
}

describe('VCF ingest agrees with bcftools', () => {
  it('per-variant AC, AN, AF, call rate and dosage sums match', async () => {
    for (const bgzip of [false, true]) {
      const data = tempDir('data');
      const config = testConfig(data);
      const { manifestPath, vcf } = makeReleaseFolder({ bgzip });
      const res = await ingestInProcess(config, { manifestPath });
      expect(res.ingested).toBe(true);
      expect(res.nSamples).toBe(7);
      const rows = await readVariants(config, res.dataPath);

      // Reference: split multi-allelic records and recompute the tags with bcftools.
      const ref = sh(
        `bcftools norm -m- '${vcf}' 2>/dev/null | bcftools +fill-tags -- -t AN,AC,F_MISSING | ` +
          `bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\t%AC\\t%AN\\t%F_MISSING\\t[%DS,]\\t[%GP;]\\n'`,
      )
        .trim()
        .split('\n')
        .map((l) => l.split('\t'));
      expect(rows.length).toBe(ref.length);
      expect(res.nVariants).toBe(ref.length);
      ref.forEach((f, i) => {
        const row = rows[i];
        expect([row.chrom, String(row.pos), row.ref, row.alt]).toEqual(f.slice(0, 4));
        expect(row.variant_idx).toBe(i);
        expect(row.ac).toBe(Number(f[4]));
        expect(row.an).toBe(Number(f[5]));
        expect(row.af).toBe(Number(f[4]) / Number(f[5]));
        // F_MISSING is printed rounded; the called count is exact.
        expect(row.n_called).toBe(Math.round((1 - Number(f[6])) * FIXTURE_SAMPLES.length));
        expect(row.call_rate).toBeCloseTo(1 - Number(f[6]), 5);
        const ds = f[7].split(',').filter((v) => v !== '');
        const gp = f[8].split(';').filter((v) => v !== '');
        if (ds.some((v) => v !== '.')) {
          const sum = ds.filter((v) => v !== '.').reduce((a, v) => a + Number(v), 0);
          expect(row.ds_sum).toBeCloseTo(sum, 5);
        } else if (gp.some((v) => v !== '.')) {
          // Independent formula: dosage = P(het) + 2·P(hom alt) for a diploid biallelic GP.
          const sum = gp.reduce((a, v) => {
            const p = v.split(',').map(Number);
            return a + p[1] + 2 * p[2];
          }, 0);
          expect(row.ds_sum).toBeCloseTo(sum, 5);
        } else expect(row.ds_sum).toBeNull();
      });

      // Annotations: most severe consequence per ALT allele.
      const at = (pos: number, alt: string) => rows.find((r) => r.pos === pos && r.alt === alt)!;
      expect([at(69511, 'G').gene, at(69511, 'G').consequence, at(69511, 'G').impact]).toEqual([
        'OR4F5',
        'missense_variant',
        'MODERATE',
      ]);
      expect(at(69897, 'T').consequence).toBe('frameshift_variant');
      expect(at(69897, 'TC').consequence).toBe('inframe_deletion');
      expect(at(752566, 'A').gene).toBe('FAM87B');
      // Numeric INFO scores: per ALT (Number=A) and per record (Number=1).
      expect([at(14464, 'T').cadd_phred, at(14464, 'G').cadd_phred]).toEqual([12.5, null]);
      expect(at(69511, 'G').revel).toBe(0.024);
      expect(at(13116, 'G').revel).toBeNull();
      // Fixed columns kept.
      expect([at(10177, 'AC').rsid, at(10177, 'AC').qual, at(10177, 'AC').filter]).toEqual([
        'rs367896724',
        100,
        'PASS',
      ]);
      expect([at(14464, 'G').rsid, at(14464, 'G').qual, at(14464, 'G').filter]).toEqual([
        null,
        null,
        'LowQual',
      ]);

      // Genotype BLOBs (2-bit packed): per-variant sums equal AC; missing calls stay distinct; DS decodes.
      await withCompute(config, async (conn) => {
        const r = await conn.runAndReadAll(
          `SELECT variant_idx, gt, ds FROM read_parquet('${join(res.dataPath, 'genotypes', '*.parquet')}') ORDER BY variant_idx`,
        );
        const g = r.getRowObjectsJS() as Array<{
          variant_idx: bigint;
          gt: Uint8Array;
          ds: Uint8Array | null;
        }>;
        expect(g.length).toBe(rows.length);
        for (const x of g) {
          const row = rows[Number(x.variant_idx)];
          expect(x.gt.length).toBe(2); // 7 samples, 2 bits each
          let ac = 0;
          let called = 0;
          for (const b of unpackGt(x.gt, 7))
            if (b !== GT_MISSING) {
              ac += b;
              called++;
            }
          expect(ac).toBe(row.ac);
          expect(called).toBe(row.n_called);
          if (row.ds_sum !== null) {
            const d = decodeDs(x.ds!);
            expect(d.length).toBe(7);
            expect(d.reduce((a, v) => (Number.isNaN(v) ? a : a + v), 0)).toBeCloseTo(row.ds_sum, 5);
          } else expect(x.ds).toBeNull();
        }
      });
      // Catalog
      const releases = await listReleases(config);
      expect(releases.map((r) => [r.release_id, r.n_variants, r.n_samples])).toEqual([
        ['fixture-1', ref.length, 7],
      ]);
    }
  });

  it('sharded and resumed ingest gives the same rows as one shard', async () => {
    // A multi-block BGZF file: the fixture body repeated at shifted positions.
    const text = sh(`cat '${join(import.meta.dirname, '..', 'fixtures', 'vcf', 'small.vcf')}'`);
    const header = text.split('\n').filter((l) => l.startsWith('#'));
    const body = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const lines: string[] = [];
    for (let rep = 0; rep < 400; rep++)
      for (const l of body) {
        const f = l.split('\t');
        f[1] = String(Number(f[1]) + rep * 1_000_000);
        lines.push(f.join('\t'));
      }
    lines.sort((a, b) => {
      const [ca, pa] = a.split('\t');
      const [cb, pb] = b.split('\t');
      return ca === cb ? Number(pa) - Number(pb) : ca < cb ? -1 : 1;
    });
    const vcfText = `${header.join('\n')}\n${lines.join('\n')}\n`;
    const one = makeReleaseFolder({ vcfText, bgzip: true, releaseId: 'one' });
    const many = makeReleaseFolder({ vcfText, bgzip: true, releaseId: 'many' });
    const config = testConfig(tempDir('data'));
    const a = await ingestInProcess(config, { manifestPath: one.manifestPath, shardsPerFile: 1 });
    const b = await ingestInProcess(config, {
      manifestPath: many.manifestPath,
      shardsPerFile: 5,
      minShardBytes: 0,
    });
    expect(b.nShards).toBeGreaterThan(2);
    expect(b.nVariants).toBe(a.nVariants);
    expect(a.nVariants).toBe(400 * 12);
    const ra = await readVariants(config, a.dataPath);
    const rb = await readVariants(config, b.dataPath);
    const key = (r: Row) =>
      [r.variant_idx, r.chrom, r.pos, r.ref, r.alt, r.ac, r.an, r.n_called, r.ds_sum].join(':');
    expect(rb.map(key)).toEqual(ra.map(key));
    // Re-adding the same release is a no-op.
    const again = await ingestInProcess(config, {
      manifestPath: many.manifestPath,
      shardsPerFile: 5,
      minShardBytes: 0,
    });
    expect(again.ingested).toBe(false);
    expect((await listReleases(config)).length).toBe(2);

    // Genotype files: LZ4 by default (the first shard's own parts and the rewritten ones), ZSTD
    // when configured, with the same genotypes either way.
    const codecs = async (cfg: typeof config, dataPath: string) =>
      withCompute(cfg, async (conn) =>
        (
          await conn.runAndReadAll(
            `SELECT DISTINCT compression FROM parquet_metadata('${join(dataPath, 'genotypes', '*.parquet')}')
             WHERE path_in_schema = 'gt'`,
          )
        )
          .getRows()
          .map((r) => String(r[0])),
      );
    expect(await codecs(config, b.dataPath)).toEqual(['LZ4_RAW']);
    const zstdConfig = loadConfig({
      BIOBANK_DATA_DIR: tempDir('data-zstd'),
      BIOBANK_DUCKDB_THREADS: '1',
      BIOBANK_GENOTYPE_COMPRESSION: 'zstd',
    });
    const z = await ingestInProcess(zstdConfig, {
      manifestPath: many.manifestPath,
      shardsPerFile: 5,
      minShardBytes: 0,
    });
    expect(await codecs(zstdConfig, z.dataPath)).toEqual(['ZSTD']);
    const gts = async (cfg: typeof config, dataPath: string) =>
      withCompute(cfg, async (conn) =>
        (
          await conn.runAndReadAll(
            `SELECT variant_idx, md5(gt::VARCHAR) FROM read_parquet('${join(dataPath, 'genotypes', '*.parquet')}') ORDER BY 1`,
          )
        )
          .getRows()
          .map((r) => `${r[0]}:${r[1]}`),
      );
    expect(await gts(zstdConfig, z.dataPath)).toEqual(await gts(config, b.dataPath));
  });
});
