/**
 * HWE exact test (stats/hwe.ts) against PLINK 2's `--hardy`, computed now on a VCF
 * written here with a wide range of genotype counts (rare, common, excess and deficit of
 * heterozygotes, monomorphic).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { hweExactP } from '../../stats/hwe.js';
import { ingestInProcess, makeReleaseFolder, sh, tempDir, testConfig } from './helpers.js';

describe('hweExactP', () => {
  it('edge cases', () => {
    expect(hweExactP(0, 0, 0)).toBe(1);
    expect(hweExactP(100, 0, 0)).toBe(1);
    expect(hweExactP(0, 0, 57)).toBe(1);
    expect(() => hweExactP(-1, 0, 0)).toThrow(/≥ 0/);
    // Symmetric in the two homozygote classes.
    expect(hweExactP(30, 50, 20)).toBe(hweExactP(20, 50, 30));
  });

  it('agrees with plink2 --hardy', () => {
    const dir = tempDir('hwe');
    const n = 120;
    // Genotype counts per variant: [homRef, het, homAlt], n in total.
    const counts: Array<[number, number, number]> = [];
    for (let het = 0; het <= n; het += 7)
      for (const homAlt of [0, 1, 3, 10, 25, 50]) {
        const homRef = n - het - homAlt;
        if (homRef >= 0) counts.push([homRef, het, homAlt]);
      }
    const header = [
      '##fileformat=VCFv4.2',
      '##contig=<ID=1,length=100000000>',
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
        ...Array.from({ length: n }, (_, i) => `s${i}`),
      ].join('\t'),
    ];
    const body = counts.map(([r, h, a], v) => {
      const gts = [...Array(r).fill('0/0'), ...Array(h).fill('0/1'), ...Array(a).fill('1/1')];
      return ['1', String(1000 + v * 10), `v${v}`, 'A', 'G', '.', 'PASS', '.', 'GT', ...gts].join('\t');
    });
    const vcf = join(dir, 'hwe.vcf');
    writeFileSync(vcf, `${[...header, ...body].join('\n')}\n`);
    sh(`cd '${dir}' && plink2 --vcf hwe.vcf --hardy --allow-extra-chr --out ref >/dev/null 2>&1`);
    const lines = sh(`cat '${join(dir, 'ref.hardy')}'`)
      .trim()
      .split('\n');
    const cols = lines[0].replace(/^#/, '').split('\t');
    const at = (name: string) => cols.indexOf(name);
    expect(lines.length - 1).toBe(counts.length);
    let compared = 0;
    for (const line of lines.slice(1)) {
      const f = line.split('\t');
      const v = Number(f[at('ID')].slice(1));
      const [r, h, a] = counts[v];
      // plink2 counts A1 = ALT here or REF depending on its A1 choice; the test is symmetric.
      const p = Number(f[at('P')]);
      const ours = hweExactP(r, h, a);
      expect(Math.abs(ours - p)).toBeLessThanOrEqual(Math.max(1e-12, 1e-5 * p));
      compared++;
    }
    expect(compared).toBe(counts.length);
  });

  it('ingested hwe_p (with missing and haploid-free calls) agrees with plink2 --hardy', async () => {
    const samples = ['HG00096', 'HG00097', 'HG00099', 'HG00100', 'NA12878', 'NA12891', 'NA12892'];
    const header = [
      '##fileformat=VCFv4.2',
      '##contig=<ID=1,length=100000000>',
      '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
      ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...samples].join('\t'),
    ];
    const calls = ['0/0', '0|1', '1/1', './.', '1|0', '0/0', '0/0'];
    const body: string[] = [];
    for (let v = 0; v < 60; v++) {
      const gts = samples.map((_, i) => calls[(v * 3 + i * ((v % 5) + 1)) % calls.length]);
      body.push(['1', String(500 + v), `v${v}`, 'C', 'T', '.', 'PASS', '.', 'GT', ...gts].join('\t'));
    }
    const vcfText = `${[...header, ...body].join('\n')}\n`;
    const { dir, vcf } = makeReleaseFolder({ vcfText, releaseId: 'hwe' });
    sh(`cd '${dir}' && plink2 --vcf '${vcf}' --hardy --out ref >/dev/null 2>&1`);
    const lines = sh(`cat '${join(dir, 'ref.hardy')}'`)
      .trim()
      .split('\n');
    const cols = lines[0].replace(/^#/, '').split('\t');
    const ref = new Map(
      lines
        .slice(1)
        .map((l) => [l.split('\t')[cols.indexOf('ID')], Number(l.split('\t')[cols.indexOf('P')])]),
    );
    const config = testConfig(tempDir('data'));
    const res = await ingestInProcess(config, { manifestPath: join(dir, 'release.json') });
    const rows = await withCompute(
      config,
      async (conn) =>
        (
          await conn.runAndReadAll(`SELECT rsid, hwe_p FROM '${join(res.dataPath, 'variants.parquet')}'`)
        ).getRows() as Array<[string, number | null]>,
    );
    expect(rows.length).toBe(60);
    for (const [id, p] of rows) {
      const q = ref.get(id)!;
      expect(Math.abs((p ?? 1) - q)).toBeLessThanOrEqual(Math.max(1e-12, 1e-5 * q));
    }
  });
});
