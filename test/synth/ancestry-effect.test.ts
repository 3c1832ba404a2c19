/**
 * The planted ancestry-specific LDL effect (truth.json `ancestrySpecific`), checked at the demo
 * size through the output files only: plink2 `--glm` on pheno.txt LDL within each ancestry group
 * (persons.tsv) finds the variant genome-wide significant in AFR with the planted β per allele,
 * and nothing in EUR or EAS; R metafor's Cochran's Q over the AFR and EUR estimates flags it
 * heterogeneous, while the three shared LDL causal variants are not.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateBiobank } from '../../synth/index.js';
import { hasTool, run, tempDir } from './helpers.js';
import { readPlinkTable } from './release-check.js';

const tools = ['plink2', 'Rscript'].every(hasTool);
const GROUPS = ['EUR', 'AFR', 'EAS'] as const;

interface Truth {
  extractDate: string;
  quantitative: { trait: string; causal: { id: string; chrom: string; pos: number; alt: string }[] }[];
  ancestrySpecific: {
    key: string;
    trait: string;
    ancestry: string;
    id: string;
    chrom: string;
    pos: number;
    alt: string;
    block: { chrom: string; start: number; end: number };
    betaPerAllele: Record<string, number>;
  }[];
}

interface Fit {
  beta: number;
  se: number;
  p: number;
  n: number;
}

/** Cochran's Q p-value of a fixed-effect meta-analysis of each set of (β, SE) pairs, by R metafor (one R run). */
function metaforQp(sets: Fit[][], dir: string): number[] {
  const csv = join(dir, 'q.csv');
  const rows = sets.flatMap((fits, k) => fits.map((f) => `${k},${f.beta},${f.se}`));
  writeFileSync(csv, `set,yi,sei\n${rows.join('\n')}\n`);
  const out = run('Rscript', [
    '-e',
    `suppressMessages(library(metafor)); d <- read.csv('${csv}'); ` +
      `for (k in sort(unique(d$set))) { s <- d[d$set == k, ]; ` +
      `cat(sprintf('%.17g\\n', rma(yi = s$yi, sei = s$sei, method = 'FE')$QEp)) }`,
  ]);
  return out.trim().split('\n').map(Number);
}

describe.skipIf(!tools)('planted ancestry-specific LDL effect (demo size)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let rel: string;
  let truth: Truth;
  /** plink2 fits per group, by variant id (ALT-allele β). */
  const fits = new Map<string, Map<string, Fit>>();

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('ancestry'));
    rel = join(dir, 'release');
    const r = await generateBiobank({
      size: 'demo',
      seed: Number(process.env.SYNTH_TEST_SEED ?? 1),
      out: rel,
    });
    truth = JSON.parse(readFileSync(r.truthPath, 'utf8'));
    const spec = truth.ancestrySpecific[0];
    // The planted block and every LDL causal variant, from the VCF, for each group separately.
    const ranges = [
      `${spec.block.chrom}\t${spec.block.start}\t${spec.block.end}\tanc`,
      ...truth.quantitative[0].causal.map((c) => `${c.chrom}\t${c.pos}\t${c.pos}\t${c.id}`),
    ];
    writeFileSync(join(dir, 'range.txt'), `${ranges.join('\n')}\n`);
    const persons = readFileSync(join(rel, 'persons.tsv'), 'utf8').trim().split('\n').slice(1);
    const extract = Date.parse(`${truth.extractDate}T00:00:00Z`);
    const covar = ['#FID\tIID\tage\tmale'];
    for (const g of GROUPS) {
      const ids = persons.map((l) => l.split('\t')).filter((f) => f[4] === g);
      writeFileSync(join(dir, `${g}.keep`), `${ids.map((f) => `${f[0]}\t${f[0]}`).join('\n')}\n`);
    }
    for (const f of persons.map((l) => l.split('\t'))) {
      const age = (extract - Date.parse(`${f[2]}T00:00:00Z`)) / (365.25 * 86_400_000);
      covar.push(`${f[0]}\t${f[0]}\t${age.toFixed(3)}\t${f[1] === 'M' ? 1 : 0}`);
    }
    writeFileSync(join(dir, 'covar.txt'), `${covar.join('\n')}\n`);
    const p = ['--threads', '1', '--memory', '1000'];
    run('plink2', [
      ...p,
      '--vcf',
      join(rel, 'chr1-22.vcf.gz'),
      '--double-id',
      '--extract',
      'range',
      join(dir, 'range.txt'),
      '--make-pgen',
      '--out',
      join(dir, 'g'),
    ]);
    for (const g of GROUPS) {
      run('plink2', [
        ...p,
        '--pfile',
        join(dir, 'g'),
        '--keep',
        join(dir, `${g}.keep`),
        '--pheno',
        join(rel, 'pheno.txt'),
        '--pheno-name',
        'LDL',
        '--covar',
        join(dir, 'covar.txt'),
        '--glm',
        'hide-covar',
        '--out',
        join(dir, g),
      ]);
      const rows = readPlinkTable(join(dir, `${g}.LDL.glm.linear`));
      fits.set(
        g,
        new Map(
          rows
            .filter((row) => row.BETA !== 'NA')
            .map((row) => {
              const sign = row.A1 === row.ALT ? 1 : -1;
              return [
                row.ID,
                {
                  beta: sign * Number(row.BETA),
                  se: Number(row.SE),
                  p: Number(row.P),
                  n: Number(row.OBS_CT),
                },
              ];
            }),
        ),
      );
    }
  }, 120_000);
  afterAll(() => cleanup?.());

  it('records one AFR-only LDL effect on a variant of the VCF, in its own block', () => {
    expect(truth.ancestrySpecific).toHaveLength(1);
    const spec = truth.ancestrySpecific[0];
    expect(spec.trait).toBe('LDL');
    expect(spec.ancestry).toBe('AFR');
    expect(spec.betaPerAllele.EUR).toBe(0);
    expect(spec.betaPerAllele.EAS).toBe(0);
    expect(Math.abs(spec.betaPerAllele.AFR)).toBeGreaterThan(5);
    expect(spec.pos).toBeGreaterThanOrEqual(spec.block.start);
    expect(spec.pos).toBeLessThanOrEqual(spec.block.end);
    // Not in or near an LDL causal block (its own locus).
    for (const c of truth.quantitative[0].causal)
      expect(c.chrom !== spec.chrom || Math.abs(c.pos - spec.pos) > 1_000_000, c.id).toBe(true);
    for (const g of GROUPS) expect(fits.get(g)!.has(spec.id), g).toBe(true);
  });

  it('plink2 finds it genome-wide significant in AFR with the planted β, and null in EUR and EAS', () => {
    const spec = truth.ancestrySpecific[0];
    const afr = fits.get('AFR')!.get(spec.id)!;
    const eur = fits.get('EUR')!.get(spec.id)!;
    const eas = fits.get('EAS')!.get(spec.id)!;
    console.log(
      `${spec.id}: AFR β ${afr.beta.toFixed(2)} (SE ${afr.se.toFixed(2)}, p ${afr.p.toExponential(2)}, n ${afr.n}), ` +
        `planted ${spec.betaPerAllele.AFR.toFixed(2)}; EUR β ${eur.beta.toFixed(2)} (p ${eur.p.toPrecision(3)}); ` +
        `EAS β ${eas.beta.toFixed(2)} (p ${eas.p.toPrecision(3)})`,
    );
    expect(afr.p).toBeLessThan(5e-8);
    expect(Math.abs(afr.beta - spec.betaPerAllele.AFR)).toBeLessThan(3 * afr.se);
    expect(eur.p).toBeGreaterThan(1e-3);
    expect(eas.p).toBeGreaterThan(1e-3);
    // EUR is large enough to have seen an effect of that size (power ≈ 1): the null is real.
    expect(Math.abs(spec.betaPerAllele.AFR) / eur.se).toBeGreaterThan(8);
  });

  it('R metafor flags it heterogeneous across AFR and EUR, while the shared LDL variants are not', () => {
    const spec = truth.ancestrySpecific[0];
    const m = 1 + truth.quantitative[0].causal.length;
    const pair = (id: string) => [fits.get('AFR')!.get(id)!, fits.get('EUR')!.get(id)!];
    const causal = truth.quantitative[0].causal;
    const [q, ...shared] = metaforQp([pair(spec.id), ...causal.map((c) => pair(c.id))], dir);
    console.log(
      `Cochran's Q p (AFR vs EUR): ${spec.id} ${q.toExponential(2)}; shared ${shared.map((x) => x.toPrecision(2))}`,
    );
    expect(q).toBeLessThan(0.05 / m);
    expect(shared).toHaveLength(causal.length);
    for (const [k, c] of causal.entries()) expect(shared[k], c.id).toBeGreaterThan(0.05 / m);
  });
});
