/**
 * LD clumping of a real release (synthetic biobank → VCF with missing calls and a chrX block with
 * haploid males → ingest in process) against `plink1.9 --clump` on the same VCF, the same
 * association file (p-values from `plink2 --glm` on a planted trait) and the same analysis
 * sample (`--keep`): the same index variants in the same order, the same members (SP2) and the
 * same TOTAL/NSIG/S05…S0001 counts, at All of Us's thresholds (5e-8/5e-8/0.1/500 kb) and at
 * PLINK's defaults (1e-4/0.01/0.5/250 kb); and every member's r² equals PLINK's RSQ
 * (`--clump-verbose`, printed to 3 digits), which the correlation of allele counts does not.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { type ClumpRow, type LdGenotypes, ldClumpRelease, loadLdGenotypes } from '../../gwas/ld.js';
import { AOU_CLUMP, type LdClumpOptions, PLINK_CLUMP } from '../../stats/ld-clump.js';
import { generateBiobank } from '../../synth/index.js';
import type { EngineConfig } from '../../temporal.config.js';
import { rng } from '../helpers/rng.js';
import { ingestInProcess, testConfig } from '../ingest/helpers.js';

/** Share of calls set missing. */
const MISSING = 0.06;
/** chrX block: the records around the strongest planted variant, copied to X:10 Mb. */
const X_BLOCK = 60;
const X_OFFSET = 10_000_000;
/** Thresholds that list many members (for the r² comparison). */
const LOOSE = { p1: 1e-4, p2: 1, r2: 0.05, kb: 250 };

let dir: string;
let config: EngineConfig;
let releaseDir: string;
/** Association rows (ID → row), as in assoc.txt. */
let assoc: Map<string, ClumpRow>;
let keepIdx: number[];

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 30, stdio: 'pipe' });
}

/** The synthetic VCF's header, sample IDs and records, GT only, MISSING of the calls set missing. */
function readVcf(src: string) {
  const r = rng(11);
  const lines = run('bgzip', ['-dc', src]).trimEnd().split('\n');
  const header = lines.filter((l) => l.startsWith('#'));
  const samples = header[header.length - 1].split('\t').slice(9);
  const body = lines.filter((l) => !l.startsWith('#')).map((l) => l.split('\t'));
  for (const f of body) {
    f[8] = 'GT';
    for (let k = 9; k < f.length; k++) f[k] = r.next() < MISSING ? './.' : f[k].split(':')[0];
  }
  return { header, samples, body };
}

/** chrX copies of X_BLOCK records from `from` (one chromosome): females diploid, males haploid. */
function xBlock(body: string[][], from: number, samples: string[], males: Set<string>): string[][] {
  const block = body.slice(from, from + X_BLOCK);
  if (block.some((f) => f[0] !== block[0][0])) throw new Error('the chrX source block spans two chromosomes');
  return block.map((f) => {
    const pos = X_OFFSET + Number(f[1]) - Number(block[0][1]);
    const out = ['X', String(pos), `X:${pos}:${f[3]}:${f[4]}`, ...f.slice(3, 9)];
    samples.forEach((s, k) => {
      const gt = f[9 + k];
      out.push(males.has(s) ? gt[0] : gt);
    });
    return out;
  });
}

/** Allele count of a VCF GT (NaN missing). */
function dosage(gt: string): number {
  if (gt[0] === '.') return Number.NaN;
  return gt.length === 1 ? Number(gt) : Number(gt[0]) + Number(gt[2]);
}

interface PlinkClump {
  snp: string;
  counts: number[];
  sp2: string[];
}

/** `plink1.9 --clump` (non-verbose) output rows. */
function parseClumped(text: string): PlinkClump[] {
  return text
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 12)
    .map((f) => ({
      snp: f[2],
      counts: f.slice(5, 11).map(Number),
      sp2: f[11] === 'NONE' ? [] : f[11].split(',').map((s) => s.replace(/\(\d+\)$/, '')),
    }));
}

/** (index, member, RSQ) triples of `--clump-verbose` output. */
function parseVerbose(text: string): [string, string, number][] {
  const out: [string, string, number][] = [];
  let index = '';
  for (const l of text.split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f[0] === '(INDEX)') index = f[1];
    else if (index && f.length === 6 && f[0].includes(':') && /^-?[\d.]+$/.test(f[1]))
      out.push([index, f[0], Number(f[2])]);
  }
  return out;
}

function plinkClump(options: Required<LdClumpOptions>, verbose: boolean): string {
  const out = `clump-${options.p1}-${options.kb}${verbose ? '-v' : ''}`;
  run('plink1.9', [
    '--vcf',
    'synth/m.vcf.gz',
    '--update-sex',
    'sex.txt',
    '--keep',
    'keep.txt',
    '--clump',
    'assoc.txt',
    '--clump-p1',
    String(options.p1),
    '--clump-p2',
    String(options.p2),
    '--clump-r2',
    String(options.r2),
    '--clump-kb',
    String(options.kb),
    ...(verbose ? ['--clump-verbose'] : []),
    '--threads',
    '1',
    '--out',
    out,
  ]);
  return readFileSync(join(dir, `${out}.clumped`), 'utf8');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'biobank-ldclump-'));
  const synth = await generateBiobank({
    size: 'custom',
    persons: 1000,
    variants: 3000,
    seed: 5,
    releaseId: 'ldclump',
    out: join(dir, 'synth'),
  });
  const persons = readFileSync(join(dir, 'synth', 'persons.tsv'), 'utf8')
    .trimEnd()
    .split('\n')
    .slice(1);
  const sexOf = new Map(persons.map((l) => l.split('\t')).map((f) => [f[0], f[1]]));
  const males = new Set([...sexOf].filter(([, s]) => s === 'M').map(([id]) => id));

  // A trait with planted effects at every 150th record with 0.15 ≤ AF ≤ 0.85; the chrX block copies
  // the records around the strongest, so chrX has significant variants too.
  const r = rng(5);
  const vcf = readVcf(join(dir, 'synth', 'chr1-22.vcf.gz'));
  const n = vcf.samples.length;
  const y = Float64Array.from({ length: n }, () => r.normal());
  const causal: number[] = [];
  let strongest = -1;
  let strongestBeta = 0;
  for (let k = 25; k < vcf.body.length; k += 150) {
    const g = vcf.body[k].slice(9).map(dosage);
    const called = g.filter((v) => !Number.isNaN(v));
    const af = called.reduce((a, b) => a + b, 0) / (2 * called.length);
    if (af < 0.15 || af > 0.85) continue;
    causal.push(k);
    // effect per standardised genotype
    const beta = 0.3 + 0.7 * r.next();
    const sd = Math.sqrt(2 * af * (1 - af));
    g.forEach((v, i) => {
      if (!Number.isNaN(v)) y[i] += (beta * (v - 2 * af)) / sd;
    });
    if (beta > strongestBeta) [strongest, strongestBeta] = [k, beta];
  }
  const xFrom = Math.max(0, strongest - X_BLOCK / 2);
  const x = xBlock(vcf.body, xFrom, vcf.samples, males);
  const header = [...vcf.header];
  header.splice(
    header.findIndex((l) => l.startsWith('##contig')),
    0,
    '##contig=<ID=X>',
  );
  const records = [...vcf.body, ...x].map((f) => f.join('\t'));
  writeFileSync(join(dir, 'synth', 'm.vcf'), `${[...header, ...records].join('\n')}\n`);
  // BGZF at level 1: the ingest reads BGZF blocks in parallel (a plain VCF takes ~4× as long)
  run('bgzip', ['-l', '1', '-f', 'synth/m.vcf']);
  // The analysis sample: nine in ten persons.
  keepIdx = vcf.samples.map((_, i) => i).filter((i) => i % 10 !== 3);
  // PLINK 1.9 reads a VCF sample as FID = IID; PLINK 2 as IID only.
  writeFileSync(join(dir, 'keep.txt'), keepIdx.map((i) => `${vcf.samples[i]} ${vcf.samples[i]}\n`).join(''));
  writeFileSync(join(dir, 'keep2.txt'), `#IID\n${keepIdx.map((i) => `${vcf.samples[i]}\n`).join('')}`);
  writeFileSync(join(dir, 'sex.txt'), vcf.samples.map((s) => `${s} ${s} ${males.has(s) ? 1 : 2}\n`).join(''));
  writeFileSync(join(dir, 'y.txt'), `#IID Y\n${vcf.samples.map((s, i) => `${s} ${y[i]}\n`).join('')}`);
  run('plink2', [
    '--vcf',
    'synth/m.vcf.gz',
    '--chr',
    '1-22',
    '--keep',
    'keep2.txt',
    '--pheno',
    'y.txt',
    '--glm',
    'allow-no-covars',
    '--threads',
    '1',
    '--out',
    'g',
  ]);
  // assoc.txt: SNP P, autosomes from --glm (NA kept: both sides skip it), chrX with the p-values
  // of the records it copies.
  const glm = readFileSync(join(dir, 'g.Y.glm.linear'), 'utf8').trimEnd().split('\n').slice(1);
  const pOf = new Map(glm.map((l) => l.split('\t')).map((f) => [f[2], f[11]]));
  const lines = ['SNP P'];
  for (const f of vcf.body) lines.push(`${f[2]} ${pOf.get(f[2])}`);
  x.forEach((f, k) => {
    lines.push(`${f[2]} ${pOf.get(vcf.body[xFrom + k][2])}`);
  });
  writeFileSync(join(dir, 'assoc.txt'), `${lines.join('\n')}\n`);

  // The release.
  const manifest = JSON.parse(readFileSync(synth.manifestPath, 'utf8'));
  manifest.genotypes = ['m.vcf.gz'];
  writeFileSync(join(dir, 'synth', 'm.json'), JSON.stringify(manifest));
  config = testConfig(join(dir, 'data'));
  const res = await ingestInProcess(config, { manifestPath: join(dir, 'synth', 'm.json') });
  releaseDir = res.dataPath;
  const ids = await withCompute(config, async (conn) =>
    (
      await conn.runAndReadAll(
        `SELECT variant_idx::INTEGER, chrom, pos::INTEGER, chrom || ':' || pos || ':' || ref || ':' || alt
         FROM read_parquet('${join(releaseDir, 'variants.parquet')}')`,
      )
    ).getRows(),
  );
  const pText = new Map(lines.slice(1).map((l) => l.split(' ') as [string, string]));
  assoc = new Map();
  for (const [variantIdx, chrom, pos, id] of ids) {
    const p = pText.get(String(id));
    if (p === undefined) throw new Error(`variant ${id} is not in assoc.txt`);
    assoc.set(String(id), {
      variantIdx: Number(variantIdx),
      chrom: String(chrom),
      pos: Number(pos),
      p: p === 'NA' ? Number.NaN : Number(p),
    });
  }
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('LD clumping agrees with plink1.9 --clump', () => {
  const idOf = () => new Map([...assoc].map(([id, row]) => [row.variantIdx, id]));

  for (const [name, options] of [
    ['All of Us (5e-8, 0.1, 500 kb)', AOU_CLUMP],
    ['PLINK defaults (1e-4, 0.01, 0.5, 250 kb)', PLINK_CLUMP],
  ] as const) {
    it(`same index variants, members and counts: ${name}`, async () => {
      const plink = parseClumped(plinkClump(options, false));
      const ours = await ldClumpRelease(
        config,
        releaseDir,
        { sampleIdx: keepIdx },
        [...assoc.values()],
        options,
      );
      const id = idOf();
      const mine = ours.clumps.map((c) => ({
        snp: id.get(c.index),
        counts: [c.total, c.nsig, c.s05, c.s01, c.s001, c.s0001],
        sp2: c.members.map((m) => id.get(m.variantIdx)),
      }));
      expect(plink.length).toBeGreaterThan(5);
      expect(plink.some((c) => c.snp.startsWith('X:'))).toBe(true);
      expect(plink.some((c) => c.sp2.length > 0)).toBe(true);
      expect(mine).toEqual(plink);
      // only the windows of index candidates were read
      expect(ours.nCandidates).toBeLessThan(assoc.size);
    });
  }

  it("every member's r² is PLINK's RSQ (haplotype r², not the correlation of allele counts)", async () => {
    // every variant in LD (r² > 0.05) with an index is listed, whatever its p
    const triples = parseVerbose(plinkClump(LOOSE, true));
    expect(triples.length).toBeGreaterThan(30);
    const want = [...new Set(triples.flatMap(([a, b]) => [a, b].sort()))].map(
      (id) => assoc.get(id)!.variantIdx,
    );
    const ld: LdGenotypes = await withCompute(config, (conn) =>
      loadLdGenotypes(conn, releaseDir, { sampleIdx: keepIdx }, want),
    );
    const table = new Float64Array(9);
    let worstCorrelation = 0;
    for (const [a, b, rsq] of triples) {
      const ia = assoc.get(a)!.variantIdx;
      const ib = assoc.get(b)!.variantIdx;
      // printed to three significant digits
      expect(Math.abs(ld.r2(ia, ib) - rsq)).toBeLessThanOrEqual(5.01e-4);
      if (a.startsWith('X:')) continue;
      // the correlation of allele counts over the same (pairwise complete) samples
      ld.table(ld.slot(ia)!, ld.slot(ib)!, table);
      worstCorrelation = Math.max(worstCorrelation, Math.abs(countCorrelation(table) - rsq));
    }
    expect(worstCorrelation).toBeGreaterThan(0.01);
  });
});

/** r² of allele counts (0/1/2) from a 3×3 genotype table. */
function countCorrelation(t: Float64Array): number {
  let n = 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let g1 = 0; g1 < 3; g1++)
    for (let g2 = 0; g2 < 3; g2++) {
      const c = t[3 * g1 + g2];
      n += c;
      sx += c * g1;
      sy += c * g2;
      sxx += c * g1 * g1;
      syy += c * g2 * g2;
      sxy += c * g1 * g2;
    }
  const cov = sxy / n - (sx / n) * (sy / n);
  return (cov * cov) / ((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2));
}
