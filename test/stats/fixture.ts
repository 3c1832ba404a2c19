/**
 * A small synthetic cohort for the accuracy tests, exported as VCF + PLINK2 pheno/covar files, and
 * helpers to run plink2 / Rscript on it and parse their output. Nothing here computes an
 * expected statistic: references come from the external tools at test time.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../../stats/random.js';

export const rng = mulberry32;

export function normal(u: () => number): () => number {
  return () => {
    const a = Math.max(u(), 1e-300);
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * u());
  };
}

export interface Cohort {
  n: number;
  /** n×3 column-major: age (centred years), sex 0/1, pc1. */
  covar: Float64Array;
  covarNames: string[];
  qt: Float64Array;
  /** 0/1 */
  bin: Float64Array;
  variants: { id: string; pos: number; gt: Uint8Array }[];
  /** indices of variants with a planted kind */
  kinds: Record<string, number>;
}

/**
 * n samples, ~50 variants: monomorphic, all-missing, singleton, doubleton, a rare variant carried
 * only by controls (zero case allele count ⇒ Firth in PLINK2), causal variants for both traits,
 * and common/rare nulls with 0–8 % missing calls.
 */
export function makeCohort(n: number, seed: number): Cohort {
  const u = rng(seed);
  const z = normal(u);
  const covar = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) {
    covar[i] = 10 * z();
    covar[n + i] = u() < 0.5 ? 1 : 0;
    covar[2 * n + i] = z();
  }
  const variants: Cohort['variants'] = [];
  const kinds: Record<string, number> = {};
  const add = (id: string, gt: Uint8Array) => {
    variants.push({ id, pos: 10_000 + 1000 * variants.length, gt });
  };
  const hwe = (maf: number, missRate: number) => {
    const gt = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (u() < missRate) gt[i] = 255;
      else gt[i] = (u() < maf ? 1 : 0) + (u() < maf ? 1 : 0);
    }
    return gt;
  };
  kinds.monomorphic = variants.length;
  add('mono', new Uint8Array(n));
  kinds.allMissing = variants.length;
  add('allmiss', new Uint8Array(n).fill(255));
  kinds.singleton = variants.length;
  {
    const gt = new Uint8Array(n);
    gt[7] = 1;
    add('singleton', gt);
  }
  kinds.causalQt = variants.length;
  add('causal_qt', hwe(0.3, 0.02));
  kinds.causalBin = variants.length;
  add('causal_bin', hwe(0.25, 0.01));
  for (let v = 0; v < 40; v++) {
    const maf = v % 4 === 0 ? 0.005 + 0.01 * u() : 0.02 + 0.48 * u();
    const miss = v % 3 === 0 ? 0 : 0.08 * u();
    add(`null${v}`, hwe(maf, miss));
  }
  const gq = variants[kinds.causalQt].gt;
  const gb = variants[kinds.causalBin].gt;
  const qt = new Float64Array(n);
  const bin = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = covar[i];
    const s = covar[n + i];
    const p1 = covar[2 * n + i];
    const g1 = gq[i] === 255 ? 1 : gq[i];
    qt[i] = 5 + 0.03 * a + 0.4 * s - 0.3 * p1 + 0.35 * g1 + z();
    const g2 = gb[i] === 255 ? 0 : gb[i];
    const eta = -1.2 + 0.02 * a + 0.3 * s + 0.2 * p1 + 0.6 * g2;
    bin[i] = u() < 1 / (1 + Math.exp(-eta)) ? 1 : 0;
  }
  // A rare variant carried only by controls: zero case allele count.
  kinds.controlsOnly = variants.length;
  {
    const gt = new Uint8Array(n);
    let placed = 0;
    for (let i = 0; i < n && placed < 6; i++) {
      if (bin[i] === 0 && u() < 0.3) {
        gt[i] = 1;
        placed++;
      }
    }
    add('controls_only', gt);
  }
  // A rare variant enriched in cases (quasi-separation-prone, few carriers).
  kinds.rareCase = variants.length;
  {
    const gt = new Uint8Array(n);
    let placed = 0;
    for (let i = 0; i < n && placed < 5; i++) {
      if (bin[i] === 1 && u() < 0.3) {
        gt[i] = 1;
        placed++;
      }
    }
    add('rare_cases', gt);
  }
  return { n, covar, covarNames: ['age', 'sex', 'pc1'], qt, bin, variants, kinds };
}

const GT_TEXT = ['0/0', '0/1', '1/1'];

/** Writes cohort.vcf, pheno.tsv and covar.tsv into a fresh temp dir; returns the dir. */
export function writeCohort(c: Cohort): string {
  const dir = mkdtempSync(join(tmpdir(), 'stats-acc-'));
  const lines: string[] = [
    '##fileformat=VCFv4.2',
    '##contig=<ID=1,length=1000000>',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT']
      .concat(Array.from({ length: c.n }, (_, i) => `s${i}`))
      .join('\t'),
  ];
  for (const v of c.variants) {
    const calls = Array.from(v.gt, (g) => (g === 255 ? './.' : GT_TEXT[g]));
    lines.push(['1', v.pos, v.id, 'A', 'G', '.', 'PASS', '.', 'GT', ...calls].join('\t'));
  }
  writeFileSync(join(dir, 'cohort.vcf'), lines.join('\n') + '\n');
  const ph = ['#IID\tqt\tbin'];
  const cv = ['#IID\t' + c.covarNames.join('\t')];
  for (let i = 0; i < c.n; i++) {
    ph.push(`s${i}\t${c.qt[i].toPrecision(17)}\t${c.bin[i] + 1}`);
    cv.push(`s${i}\t${[0, 1, 2].map((j) => c.covar[j * c.n + i].toPrecision(17)).join('\t')}`);
  }
  writeFileSync(join(dir, 'pheno.tsv'), ph.join('\n') + '\n');
  writeFileSync(join(dir, 'covar.tsv'), cv.join('\n') + '\n');
  return dir;
}

export interface PlinkRow {
  id: string;
  firth: boolean;
  nObs: number;
  beta: number;
  se: number;
  stat: number;
  mlog10p: number;
  err: string;
}

/** Runs plink2 --glm (ALT allele tested, -log10 p, BETA column) and parses one phenotype's file. */
export function runPlinkGlm(
  dir: string,
  pheno: 'qt' | 'bin',
  extra: string[] = [],
  flags: string[] = [],
  tag = '',
): Map<string, PlinkRow> {
  const out = join(dir, `plink-${pheno}${tag}`);
  execFileSync(
    'plink2',
    [
      '--vcf',
      join(dir, 'cohort.vcf'),
      '--pheno',
      join(dir, 'pheno.tsv'),
      '--pheno-name',
      pheno,
      '--covar',
      join(dir, 'covar.tsv'),
      '--glm',
      'hide-covar',
      'omit-ref',
      'log10',
      ...extra,
      'cols=chrom,pos,ref,alt,firth,test,nobs,beta,se,tz,p,err',
      ...flags,
      '--threads',
      '1',
      '--out',
      out,
    ],
    { stdio: 'pipe' },
  );
  const file = pheno === 'qt' ? `${out}.qt.glm.linear` : `${out}.bin.glm.logistic.hybrid`;
  const text = readFileSync(file, 'utf8').trim().split('\n');
  const header = text[0].replace(/^#/, '').split('\t');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`plink2 output ${file} lacks column ${name}: ${header.join(',')}`);
    return i;
  };
  const num = (s: string) => (s === 'NA' ? Number.NaN : Number(s));
  const rows = new Map<string, PlinkRow>();
  const firthCol = header.indexOf('FIRTH?');
  const statCol = header.indexOf('T_STAT') >= 0 ? col('T_STAT') : col('Z_STAT');
  for (const line of text.slice(1)) {
    const f = line.split('\t');
    rows.set(f[col('ID')], {
      id: f[col('ID')],
      firth: firthCol >= 0 && f[firthCol] === 'Y',
      nObs: num(f[col('OBS_CT')]),
      beta: num(f[col('BETA')]),
      se: num(f[col('SE')]),
      stat: num(f[statCol]),
      mlog10p: num(f[col('LOG10_P')]),
      err: f[col('ERRCODE')],
    });
  }
  return rows;
}

/** Runs an R script with Rscript and returns stdout. */
export function runR(script: string, dir: string): string {
  const path = join(dir, 'script.R');
  writeFileSync(path, script);
  return execFileSync('Rscript', ['--vanilla', path], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
