import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../../engine/fsutil.js';
import { releaseManifestSchema } from '../../schemas/release.js';
import { generateBiobank, SynthError } from '../../synth/index.js';
import { REPO_ROOT, tempDir } from './helpers.js';

const SMALL = { size: 'custom' as const, persons: 400, variants: 2500 };

async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = await sha256File(join(dir, f));
  return out;
}

describe('generateBiobank determinism and output contract', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('determinism'));
  });
  afterAll(() => cleanup());

  it('gives identical bytes for the same seed and different bytes for another seed', async () => {
    const a = await generateBiobank({ ...SMALL, seed: 11, out: join(dir, 'a') });
    const b = await generateBiobank({ ...SMALL, seed: 11, out: join(dir, 'b') });
    const c = await generateBiobank({ ...SMALL, seed: 12, out: join(dir, 'c') });
    const ha = await hashes(a.out);
    expect(Object.keys(ha)).toEqual([
      'chr1-22.vcf.gz',
      'chr1-22.vcf.gz.tbi',
      'conditions.parquet',
      'labs.csv',
      'manifest.json',
      'persons.tsv',
      'pheno.txt',
      'truth.json',
    ]);
    expect(await hashes(b.out)).toEqual(ha);
    const hc = await hashes(c.out);
    for (const f of [
      'chr1-22.vcf.gz',
      'conditions.parquet',
      'labs.csv',
      'persons.tsv',
      'pheno.txt',
      'truth.json',
    ])
      expect(hc[f], f).not.toBe(ha[f]);
    expect(a.counts.persons).toBe(400);
    expect(a.counts.variants).toBe(2500);
    // Only the finished folders remain: no temp folders beside them.
    expect((await readdir(dir)).sort()).toEqual(['a', 'b', 'c']);
  });

  it('writes the manifest shape of the release contract', async () => {
    const manifest = JSON.parse(await readFile(join(dir, 'a', 'manifest.json'), 'utf8'));
    expect(manifest).toEqual({
      releaseId: 'synth-custom-s11',
      genotypes: ['chr1-22.vcf.gz'],
      persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id' },
      conditions: { path: 'conditions.parquet', format: 'parquet', idColumn: 'person_id' },
      measurements: { path: 'labs.csv', format: 'csv', idColumn: 'person_id' },
      tables: [
        { name: 'pheno', path: 'pheno.txt', format: 'whitespace', idColumn: 'IID', missing: ['NA', '-9'] },
      ],
    });
    // Nothing machine-specific: the same seed gives the same truth.json in any checkout.
    const truthText = await readFile(join(dir, 'a', 'truth.json'), 'utf8');
    expect(truthText).not.toContain(REPO_ROOT);
    expect(JSON.parse(truthText).phecodeMaps.v12).toBe('data/demo-phecode-map/v1.2');
    // The ingest contract (schemas/release.ts) accepts it as is.
    expect(releaseManifestSchema.parse(manifest).releaseId).toBe('synth-custom-s11');
    for (const f of ['persons.tsv', 'conditions.parquet', 'labs.csv', 'pheno.txt', ...manifest.genotypes])
      expect((await stat(join(dir, 'a', f))).size).toBeGreaterThan(0);
  });

  it('refuses an existing folder, reuses it only for the same options, and replaces it with overwrite', async () => {
    const out = join(dir, 'a');
    await expect(generateBiobank({ ...SMALL, seed: 11, out })).rejects.toThrow(SynthError);
    await expect(generateBiobank({ ...SMALL, seed: 11, out })).rejects.toThrow(/already exists/);
    const marker = join(out, 'marker');
    await writeFile(marker, 'x');
    const reused = await generateBiobank({ ...SMALL, seed: 11, out, ifExists: 'reuse' });
    expect(reused.reused).toBe(true);
    expect((await readdir(out)).includes('marker')).toBe(true);
    const redone = await generateBiobank({ ...SMALL, seed: 13, out, ifExists: 'reuse' });
    expect(redone.reused).toBe(false);
    expect((await readdir(out)).includes('marker')).toBe(false);
    const truth = JSON.parse(await readFile(join(out, 'truth.json'), 'utf8'));
    expect(truth.generator.seed).toBe(13);
    expect((await readdir(dir)).sort()).toEqual(['a', 'b', 'c']);
  });

  it('removes temp folders left by a killed run', async () => {
    const stale = join(dir, '.a.tmp-999999999-deadbeef');
    await mkdir(stale);
    await writeFile(join(stale, 'chr1-22.vcf.gz'), 'half-written');
    await generateBiobank({ ...SMALL, seed: 11, out: join(dir, 'a'), ifExists: 'overwrite' });
    expect((await readdir(dir)).sort()).toEqual(['a', 'b', 'c']);
  });

  it('splits the VCF by chromosome on request', async () => {
    const r = await generateBiobank({ ...SMALL, seed: 11, out: join(dir, 'split'), splitChromosomes: true });
    const manifest = JSON.parse(await readFile(r.manifestPath, 'utf8'));
    expect(manifest.genotypes).toEqual(Array.from({ length: 22 }, (_, i) => `chr${i + 1}.vcf.gz`));
    for (const f of manifest.genotypes) expect((await readdir(r.out)).includes(`${f}.tbi`)).toBe(true);
    expect(r.counts.genotypeFiles).toBe(22);
  });

  it('rejects bad options with a clear message and leaves nothing behind', async () => {
    await expect(generateBiobank({ size: 'custom', persons: 400, out: join(dir, 'bad1') })).rejects.toThrow(
      /needs both persons and variants/,
    );
    await expect(generateBiobank({ ...SMALL, persons: 10, out: join(dir, 'bad2') })).rejects.toThrow(
      /persons/,
    );
    await expect(generateBiobank({ ...SMALL, seed: -1, out: join(dir, 'bad3') })).rejects.toThrow(/seed/);
    await expect(
      generateBiobank({ ...SMALL, out: join(dir, 'bad4'), phecodeMaps: join(dir, 'no-such-maps') }),
    ).rejects.toThrow(/no phecode 1.2 map found/);
    await expect(
      generateBiobank({ ...SMALL, out: join(dir, 'bad5'), extractDate: '2999-01-01' }),
    ).rejects.toThrow(/future/);
    expect((await readdir(dir)).sort()).toEqual(['a', 'b', 'c', 'split']);
  });
});
