/**
 * Summary-statistics readers (ingest/sumstats.ts):
 *  1. real PLINK2 `--glm` output, produced at test time on a synthetic biobank (`biobank synth`,
 *     300 persons, 2,000 variants): a linear model with a covariate (its rows dropped as not
 *     additive) and a logistic one (OR → β = ln OR, checked against the file's own Z_STAT);
 *     every kept row equals the file's values, parsed here independently;
 *  2. GWAS-SSF (gzipped, with its `-meta.yaml`), this engine's export, and REGENIE step 2 files
 *     written by the test: mapping, p below the double floor, chromosome codes, drop reasons;
 *  3. refusals name file, line and column, and leave no table behind;
 *  4. `loadMetaMatrix` joins inputs of three formats on (chrom, pos, allele pair) whatever the
 *     allele order and strand, and the alignment + meta-analysis run on the result.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTable } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { loadMetaMatrix, readSumstats, SUMSTATS_COLUMNS } from '../../ingest/sumstats.js';
import { ALIGN, alignAlleles, applyAlignment, metaAnalyse } from '../../stats/meta.js';
import { tempDir } from './helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');

let dir: string;
let instance: DuckDBInstance;
let conn: DuckDBConnection;
let tableNo = 0;
const nextTable = () => `ss_${++tableNo}`;

beforeAll(async () => {
  dir = tempDir('sumstats');
  instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  conn = await instance.connect();
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function rows(table: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(`SELECT * FROM ${table} ORDER BY chrom, pos`)).getRowObjectsJS();
}

/** The data lines of a tab-separated file as records keyed by its header. */
function parseTsv(path: string): Record<string, string>[] {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = head.split('\t');
  return lines.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [cols[i], v])));
}

describe('PLINK2 --glm output', () => {
  let linear: string;
  let logistic: string;
  beforeAll(() => {
    const synth = join(dir, 'synth');
    execFileSync(
      'node',
      [
        join(ROOT, 'bin', 'biobank.mjs'),
        'synth',
        '--out',
        synth,
        '--size',
        'custom',
        '--persons',
        '300',
        '--variants',
        '2000',
      ],
      { stdio: 'ignore' },
    );
    const pheno = readFileSync(join(synth, 'pheno.txt'), 'utf8').trim().split('\n').slice(1);
    // LDL as a quantitative trait, LDL > 130 as a binary one (1/2 coding), BMI as the covariate
    writeFileSync(
      join(dir, 'pheno.txt'),
      `FID IID LDL CASE\n${pheno
        .map((l) => l.split(' '))
        .map((f) => `${f[0]} ${f[1]} ${f[2]} ${f[2] === 'NA' ? 'NA' : Number(f[2]) > 130 ? 2 : 1}`)
        .join('\n')}\n`,
    );
    writeFileSync(
      join(dir, 'covar.txt'),
      `FID IID BMI\n${pheno
        .map((l) => l.split(' '))
        .map((f) => `${f[0]} ${f[1]} ${f[4]}`)
        .join('\n')}\n`,
    );
    const out = join(dir, 'glm');
    execFileSync(
      'plink2',
      [
        '--vcf',
        join(synth, 'chr1-22.vcf.gz'),
        '--double-id',
        '--pheno',
        join(dir, 'pheno.txt'),
        '--covar',
        join(dir, 'covar.txt'),
        '--glm',
        'cols=+a1freq',
        '--threads',
        '1',
        '--out',
        out,
      ],
      { stdio: 'ignore' },
    );
    linear = `${out}.LDL.glm.linear`;
    logistic = `${out}.CASE.glm.logistic.hybrid`;
  }, 60_000);

  /** Expected kept rows of a plink2 file, parsed here: ADD rows without an error code. */
  function expectedPlink(path: string) {
    const all = parseTsv(path);
    const add = all.filter((r) => r.TEST === 'ADD');
    const ok = add.filter((r) => r.ERRCODE === '.');
    return { all, add, ok };
  }

  it('linear: ADD rows mapped exactly, covariate rows and failed tests dropped and counted', async () => {
    const t = nextTable();
    const prov = await readSumstats(conn, linear, { table: t, label: 'site A' });
    const { all, add, ok } = expectedPlink(linear);
    expect(prov.format).toBe('plink2');
    expect(prov.label).toBe('site A');
    expect(prov.rowsRead).toBe(all.length);
    expect(prov.dropped.not_additive_test).toBe(all.length - add.length);
    expect(prov.dropped.not_additive_test).toBeGreaterThan(1000);
    expect(prov.dropped.tool_error).toBe(add.length - ok.length);
    expect(prov.dropped.tool_error).toBeGreaterThan(0);
    expect(prov.rowsKept).toBe(ok.length);
    expect(prov.sha256).toBe(createHash('sha256').update(readFileSync(linear)).digest('hex'));
    const got = await rows(t);
    expect(Object.keys(got[0])).toEqual([...SUMSTATS_COLUMNS]);
    const byKey = new Map(got.map((r) => [`${r.chrom}:${r.pos}:${r.effect_allele}:${r.other_allele}`, r]));
    for (const r of ok) {
      const other = r.A1 === r.ALT ? r.REF : r.ALT;
      const g = byKey.get(`${r['#CHROM']}:${r.POS}:${r.A1}:${other}`);
      expect(g, `${r.ID}`).toBeDefined();
      expect(g?.beta).toBe(Number(r.BETA));
      expect(g?.se).toBe(Number(r.SE));
      expect(g?.p).toBe(Number(r.P));
      expect(g?.neg_log10_p).toBeCloseTo(-Math.log10(Number(r.P)), 12);
      expect(g?.n).toBe(Number(r.OBS_CT));
      expect(g?.eaf).toBe(Number(r.A1_FREQ));
    }
  });

  it('logistic (hybrid, OR): β = ln OR with LOG(OR)_SE; β/SE reproduces the file’s Z_STAT', async () => {
    const t = nextTable();
    const prov = await readSumstats(conn, logistic, { table: t });
    const { ok } = expectedPlink(logistic);
    expect(prov.rowsKept).toBe(ok.length);
    const got = await rows(t);
    const byKey = new Map(got.map((r) => [`${r.chrom}:${r.pos}:${r.effect_allele}`, r]));
    let checked = 0;
    for (const r of ok) {
      const g = byKey.get(`${r['#CHROM']}:${r.POS}:${r.A1}`);
      expect(g?.beta as number).toBeCloseTo(Math.log(Number(r.OR)), 14);
      expect(g?.se).toBe(Number(r['LOG(OR)_SE']));
      // OR and SE are printed with 6 significant digits
      const z = Number(r.Z_STAT);
      expect(Math.abs((g?.beta as number) / (g?.se as number) - z)).toBeLessThanOrEqual(
        1e-4 * Math.max(1, Math.abs(z)),
      );
      checked++;
    }
    expect(checked).toBeGreaterThan(1500);
  });
});

describe('GWAS-SSF, this engine’s export, REGENIE', () => {
  const SSF_HEAD =
    'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value\tn';

  it('GWAS-SSF (gzipped, with metadata): mapping, chromosome codes, p below 1e-308, #NA', async () => {
    const text = [
      SSF_HEAD,
      '1\t1000\ta\tG\t0.1\t0.02\t0.3\t5.7e-07\t1000',
      '23\t2000\tC\tT\t-0.2\t0.05\t0.6\t3.1623e-350\t1000',
      '25\t3000\tACG\tA\t0.05\t0.01\t#NA\t#NA\t#NA',
      '2\t4000\tT\tG\t#NA\t#NA\t0.2\t#NA\t900',
    ].join('\n');
    const gz = gzipSync(`${text}\n`);
    const path = join(dir, 'site.tsv');
    writeFileSync(path, gz); // gzipped whatever the name says
    writeFileSync(
      `${path}-meta.yaml`,
      `data_file_name: site.tsv\ndata_file_md5sum: ${createHash('md5').update(gz).digest('hex')}\nsamples:\n  - sample_size: 1800\n    case_count: 600\n    control_count: 1200\n  - sample_size: 200\n`,
    );
    const t = nextTable();
    const prov = await readSumstats(conn, path, { table: t, cases: 601 });
    expect(prov).toMatchObject({
      format: 'gwas-ssf',
      gzip: true,
      rowsRead: 4,
      rowsKept: 2,
      dropped: { missing_estimate: 2, not_additive_test: 0, tool_error: 0 },
      sampleSize: 2000,
      cases: 601,
      controls: 1200,
      maxN: 1000,
    });
    const got = await rows(t);
    expect(got[0]).toMatchObject({ chrom: '1', effect_allele: 'A', other_allele: 'G', beta: 0.1, p: 5.7e-7 });
    expect(got[1]).toMatchObject({ chrom: 'X', pos: 2000n, p: 0 });
    expect(got[1].neg_log10_p as number).toBeCloseTo(350 - Math.log10(3.1623), 10);

    // a metadata md5 that does not match refuses the file
    writeFileSync(`${path}-meta.yaml`, 'data_file_md5sum: 0123456789abcdef0123456789abcdef\n');
    await expect(readSumstats(conn, path, { table: nextTable() })).rejects.toThrow(
      /site\.tsv-meta\.yaml, field data_file_md5sum: data_file_md5sum .* does not match/,
    );
  });

  it('GWAS-SSF with odds_ratio and neg_log_10_p_value; this engine’s export and its metadata', async () => {
    const path = join(dir, 'or.tsv');
    writeFileSync(
      path,
      'chromosome\tbase_pair_location\teffect_allele\tother_allele\todds_ratio\tstandard_error\tneg_log_10_p_value\n' +
        '3\t100\tA\tC\t1.5\t0.1\t4.5\n',
    );
    const t = nextTable();
    await readSumstats(conn, path, { table: t });
    const [r] = await rows(t);
    expect(r.beta).toBeCloseTo(Math.log(1.5), 15);
    expect(r.p).toBeCloseTo(10 ** -4.5, 18);
    expect(r.neg_log10_p).toBe(4.5);

    const engine = join(dir, 'run_LDL.tsv');
    writeFileSync(
      engine,
      'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value\tvariant_id\trsid\tn\tref_allele\n' +
        '1\t500\tT\tC\t0.3\t0.1\t0.2\t0.0027\t1_500_C_T\t#NA\t#NA\tOA\n',
    );
    writeFileSync(
      `${engine}-meta.yaml`,
      'analysis_software: biobank-engine 0.1.0\nsamples:\n  - sample_size: 5000\n',
    );
    const te = nextTable();
    const prov = await readSumstats(conn, engine, { table: te });
    expect(prov.format).toBe('biobank-engine');
    expect(prov.sampleSize).toBe(5000);
    expect(prov.metadataFile).toBe(`${engine}-meta.yaml`);
    const [e] = await rows(te);
    expect(e).toMatchObject({ chrom: '1', effect_allele: 'T', other_allele: 'C', beta: 0.3, n: null });
  });

  it('REGENIE step 2: ALLELE1 is the effect allele, p = 10^−LOG10P, non-ADD and failed tests dropped', async () => {
    const path = join(dir, 'step2_Y1.regenie');
    writeFileSync(
      path,
      [
        '##MASKS=<M1="0">',
        'CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ INFO N TEST BETA SE CHISQ LOG10P EXTRA',
        '1 100 1:100:A:G A G 0.25 1 5000 ADD 0.12 0.03 16 4.2 NA',
        '1 100 1:100:A:G A G 0.25 1 5000 DOM 0.2 0.05 16 4.2 NA',
        '23 200 X:200:C:T C T 0.4 1 4800 ADD NA NA NA NA TEST_FAIL',
        '23 300 X:300:C:T C T 0.1 1 4800 ADD -0.05 0.02 6.25 1.906 NA',
      ].join('\n'),
    );
    const t = nextTable();
    const prov = await readSumstats(conn, path, { table: t });
    expect(prov).toMatchObject({
      format: 'regenie',
      rowsRead: 4,
      rowsKept: 2,
      dropped: { not_additive_test: 1, tool_error: 1, missing_estimate: 0 },
    });
    const got = await rows(t);
    expect(got[0]).toMatchObject({ chrom: '1', effect_allele: 'G', other_allele: 'A', eaf: 0.25, n: 5000 });
    expect(got[0].p as number).toBeCloseTo(10 ** -4.2, 18);
    expect(got[1]).toMatchObject({ chrom: 'X', pos: 300n, beta: -0.05, neg_log10_p: 1.906 });
  });
});

describe('refusals name file, line and column and create nothing', () => {
  const SSF =
    'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value';
  const good = (pos: number) => `1\t${pos}\tA\tG\t0.1\t0.02\t0.3\t0.5`;
  const cases: [string, string, RegExp][] = [
    [
      'β not a number',
      '1\t300\tA\tG\tabc\t0.02\t0.3\t0.5',
      /line 4, field beta: beta must be a number, found "abc"/,
    ],
    [
      'SE = 0',
      '1\t300\tA\tG\t0.1\t0\t0.3\t0.5',
      /line 4, field standard_error: the standard error must be .*found "0"/,
    ],
    ['p > 1', '1\t300\tA\tG\t0.1\t0.02\t0.3\t1.5', /line 4, field p_value: p must be a number in \[0, 1\]/],
    ['β infinite', '1\t300\tA\tG\tinf\t0.02\t0.3\t0.5', /line 4, field beta: β must be a finite number/],
    [
      'allele not ACGT',
      '1\t300\tA\t<DEL>\t0.1\t0.02\t0.3\t0.5',
      /line 4, field other_allele: the other allele must be/,
    ],
    [
      'same alleles',
      '1\t300\tA\ta\t0.1\t0.02\t0.3\t0.5',
      /line 4, field effect_allele: the effect and other alleles are the same/,
    ],
    [
      'position 0',
      '1\t0\tA\tG\t0.1\t0.02\t0.3\t0.5',
      /line 4, field base_pair_location: the position must be/,
    ],
    [
      'ragged row',
      '1\t300\tA\tG\t0.1\t0.02',
      /line 4, field effect_allele_frequency: expected 8 values \(found 6\)/,
    ],
    [
      'EAF > 1',
      '1\t300\tA\tG\t0.1\t0.02\t1.3\t0.5',
      /line 4, field effect_allele_frequency: the effect allele frequency/,
    ],
    [
      'duplicate (swapped)',
      '1\t200\tG\tA\t0.1\t0.02\t0.7\t0.5',
      /line 4, field base_pair_location: variant 1:200 A\/G appears more than once \(first on line 3\)/,
    ],
  ];
  for (const [name, line, message] of cases)
    it(name, async () => {
      const path = join(dir, `bad-${name.replace(/\W+/g, '_')}.tsv`);
      // blank line 6 is skipped by the reader but still counted
      writeFileSync(path, `${SSF}\n${good(100)}\n${good(200)}\n${line}\n${good(400)}\n\n${good(500)}\n`);
      const table = nextTable();
      const err = await readSumstats(conn, path, { table, displayName: 'site-b.tsv' }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/^site-b\.tsv, /);
      expect((err as Error).message).toMatch(message);
      expect(await hasTable(conn, table)).toBe(false);
    });

  it('a refused row after a blank line and thousands of good rows is named by its line', async () => {
    const lines = [SSF];
    for (let i = 1; i <= 5000; i++) lines.push(good(i));
    lines.push('');
    lines.push('1\t99999\tA\tG\t0.1\t-1\t0.3\t0.5');
    const path = join(dir, 'late.tsv.gz');
    writeFileSync(path, gzipSync(`${lines.join('\n')}\n`));
    await expect(readSumstats(conn, path, { table: nextTable() })).rejects.toThrow(
      /late\.tsv\.gz, line 5003, field standard_error/,
    );
  });

  it('PLINK2 multi-allelic ALT without AX, REGENIE negative LOG10P, unknown header', async () => {
    const plink = join(dir, 'multi.glm.linear');
    writeFileSync(
      plink,
      '#CHROM\tPOS\tID\tREF\tALT\tA1\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP\tERRCODE\n' +
        '1\t100\tv1\tA\tG\tG\tADD\t100\t0.1\t0.05\t2\t0.05\t.\n' +
        '1\t200\tv2\tA\tC,T\tT\tADD\t100\t0.1\t0.05\t2\t0.05\t.\n',
    );
    await expect(readSumstats(conn, plink, { table: nextTable() })).rejects.toThrow(
      /line 3, field ALT: the other allele of a multi-allelic ALT is not written \(rerun plink2 --glm with cols=\+ax\)/,
    );
    const regenie = join(dir, 'neg.regenie');
    writeFileSync(
      regenie,
      'CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE CHISQ LOG10P\n1 100 a A G 0.2 100 ADD 0.1 0.05 4 -1\n',
    );
    await expect(readSumstats(conn, regenie, { table: nextTable() })).rejects.toThrow(
      /neg\.regenie, line 2, field LOG10P: −log10 p must be a finite number ≥ 0/,
    );
    const other = join(dir, 'other.txt');
    writeFileSync(other, 'SNP\tP\nrs1\t0.5\n');
    await expect(readSumstats(conn, other, { table: nextTable() })).rejects.toThrow(
      /line 1: the header is not one of/,
    );
  });
});

describe('loadMetaMatrix', () => {
  it('joins three formats on position and allele pair, whatever the order and strand', async () => {
    const a = join(dir, 'm-a.tsv');
    writeFileSync(
      a,
      [
        'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\teffect_allele_frequency\tp_value\tn',
        '1\t100\tA\tG\t0.10\t0.02\t0.2\t0.01\t1000',
        '1\t200\tC\tT\t0.20\t0.04\t0.3\t0.01\t1000',
        '1\t300\tA\tAT\t0.05\t0.01\t0.1\t0.01\t1000',
        '2\t50\tG\tT\t-0.1\t0.05\t0.3\t0.01\t1000',
      ].join('\n'),
    );
    const b = join(dir, 'm-b.regenie');
    writeFileSync(
      b,
      [
        'CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ N TEST BETA SE CHISQ LOG10P',
        '1 100 x G A 0.21 2000 ADD 0.12 0.03 16 4', // ALLELE1 = A: as in input a
        '1 200 y C T 0.7 2000 ADD -0.18 0.05 13 3', // swapped: ALLELE1 = T
        '1 300 z A AT 0.9 2000 ADD -0.04 0.02 4 1.3', // swapped indel: ALLELE1 = AT
        '1 300 w A C 0.5 2000 ADD 0.3 0.1 9 2', // another allele at 1:300: its own variant
      ].join('\n'),
    );
    const c = join(dir, 'm-c.glm.linear');
    writeFileSync(
      c,
      '#CHROM\tPOS\tID\tREF\tALT\tA1\tA1_FREQ\tTEST\tOBS_CT\tBETA\tSE\tT_STAT\tP\tERRCODE\n' +
        '1\t100\tv\tT\tC\tT\t0.2\tADD\t500\t0.08\t0.05\t1.6\t0.1\t.\n' + // A1 = T, other C: A/G on the other strand
        '2\t50\tu\tG\tT\tT\t0.7\tADD\t500\t0.15\t0.06\t2.5\t0.01\t.\n', // swapped G/T
    );
    const tables = [nextTable(), nextTable(), nextTable()];
    await readSumstats(conn, a, { table: tables[0] });
    await readSumstats(conn, b, { table: tables[1] });
    await readSumstats(conn, c, { table: tables[2] });
    const mx = await loadMetaMatrix(conn, tables, 'meta_variants');
    const keys = (
      await conn.runAndReadAll('SELECT vid, chrom, pos, allele_key FROM meta_variants ORDER BY vid')
    )
      .getRows()
      .map((r) => `${r[1]}:${r[2]}:${r[3]}`);
    // the key is strand-canonical: C/T and G/T are written A/G and A/C
    expect(keys).toEqual(['1:100:A/G', '1:200:A/G', '1:300:A/AT', '1:300:A/C', '2:50:A/C']);
    expect(mx.k).toBe(3);
    expect(mx.m).toBe(5);
    const at = (i: number, j: number) => i * mx.m + j;
    expect(mx.beta[at(1, 1)]).toBe(-0.18);
    expect(mx.alleles[mx.effect[at(1, 2)]]).toBe('AT');
    expect(mx.beta[at(2, 2)]).toBeNaN();
    expect(mx.n[at(2, 0)]).toBe(500);

    const al = alignAlleles(mx);
    const col = (j: number) => [0, 1, 2].map((i) => ALIGN[al.action[at(i, j)]]);
    expect(col(0)).toEqual(['reference', 'same', 'strand']);
    expect(col(1)).toEqual(['reference', 'swapped', 'absent']);
    expect(col(2)).toEqual(['reference', 'swapped', 'absent']);
    expect(col(3)).toEqual(['absent', 'reference', 'absent']);
    expect(col(4)).toEqual(['reference', 'absent', 'swapped']);
    const res = metaAnalyse(applyAlignment(mx, al));
    expect(res.direction).toEqual(['+++', '++?', '++?', '?+?', '-?-']);
    expect(Array.from(res.nInputs)).toEqual([3, 2, 2, 1, 2]);
    // fixed effect of variant 1:200 by hand: (0.2/0.04² + 0.18/0.05²) / (1/0.04² + 1/0.05²)
    const w = [1 / 0.04 ** 2, 1 / 0.05 ** 2];
    expect(res.beta[1]).toBeCloseTo((0.2 * w[0] + 0.18 * w[1]) / (w[0] + w[1]), 14);
  });

  it('refuses a table that has one variant on both strands', async () => {
    const path = join(dir, 'twins.tsv');
    writeFileSync(
      path,
      'chromosome\tbase_pair_location\teffect_allele\tother_allele\tbeta\tstandard_error\tp_value\n' +
        '1\t100\tA\tG\t0.1\t0.02\t0.5\n1\t100\tT\tC\t0.1\t0.02\t0.5\n',
    );
    const t = nextTable();
    await readSumstats(conn, path, { table: t });
    await expect(loadMetaMatrix(conn, [t], 'twins_variants')).rejects.toThrow(
      /variant 1:100 A\/G appears twice, once on each strand/,
    );
  });
});
