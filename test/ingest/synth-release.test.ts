/**
 * A release made by the synthetic generator (`biobank synth`) ingests with correct counts:
 * records, AC and AN per variant from bcftools on the same VCF, persons and condition rows
 * from DuckDB reading the generator's own files.
 */
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { ingestInProcess, sh, tempDir, testConfig } from './helpers.js';

const bin = resolve(import.meta.dirname, '../../bin/biobank.mjs');

describe('a generated release', () => {
  it('ingests with the counts bcftools and DuckDB find in its files', async () => {
    const out = join(tempDir('synth'), 'rel');
    execFileSync(
      'node',
      [
        bin,
        'synth',
        '--size',
        'custom',
        '--persons',
        '300',
        '--variants',
        '1500',
        '--seed',
        '3',
        '--out',
        out,
      ],
      {
        stdio: 'pipe',
      },
    );
    const manifest = JSON.parse(sh(`cat '${join(out, 'manifest.json')}'`)) as { genotypes: string[] };
    const config = testConfig(tempDir('data'));
    const res = await ingestInProcess(config, {
      manifestPath: join(out, 'manifest.json'),
      shardsPerFile: 2,
      minShardBytes: 0,
    });
    const vcfs = manifest.genotypes.map((g) => `'${join(out, g)}'`);
    const ref = sh(
      `for f in ${vcfs.join(' ')}; do bcftools norm -m- "$f" 2>/dev/null | bcftools +fill-tags -- -t AC,AN | bcftools query -f '%CHROM:%POS:%REF:%ALT\\t%AC\\t%AN\\n'; done`,
    )
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    expect(res.nVariants).toBe(ref.length);
    await withCompute(config, async (conn) => {
      const got = (
        await conn.runAndReadAll(
          `SELECT chrom || ':' || pos || ':' || ref || ':' || alt, ac::VARCHAR, an::VARCHAR FROM read_parquet('${join(res.dataPath, 'variants.parquet')}') ORDER BY variant_idx`,
        )
      ).getRowsJson();
      expect(got).toEqual(ref);
      const persons = (
        await conn.runAndReadAll(
          `SELECT count(*)::INTEGER FROM read_csv('${join(out, 'persons.tsv')}', delim='\t', header=true)`,
        )
      ).getRows()[0][0];
      expect(res.nPersons).toBe(persons);
      const conditions = (
        await conn.runAndReadAll(`SELECT count(*)::INTEGER FROM '${join(out, 'conditions.parquet')}'`)
      ).getRows()[0][0];
      expect(res.nConditions + res.nRejects).toBe(conditions);
      expect(res.nRejects).toBe(0);
    });
  });
});
