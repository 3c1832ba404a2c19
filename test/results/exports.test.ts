/**
 * Exports of a run: GWAS-SSF checked against a checker written from the published standard,
 * PheWeb input files, the PheWAS CSV, count suppression both ways, and bad arguments that write
 * nothing. Also through the `biobank export` command.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createResultsActivities } from '../../activities/results.js';
import { InputError } from '../../engine/errors.js';
import { writeRunResults } from '../../engine/results.js';
import { exportGwasSsf, exportPhewas, exportPheweb, GWAS_SSF_COLUMNS } from '../../export/index.js';
import { readPhewasFile } from '../../meta/phewas-inputs.js';
import { type Fixture, makeFixture, TOP_HIT_PHECODES_SQL } from './fixture.js';
import { checkGwasSsf } from './gwas-ssf-standard.js';

let fx: Fixture;
let outRoot = '';
let seq = 0;
const nextOut = () => join(outRoot, `out-${++seq}`);

beforeAll(async () => {
  fx = await makeFixture();
  outRoot = join(fx.dataDir, 'exports');
  await mkdir(outRoot);
});
afterAll(async () => {
  await fx?.cleanup();
});

/** Parse a CSV file with RFC 4180 quoting, independently of the exporter (via DuckDB's reader). */
async function readCsv(path: string): Promise<Record<string, string | null>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const r = await conn.runAndReadAll(
      `SELECT * FROM read_csv('${path}', header = true, all_varchar = true)`,
    );
    return r.getRowObjectsJson() as Record<string, string | null>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

function tsv(text: string): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => l.split('\t'));
}

describe('GWAS-SSF export', () => {
  it('passes the schema check written from the published standard', async () => {
    const out = nextOut();
    const res = await exportGwasSsf(fx.config, {
      runId: fx.runId,
      out,
      phenotype: 'LDL',
      genomeAssembly: 'GRCh38',
    });
    const data = join(out, `${fx.runId}_LDL.tsv`);
    expect(res.files.sort()).toEqual(
      [`${fx.runId}_LDL.tsv`, `${fx.runId}_LDL.tsv-meta.yaml`, 'README.txt'].sort(),
    );
    const check = checkGwasSsf(data, `${data}-meta.yaml`);
    expect(check.errors).toEqual([]);

    // Every usable LDL result is there (all but the monomorphic, the '*' allele and the unplaced contig).
    const ldl = fx.gwas.filter((r) => r.phenotype === 'LDL');
    expect(check.rows).toBe(ldl.length - 3);
    expect(res.rows).toEqual([{ name: 'LDL', written: ldl.length - 3, excluded: 3 }]);
    const rows = tsv(await readFile(data, 'utf8'));
    expect(rows[0]).toEqual([...GWAS_SSF_COLUMNS]);
    // X is coded 23 and sorts last; effect allele is ALT; the p that underflowed is written from −log10 p.
    const x = ldl.find((r) => r.chrom === 'X') as (typeof ldl)[number];
    const xRow = rows.find((r) => r[0] === '23' && r[1] === String(x.pos)) as string[];
    expect(xRow.slice(2, 4)).toEqual([x.alt, x.ref]);
    expect(Number(xRow[4])).toBe(x.beta);
    expect(Number(xRow[7])).toBe(x.p);
    expect(rows.at(-1)?.[0]).toBe('23');
    const top = ldl.find((r) => r.variant_id === fx.topVariant) as (typeof ldl)[number];
    expect(rows.find((r) => r[1] === String(top.pos) && r[0] === top.chrom)?.[7]).toBe('1.0000e-350');
    // A missing rsid is #NA; the per-variant n of 12 is suppressed to #NA.
    const small = ldl.find((r) => r.n === 12) as (typeof ldl)[number];
    expect(rows.find((r) => r[0] === small.chrom && r[1] === String(small.pos))?.[10]).toBe('#NA');

    const meta = parseYaml(await readFile(`${data}-meta.yaml`, 'utf8'));
    expect(meta).toMatchObject({
      genome_assembly: 'GRCh38',
      coordinate_system: '1-based',
      data_file_name: `${fx.runId}_LDL.tsv`,
      data_file_md5sum: createHash('md5')
        .update(await readFile(data))
        .digest('hex'),
      is_sorted: true,
      is_harmonised: false,
      samples: [{ sample_size: 5000, sample_ancestry_category: ['EUR'], case_control_study: false }],
      adjusted_covariates: ['age', 'sex', 'PC1', 'PC2'],
    });
    expect(meta.author_notes).toMatch(/1 to 20 are suppressed/);
    expect(await readFile(join(out, 'README.txt'), 'utf8')).toMatch(/shown as ≤20/);
  });

  it('fails the schema check for files that break the standard', async () => {
    const out = nextOut();
    await exportGwasSsf(fx.config, { runId: fx.runId, out, phenotype: '250.2', genomeAssembly: 'GRCh37' });
    const data = join(out, `${fx.runId}_250.2.tsv`);
    const meta = `${data}-meta.yaml`;
    expect(checkGwasSsf(data, meta).errors).toEqual([]);
    const good = await readFile(data, 'utf8');
    const lines = good.trimEnd().split('\n');
    const mutate = async (name: string, text: string) => {
      const path = join(out, name);
      await writeFile(path, text);
      return checkGwasSsf(path).errors.join('\n');
    };
    const swap = lines.map((l) => {
      const f = l.split('\t');
      [f[4], f[5]] = [f[5], f[4]];
      return f.join('\t');
    });
    expect(await mutate('swapped.tsv', `${swap.join('\n')}\n`)).toMatch(/header column 4/);
    expect(await mutate('na.tsv', `${lines[0]}\n${lines[1].replace(/\tOA$/, '\tNA')}\n`)).toMatch(/#NA/);
    expect(await mutate('x.tsv', `${lines[0]}\n${lines[1].replace(/^\d+/, 'X')}\n`)).toMatch(
      /chromosome X not in 1-25/,
    );
    const p0 = lines[1].split('\t');
    p0[7] = '0';
    expect(await mutate('p0.tsv', `${lines[0]}\n${p0.join('\t')}\n`)).toMatch(/p_value 0 out of range/);
    expect(await mutate('dup.tsv', `${lines[0]}\n${lines[1]}\n${lines[1]}\n`)).toMatch(/duplicate row/);
    expect(
      await mutate('missing.tsv', `${lines[0]}\n${lines[1].replace(/^(\S+\t\S+\t)\S+/, '$1#NA')}\n`),
    ).toMatch(/mandatory field effect_allele is missing/);
    expect(await mutate('data.csv', good)).toMatch(/must end in .tsv/);
    // Unsorted rows fail when the metadata claims sorted; a changed file fails the md5 check.
    const unsorted = join(out, `${fx.runId}_250.2.tsv`);
    await writeFile(unsorted, `${[lines[0], ...lines.slice(1).reverse()].join('\n')}\n`);
    const errs = checkGwasSsf(unsorted, meta).errors.join('\n');
    expect(errs).toMatch(/not sorted/);
    expect(errs).toMatch(/md5sum/);
  });

  it('writes a case-control study with its counts, gzipped on request', async () => {
    const out = nextOut();
    await exportGwasSsf(fx.config, {
      runId: fx.runId,
      out,
      phenotype: '250.2',
      genomeAssembly: 'GRCh38',
      gzip: true,
    });
    const data = join(out, `${fx.runId}_250.2.tsv.gz`);
    expect(checkGwasSsf(data, `${data}-meta.yaml`).errors).toEqual([]);
    expect(
      gunzipSync(await readFile(data))
        .toString('utf8')
        .split('\n')[0]
        .split('\t')[0],
    ).toBe('chromosome');
    const meta = parseYaml(await readFile(`${data}-meta.yaml`, 'utf8'));
    expect(meta.samples[0]).toMatchObject({ case_control_study: true, case_count: 850, control_count: 4150 });
  });

  it('refuses a phenotype whose mandatory counts would be suppressed, unless --no-suppress', async () => {
    const out = nextOut();
    const err = await exportGwasSsf(fx.config, { runId: fx.runId, out, genomeAssembly: 'GRCh38' }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(/phenotype rare: case_count is 20 or less, which may not be shown/);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(outRoot)).filter((f) => f.startsWith('.'))).toEqual([]);

    const res = await exportGwasSsf(fx.config, {
      runId: fx.runId,
      out,
      genomeAssembly: 'GRCh38',
      suppress: false,
    });
    expect(res.rows.map((r) => r.name)).toEqual(['250.2', 'LDL', 'rare']);
    const data = join(out, `${fx.runId}_rare.tsv`);
    expect(checkGwasSsf(data, `${data}-meta.yaml`).errors).toEqual([]);
    expect(parseYaml(await readFile(`${data}-meta.yaml`, 'utf8')).samples[0].case_count).toBe(15);
    // Unsuppressed, the per-variant n of 12 is shown.
    const ldl = tsv(await readFile(join(out, `${fx.runId}_LDL.tsv`), 'utf8'));
    expect(ldl.some((r) => r[10] === '12')).toBe(true);
    expect(await readFile(join(out, 'README.txt'), 'utf8')).toMatch(/NOT suppressed/);
  });

  it('needs the genome assembly', async () => {
    const out = nextOut();
    await expect(exportGwasSsf(fx.config, { runId: fx.runId, out, phenotype: 'LDL' })).rejects.toThrow(
      /--assembly/,
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe('PheWeb export', () => {
  it('writes chrom pos ref alt pval beta sebeta af per phenotype and a pheno-list.json', async () => {
    const out = nextOut();
    await exportPheweb(fx.config, { runId: fx.runId, out });
    const list = JSON.parse(await readFile(join(out, 'pheno-list.json'), 'utf8'));
    expect(list.map((p: { phenocode: string }) => p.phenocode)).toEqual(['250_2', 'LDL', 'rare']);
    for (const p of list) {
      expect(Object.keys(p).sort()).toEqual(
        expect.arrayContaining(['phenocode', 'phenostring', 'category', 'assoc_files', 'num_samples']),
      );
      expect(p.phenocode).toMatch(/^[A-Za-z0-9_~-]+$/);
      expect(p.assoc_files).toEqual([join(resolve(out), `${p.phenocode}.tsv`)]);
    }
    expect(list[0]).toMatchObject({
      phenostring: 'Type 2 diabetes',
      num_cases: 850,
      num_controls: 4150,
      num_samples: 5000,
    });
    // 15 cases are hidden, and so are the exact controls and total they could be derived from.
    expect(list[2]).toMatchObject({ num_cases: '≤20', num_controls: '>=4980', num_samples: '>=5000' });

    const rows = tsv(await readFile(join(out, 'LDL.tsv'), 'utf8'));
    expect(rows[0]).toEqual(['chrom', 'pos', 'ref', 'alt', 'pval', 'beta', 'sebeta', 'af']);
    const order = ['1', '2', 'X'];
    let last: [number, number] = [0, 0];
    for (const r of rows.slice(1)) {
      expect(r).toHaveLength(8);
      const here: [number, number] = [order.indexOf(r[0]), Number(r[1])];
      expect(here[0]).toBeGreaterThanOrEqual(0);
      expect(here[0] > last[0] || (here[0] === last[0] && here[1] >= last[1])).toBe(true);
      last = here;
      expect(r[2]).toMatch(/^[ACGT]+$/);
      expect(r[3]).toMatch(/^[ACGT]+$/);
      if (r[4] !== 'NA') expect(Number(r[4]) >= 0 && Number(r[4]) <= 1).toBe(true);
    }
    // The monomorphic variant keeps its row with NA statistics; '*' and the unplaced contig are left out.
    const ldl = fx.gwas.filter((r) => r.phenotype === 'LDL');
    expect(rows.length - 1).toBe(ldl.length - 2);
    const mono = ldl.find((r) => r.status === 'monomorphic') as (typeof ldl)[number];
    expect(rows.find((r) => r[1] === String(mono.pos) && r[0] === mono.chrom)?.slice(4)).toEqual([
      'NA',
      'NA',
      'NA',
      '0.0',
    ]);
    const some = ldl[100];
    const row = rows.find((r) => r[0] === some.chrom && r[1] === String(some.pos)) as string[];
    expect(row.slice(4).map(Number)).toEqual([some.p, some.beta, some.se, some.af]);
  });

  it('shows small counts with --no-suppress', async () => {
    const out = nextOut();
    await exportPheweb(fx.config, { runId: fx.runId, out, phenotype: 'rare', suppress: false, gzip: true });
    const list = JSON.parse(await readFile(join(out, 'pheno-list.json'), 'utf8'));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ phenocode: 'rare', num_cases: 15 });
    expect(
      gunzipSync(await readFile(join(out, 'rare.tsv.gz')))
        .toString()
        .startsWith('chrom\tpos\t'),
    ).toBe(true);
  });
});

describe('PheWAS CSV export', () => {
  it('has every phewas_results column, with counts 1-20 suppressed by default (All of Us policy)', async () => {
    const out = nextOut();
    await exportPhewas(fx.config, { runId: fx.runId, out });
    const rows = await readCsv(join(out, 'phewas_results.csv'));
    expect(rows).toHaveLength(fx.phewas.length);
    expect(Object.keys(rows[0])).toEqual(Object.keys({ run_id: 1, ...fx.phewas[0] }));
    const byKey = new Map(rows.map((r) => [`${r.predictor}|${r.phecode}`, r]));
    const counts = ['n_cases', 'n_controls', 'n_excluded'] as const;
    let complementary = 0;
    for (const want of fx.phewas) {
      const got = byKey.get(`${want.predictor}|${want.phecode}`) as Record<string, string | null>;
      const small = counts.some((k) => want[k] >= 1 && want[k] <= 20);
      for (const k of counts) {
        const n = want[k];
        // The rule: 1–20 → "≤20"; beside such a count, others > 20 → ">=" their multiple of 20 below.
        const expected = n >= 1 && n <= 20 ? '≤20' : small && n > 20 ? `>=${n - (n % 20)}` : String(n);
        expect(got[k], `${want.phecode} ${k}`).toBe(expected);
      }
      if (small) {
        complementary++;
        // No exact count is left in the row from which a hidden one could be derived.
        expect(counts.filter((k) => /^\d+$/.test(got[k] ?? '') && got[k] !== '0')).toEqual([]);
      }
      expect(got.description).toBe(want.description);
      expect(got.p === null ? null : Number(got.p)).toBe(want.p);
      // A skip reason quotes the case count as shown, never the hidden number.
      if (want.reason !== null) {
        expect(got.reason, want.phecode).toBe(want.reason.replace(/^\d+/, got.n_cases ?? ''));
        if (want.n_cases >= 1 && want.n_cases <= 20) expect(got.reason).toMatch(/^≤20 cases/);
      }
    }
    expect(complementary).toBeGreaterThan(0);
    expect(rows.some((r) => r.reason?.startsWith('≤20 cases'))).toBe(true);
    // The boundaries: 0 and 21 shown, 1–20 hidden.
    const shown = rows.map((r) => r.n_cases);
    expect(shown).toContain('0');
    expect(shown).toContain('21');
    expect(shown).toContain('≤20');
    expect(shown).not.toContain('3');
    expect(shown).not.toContain('19');
    expect(shown).not.toContain('20');
    expect(rows.some((r) => r.n_excluded === '≤20')).toBe(true);
    expect(await readFile(join(out, 'README.txt'), 'utf8')).toMatch(
      /1 to 20 are suppressed and shown as ≤20/,
    );
  });

  it('shows the raw counts with --no-suppress', async () => {
    const out = nextOut();
    await exportPhewas(fx.config, { runId: fx.runId, out, suppress: false });
    const rows = await readCsv(join(out, 'phewas_results.csv'));
    expect(rows.map((r) => r.n_cases)).toEqual(expect.arrayContaining(['3', '19', '0', '20', '21']));
    expect(rows.some((r) => r.n_cases === '≤20')).toBe(false);
    expect(rows.some((r) => r.reason === '3 cases < 20')).toBe(true);
  });
});

describe('Cox PheWAS CSV export', () => {
  it('writes phewas_cox_results.csv beside phewas_results.csv, its counts suppressed as one group, readable by the federated meta reader', async () => {
    const base = {
      predictor_type: 'variant' as const,
      phecode_version: '1.2',
      description: null,
      category: null,
      time_scale: 'age' as const,
      n_prevalent: 40,
      n_excluded: 100,
      person_years: 12345.5,
      p_wald: null,
      zph_p: null,
      zph_global_p: null,
    };
    const coxRows = [
      {
        ...base,
        predictor: '1:100:A:G',
        phecode: '411.4',
        n_events: 150,
        n_censored: 4000,
        n_at_risk: 4150,
        beta: 0.4,
        se: 0.1,
        hazard_ratio: Math.exp(0.4),
        ci_low: Math.exp(0.2),
        ci_high: Math.exp(0.6),
        p: 6e-5,
        neg_log10_p: -Math.log10(6e-5),
        p_score: 7e-5,
        test: 'cox' as const,
        status: 'ok' as const,
        reason: null,
      },
      {
        ...base,
        predictor: '1:100:A:G',
        phecode: '425',
        n_events: 7,
        n_censored: 4143,
        n_at_risk: 4150,
        beta: null,
        se: null,
        hazard_ratio: null,
        ci_low: null,
        ci_high: null,
        p: null,
        neg_log10_p: null,
        p_score: null,
        test: null,
        status: 'too_few_events' as const,
        reason: '7 events < minCases 20',
      },
    ];
    await writeRunResults(fx.config, fx.runId, 'phewas_cox_results', coxRows);
    const out = nextOut();
    const res = await exportPhewas(fx.config, { runId: fx.runId, out });
    expect(res.files).toEqual(['phewas_results.csv', 'phewas_cox_results.csv', 'README.txt']);
    const rows = await readCsv(join(out, 'phewas_cox_results.csv'));
    const few = rows.find((r) => r.phecode === '425');
    expect(few?.n_events).toBe('≤20');
    // n_at_risk − n_censored would give the events back: shown rounded down as >=N
    expect(few?.n_censored).toMatch(/^>=\d+$/);
    expect(few?.n_at_risk).toMatch(/^>=\d+$/);
    expect(few?.reason).toBe('≤20 events < minCases 20');
    expect(rows.find((r) => r.phecode === '411.4')?.n_events).toBe('150');
    expect(await readFile(join(out, 'README.txt'), 'utf8')).toMatch(/log hazard ratio/);
    const read = await readPhewasFile(join(out, 'phewas_cox_results.csv'), { model: 'cox' });
    const ok = read.rows.find((r) => r.phecode === '411.4');
    expect(ok).toMatchObject({ beta: 0.4, se: 0.1, n_cases: 150, n_controls: 4000 });
    expect(read.rows.find((r) => r.phecode === '425')).toMatchObject({ beta: null, n_cases: null });
    await writeRunResults(fx.config, fx.runId, 'phewas_cox_results', []);
  });
});

describe('bad arguments write nothing', () => {
  it('rejects an unknown run, an unknown phenotype and a non-empty output folder', async () => {
    const out = nextOut();
    const acts = createResultsActivities(fx.config);
    await expect(acts.exportRun({ kind: 'phewas', runId: 'nope-0000000000000000', out })).rejects.toThrow(
      /unknown run id "nope-0000000000000000"/,
    );
    await expect(exportPheweb(fx.config, { runId: fx.runId, out, phenotype: 'HDL' })).rejects.toThrow(
      /unknown phenotype "HDL"/,
    );
    expect(existsSync(out)).toBe(false);
    await mkdir(out);
    await writeFile(join(out, 'keep.txt'), 'mine');
    await expect(exportPhewas(fx.config, { runId: fx.runId, out })).rejects.toThrow(/not empty/);
    expect(await readdir(out)).toEqual(['keep.txt']);
    expect((await readdir(outRoot)).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('biobank export (CLI)', () => {
  const bin = resolve(__dirname, '../../bin/biobank.mjs');
  const run = (args: string[]) =>
    promisify(execFile)('node', [bin, ...args], {
      env: { ...process.env, BIOBANK_DATA_DIR: fx.dataDir },
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('exports, and fails with one readable line and exit code 2 on bad arguments', async () => {
    const out = nextOut();
    const ok = await run([
      'export',
      'gwas-ssf',
      '--run',
      fx.runId,
      '--out',
      out,
      '--phenotype',
      'LDL',
      '--assembly',
      'GRCh38',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/LDL: \d+ rows written, 3 left out/);
    const data = join(out, `${fx.runId}_LDL.tsv`);
    expect(checkGwasSsf(data, `${data}-meta.yaml`).errors).toEqual([]);

    const bad = await run(['export', 'pheweb', '--run', 'ldl-gwas-ffffffffffffffff', '--out', nextOut()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error: field --run: unknown run id/m);
    expect(bad.stderr).toContain(`hint: recent runs: ${fx.runId}`);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    const usage = await run(['export', 'csv', '--run', fx.runId, '--out', nextOut()]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('expected one format: gwas-ssf, pheweb, phewas');
    // The README question, through `biobank query` (read-only) as a user would ask it.
    const q = await run(['query', TOP_HIT_PHECODES_SQL, '--format', 'json']);
    expect(q.code).toBe(0);
    const phecodes = (JSON.parse(q.stdout) as { phecode: string; n_cases: number }[]).map((r) => r.phecode);
    expect(phecodes.length).toBeGreaterThan(0);
    for (const code of phecodes) {
      const row = fx.phewas.find((r) => r.predictor === fx.topVariant && r.phecode === code);
      expect(row?.n_cases).toBeGreaterThanOrEqual(100);
    }
    const help = await run(['export', '--help']);
    expect(help.stdout).toContain('--no-suppress');
    expect(help.stdout).toContain('Examples:');
  });
});
