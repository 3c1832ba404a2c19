/**
 * Opt-in families (synth/families.ts) and the polygenic trait, checked through the output files
 * with plink2 only: KING-robust kinship (`--make-king-table`) of the siblings the truth lists
 * against the sibling expectation 0.25 (unrelated pairs ≈ 0), and the inflation a kinship-blind
 * linear regression (`--glm` on PCs) shows for null variants of the heritable trait HEIGHT
 * (expected E[χ²] ≈ 1 + share·(size − 1)·h²/4 = 1.3), which vanishes when only one sibling per
 * family is kept. Without `families` nothing of this is written.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliError } from '../../cli/command.js';
import { synthCommand } from '../../cli/commands/synth.js';
import { generateBiobank } from '../../synth/index.js';
import { hasTool, run, tempDir } from './helpers.js';
import { lambdaGc, readPlinkTable } from './release-check.js';

interface Span {
  chrom: string;
  start: number;
  end: number;
  key?: string;
}
interface Truth {
  generator: { families?: { share: number; size: number } };
  families?: { share: number; size: number; nFamilies: number; members: string[][] };
  polygenic?: {
    trait: string;
    h2: number;
    nPolygenic: number;
    causal: { id: string; chrom: string; r2: number }[];
    causalBlocks: Span[];
  };
}

const SHARE = 0.8;
const SIZE = 4;
const PERSONS = 600;

describe.skipIf(!hasTool('plink2'))('synth families (plink2 checks)', () => {
  let dir: string;
  let cleanup: (() => Promise<void>) | undefined;
  let rel: string;
  let truth: Truth;
  let work: string;
  const p = ['--threads', '1', '--memory', '1500'];

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('families'));
    rel = join(dir, 'rel');
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const args = ['--out', rel, '--size', 'custom', '--persons', String(PERSONS), '--variants', '20000'];
    const code = await synthCommand.run([
      ...args,
      '--seed',
      '4',
      '--families',
      String(SHARE),
      '--family-size',
      String(SIZE),
    ]);
    vi.restoreAllMocks();
    expect(code).toBe(0);
    truth = JSON.parse(readFileSync(join(rel, 'truth.json'), 'utf8'));
    work = join(dir, 'plink');
    run('mkdir', ['-p', work]);
    const vcf = join(rel, 'chr1-22.vcf.gz');
    run('plink2', [
      ...p,
      '--vcf',
      vcf,
      '--double-id',
      '--maf',
      '0.01',
      '--make-pgen',
      '--out',
      join(work, 'g'),
    ]);
  }, 120_000);
  afterAll(() => cleanup?.());

  it('lays out contiguous sibships of one ancestry, as the options ask', () => {
    const fam = truth.families!;
    expect(truth.generator.families).toEqual({ share: SHARE, size: SIZE });
    expect(fam.nFamilies).toBe(Math.round((SHARE * PERSONS) / SIZE));
    const persons = readFileSync(join(rel, 'persons.tsv'), 'utf8').trim().split('\n').slice(1);
    const row = new Map(persons.map((l, i) => [l.split('\t')[0], { i, f: l.split('\t') }]));
    const seen = new Set<string>();
    for (const m of fam.members) {
      expect(m).toHaveLength(SIZE);
      const idx = m.map((id) => row.get(id)!.i);
      expect(idx).toEqual(idx.map((_, k) => idx[0] + k));
      expect(new Set(m.map((id) => row.get(id)!.f[4])).size).toBe(1);
      const years = m.map((id) => Number(row.get(id)!.f[3]));
      expect(Math.max(...years) - Math.min(...years)).toBeLessThanOrEqual(13);
      for (const id of m) seen.add(id);
    }
    expect(seen.size).toBe(fam.nFamilies * SIZE);
  });

  it('gives siblings KING kinship ≈ 0.25 and unrelated pairs ≈ 0 (plink2 --make-king-table)', () => {
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--maf',
      '0.05',
      '--make-king-table',
      '--out',
      join(work, 'king'),
    ]);
    const famOf = new Map<string, number>();
    truth.families!.members.forEach((m, k) => {
      for (const id of m) famOf.set(id, k);
    });
    const ancestry = new Map(
      readFileSync(join(rel, 'persons.tsv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => [l.split('\t')[0], l.split('\t')[4]]),
    );
    const lines = readFileSync(join(work, 'king.kin0'), 'utf8').trim().split('\n');
    const header = lines[0].replace(/^#/, '').split('\t');
    const [c1, c2, ck] = ['IID1', 'IID2', 'KINSHIP'].map((h) => header.indexOf(h));
    const sibs: number[] = [];
    let nUnrelated = 0;
    let sumUnrelated = 0;
    let maxUnrelated = Number.NEGATIVE_INFINITY;
    for (let l = 1; l < lines.length; l++) {
      const f = lines[l].split('\t');
      const k = Number(f[ck]);
      const a = famOf.get(f[c1]);
      if (a !== undefined && a === famOf.get(f[c2])) sibs.push(k);
      else if (ancestry.get(f[c1]) === ancestry.get(f[c2])) {
        nUnrelated++;
        sumUnrelated += k;
        maxUnrelated = Math.max(maxUnrelated, k);
      }
    }
    expect(sibs).toHaveLength(truth.families!.nFamilies * ((SIZE * (SIZE - 1)) / 2));
    const meanSibs = sibs.reduce((s, v) => s + v, 0) / sibs.length;
    expect(meanSibs).toBeGreaterThan(0.23);
    expect(meanSibs).toBeLessThan(0.27);
    expect(sibs.filter((k) => k >= 0.18 && k <= 0.32).length / sibs.length).toBeGreaterThan(0.95);
    expect(nUnrelated).toBeGreaterThan(50_000);
    expect(Math.abs(sumUnrelated / nUnrelated)).toBeLessThan(0.03);
    // No unrelated pair reaches KING's second-degree bound (0.177).
    expect(maxUnrelated).toBeLessThan(0.177);
  });

  it('inflates a kinship-blind GWAS of the polygenic trait on null variants, not with one sibling per family (plink2 --glm)', () => {
    const poly = truth.polygenic!;
    expect(poly.trait).toBe('HEIGHT');
    expect(poly.nPolygenic).toBeGreaterThan(200);
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--maf',
      '0.05',
      '--indep-pairwise',
      '50',
      '10',
      '0.2',
      '--out',
      join(work, 'prune'),
    ]);
    run('plink2', [
      ...p,
      '--pfile',
      join(work, 'g'),
      '--extract',
      join(work, 'prune.prune.in'),
      '--pca',
      '4',
      '--out',
      join(work, 'pc'),
    ]);
    // Everyone, then the unrelated persons plus the first sibling of each family.
    const others = new Set(truth.families!.members.flatMap((m) => m.slice(1)));
    const ids = readFileSync(join(rel, 'persons.tsv'), 'utf8').trim().split('\n').slice(1);
    const keep = ids.map((l) => l.split('\t')[0]).filter((id) => !others.has(id));
    writeFileSync(join(work, 'one.txt'), keep.map((id) => `${id}\t${id}\n`).join(''));
    const glm = (out: string, extra: string[]) =>
      run('plink2', [
        ...p,
        '--pfile',
        join(work, 'g'),
        ...extra,
        '--pheno',
        join(rel, 'pheno.txt'),
        '--pheno-name',
        'HEIGHT',
        '--covar',
        join(work, 'pc.eigenvec'),
        '--covar-variance-standardize',
        '--glm',
        'hide-covar',
        '--out',
        join(work, out),
      ]);
    glm('all', []);
    glm('one', ['--keep', join(work, 'one.txt')]);
    // Null for HEIGHT: outside its causal blocks (blocks are independent draws, so no LD crosses them).
    const inCausal = (chrom: string, pos: number) =>
      poly.causalBlocks.some((b) => b.chrom === chrom && b.start <= pos && pos <= b.end);
    const nullChi2 = (out: string) =>
      readPlinkTable(join(work, `${out}.HEIGHT.glm.linear`))
        .filter((r) => r.ERRCODE === '.' && !inCausal(r.CHROM, Number(r.POS)))
        .map((r) => Number(r.T_STAT) ** 2);
    const all = nullChi2('all');
    const one = nullChi2('one');
    expect(all.length).toBeGreaterThan(3000);
    expect(one.length).toBeGreaterThan(3000);
    // Expected ≈ 1 + 0.8·3·0.5/4 = 1.3 with siblings, 1 without.
    expect(lambdaGc(all)).toBeGreaterThan(1.15);
    expect(lambdaGc(all)).toBeLessThan(1.6);
    expect(lambdaGc(one)).toBeGreaterThan(0.9);
    expect(lambdaGc(one)).toBeLessThan(1.12);
  });

  it('writes neither families nor the polygenic trait by default, and rejects bad options', async () => {
    const plain = await generateBiobank({
      out: join(dir, 'plain'),
      size: 'custom',
      persons: 200,
      variants: 1200,
    });
    const t = JSON.parse(readFileSync(plain.truthPath, 'utf8'));
    expect(t.families).toBeUndefined();
    expect(t.polygenic).toBeUndefined();
    expect(t.generator.families).toBeUndefined();
    expect(readFileSync(join(plain.out, 'pheno.txt'), 'utf8').split('\n')[0]).toBe(
      'FID IID LDL HbA1c BMI batch',
    );
    const fail = (argv: string[]) => synthCommand.run(['--out', join(dir, 'x'), ...argv]).catch((e) => e);
    expect(await fail(['--families', '1.5'])).toBeInstanceOf(CliError);
    expect(await fail(['--family-size', '3'])).toBeInstanceOf(CliError);
    expect(await fail(['--families', '0.5', '--family-size', '1'])).toBeInstanceOf(CliError);
  });
});
