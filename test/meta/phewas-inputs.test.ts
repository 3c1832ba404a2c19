/**
 * The readers of a PheWAS meta-analysis's inputs (meta/phewas-inputs.ts):
 *  - `biobank-phewas` files written by the engine's own exporter (export/phewas.ts, small-cell
 *    rule on): β, SE and p read back exactly; suppressed counts (`≤20`, `>=N`) read as NULL,
 *    never as numbers; a not-tested row kept without β; gzipped the same;
 *  - `phewas-r` files written by R's `write.csv` of a data frame with the columns of the PheWAS
 *    package's `phewas()` result (row names first, NA): the snp is the predictor, variant or column;
 *  - `phetk` results (tab-separated, `standard_error`), non-converged rows kept as not tested,
 *    files without `standard_error` refused;
 *  - every refusal names the file, the line and the column;
 *  - the spec: PheWAS fields, and a GWAS spec's run id pinned to its value before they existed.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../engine/errors.js';
import { canonicalJson, sha256Text } from '../../engine/fsutil.js';
import { recordRun, recordStudy, softwareVersion, writeRunResults } from '../../engine/results.js';
import { runIdFor } from '../../engine/run-paths.js';
import { exportPhewas } from '../../export/phewas.js';
import { type PhewasReadOptions, readPhewasFile, readPhewasInputs } from '../../meta/phewas-inputs.js';
import { metaIdentityOf, parseMetaSpec } from '../../meta/spec.js';
import type { PhewasResultRow } from '../../schemas/results.js';
import { loadConfig } from '../../temporal.config.js';
import { rng } from '../helpers/rng.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'biobank-phewas-inputs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function write(text: string, name = `in${++fileNo}.csv`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function refusal(path: string, options: PhewasReadOptions): Promise<InputError> {
  const err = await readPhewasFile(path, options).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

type Row = Omit<PhewasResultRow, 'run_id'>;

/** A site's PheWAS rows through the engine's own export (a database of its own), as it sends them. */
async function siteExport(name: string, rows: Row[]): Promise<string> {
  const config = loadConfig({
    BIOBANK_DATA_DIR: join(dir, `${name}-db`),
    BIOBANK_DUCKDB_THREADS: '1',
    BIOBANK_DUCKDB_MEMORY: '1GB',
  });
  const specJson = canonicalJson({ site: name });
  const specHash = sha256Text(specJson);
  const fingerprint = sha256Text(`${name} release`);
  const runId = runIdFor({ studyId: name, releaseFingerprint: fingerprint, specHash });
  await recordStudy(config, {
    study_id: name,
    kind: 'genotype-first',
    spec_json: specJson,
    spec_hash: specHash,
    created_at: new Date().toISOString(),
  });
  await recordRun(config, {
    run_id: runId,
    study_id: name,
    release_id: 'r1',
    release_fingerprint: fingerprint,
    spec_hash: specHash,
    phecode_maps_json: '{}',
    software_version: await softwareVersion(),
    status: 'completed',
    started_at: new Date().toISOString(),
    finished_at: new Date().toISOString(),
    timings_json: null,
    workflow_id: name,
    workflow_run_id: null,
    error: null,
  });
  await writeRunResults(config, runId, 'phewas_results', rows);
  const out = join(dir, `${name}-export`);
  await exportPhewas(config, { runId, out });
  return join(out, 'phewas_results.csv');
}

function phewasRow(
  predictor: string,
  phecode: string,
  over: Partial<Row>,
  beta: number | null,
  se: number | null,
): Row {
  const p = beta === null || se === null ? null : Math.min(1, Math.exp(-Math.abs(beta / se)));
  return {
    predictor,
    predictor_type: predictor.includes(':') ? 'variant' : 'burden',
    phecode,
    phecode_version: '1.2',
    description: `phecode ${phecode}`,
    category: 'cat',
    n_cases: 300,
    n_controls: 4000,
    n_excluded: 100,
    beta,
    se,
    odds_ratio: beta === null ? null : Math.exp(beta),
    ci_low: null,
    ci_high: null,
    p,
    neg_log10_p: p === null ? null : -Math.log10(p),
    test: beta === null ? null : 'wald',
    status: beta === null ? 'too_few_cases' : 'ok',
    reason: beta === null ? '8 cases < minCases 20' : null,
    ...over,
  };
}

describe('biobank-phewas (the engine export)', () => {
  let rows: Row[];
  let path: string;
  beforeAll(async () => {
    const { next, normal } = rng(1501);
    rows = [];
    for (const predictor of ['1:1000:A:G', 'GENE1__lof__0.01'])
      for (const phecode of ['250.2', '401.1', '411.4'])
        rows.push(phewasRow(predictor, phecode, {}, 0.3 * normal(), 0.05 + 0.1 * next()));
    rows[1] = { ...rows[1], n_cases: 12, n_controls: 4211, description: 'a "quoted", commaed name' };
    rows.push(phewasRow('1:1000:A:G', '555', { n_cases: 8, n_controls: 4300 }, null, null));
    rows.push(phewasRow('GENE1__lof__0.01', '555', { test: 'score' }, 0.1, 0.2));
    path = await siteExport('siteA', rows);
  });

  it('reads β, SE and p exactly and suppressed counts as NULL', async () => {
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('≤20');
    expect(text).toMatch(/>=4200/);
    const got = await readPhewasFile(path, { model: 'logistic' });
    expect(got.format).toBe('biobank-phewas');
    expect(got.rowsRead).toBe(rows.length);
    expect(got.rowsKept).toBe(rows.length - 1);
    const byKey = new Map(got.rows.map((r) => [`${r.predictor}|${r.phecode}`, r]));
    for (const want of rows) {
      const r = byKey.get(`${want.predictor}|${want.phecode}`);
      expect(r, `${want.predictor} ${want.phecode}`).toBeDefined();
      expect(r?.beta).toBe(want.beta);
      expect(r?.se).toBe(want.se);
      expect(r?.p).toBe(want.p);
      expect(r?.predictor_type).toBe(want.predictor_type);
      expect(r?.description).toBe(want.description);
      expect(r?.test).toBe(want.test);
      const small = want.n_cases <= 20 || want.n_controls <= 20;
      expect(r?.n_cases).toBe(small ? null : want.n_cases);
      expect(r?.n_controls).toBe(small ? null : want.n_controls);
    }
    expect(got.maxN).toBe(4300);
  });

  it('reads the file gzipped the same', async () => {
    const gz = join(dir, 'siteA.csv.gz');
    writeFileSync(gz, gzipSync(readFileSync(path)));
    const a = await readPhewasFile(path, { model: 'logistic' });
    const b = await readPhewasFile(gz, { model: 'logistic' });
    expect(b.rows).toEqual(a.rows);
    expect(b.gzip).toBe(true);
    expect(b.sha256).not.toBe(a.sha256);
  });

  it('refuses a Cox meta-analysis of logistic rows, at the header', async () => {
    const err = await refusal(path, { model: 'cox' });
    expect(err.location).toMatchObject({ file: path, line: 1, field: 'n_cases' });
  });

  it('names file, line and column of every bad value', async () => {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const header = lines[0].split(',');
    const col = (name: string) => header.indexOf(name);
    // a data line (not the quoted one) and the line number it has in the file
    const at = lines.findIndex((l, i) => i > 0 && !l.includes('"') && l.includes(',ok,'));
    const bad = (column: string, value: string, expectMessage: RegExp) => {
      const fields = lines[at].split(',');
      fields[col(column)] = value;
      const copy = [...lines];
      copy[at] = fields.join(',');
      return { text: `${copy.join('\n')}\n`, column, expectMessage };
    };
    const cases = [
      bad('beta', 'abc', /beta must be a finite number, found "abc"/),
      bad('se', '', /se is missing where beta is given/),
      bad('se', '-0.1', /se must be > 0/),
      bad('p', '1.5', /p must be in \[0, 1\]/),
      bad('predictor_type', 'gene', /unknown predictor type "gene"/),
      bad('n_cases', '12a', /n_cases must be a whole number/),
      bad('test', 'lrt', /unknown logistic test "lrt"/),
      bad('phecode', '', /phecode is missing/),
    ];
    for (const c of cases) {
      const p = write(c.text);
      const err = await refusal(p, { model: 'logistic' });
      expect(err.message, c.column).toMatch(c.expectMessage);
      expect(err.location, c.column).toEqual({ file: p, line: at + 1, field: c.column });
    }
    // a status-ok row without an estimate
    const fields = lines[at].split(',');
    fields[col('beta')] = '';
    fields[col('se')] = '';
    const copy = [...lines];
    copy[at] = fields.join(',');
    const p = write(`${copy.join('\n')}\n`);
    expect((await refusal(p, { model: 'logistic' })).message).toMatch(
      /beta is missing in a row with status ok/,
    );
    // ragged
    const ragged = [...lines];
    ragged[at] = lines[at].split(',').slice(0, 5).join(',');
    const pr = write(`${ragged.join('\n')}\n`);
    const err = await refusal(pr, { model: 'logistic' });
    expect(err.message).toMatch(/expected 20 values, found 5/);
    expect(err.location).toMatchObject({ file: pr, line: at + 1 });
    // a duplicate association (alleles swapped is the same variant)
    const dup = [...lines, lines[at].replace('1:1000:A:G', '1:1000:G:A')];
    const pd = write(`${dup.join('\n')}\n`);
    const derr = await refusal(pd, { model: 'logistic' });
    expect(derr.message).toMatch(new RegExp(`appears twice \\(first on line ${at + 1}\\)`));
    expect(derr.location).toEqual({ file: pd, line: dup.length, field: 'phecode' });
  });

  it('counts lines across a quoted field that holds a newline', async () => {
    const p = write(
      [
        'predictor,predictor_type,phecode,description,n_cases,n_controls,beta,se,p,test,status',
        '1:5:A:C,variant,250.2,"two\nlines",100,200,0.1,0.2,0.6,wald,ok',
        '1:5:A:C,variant,401.1,x,100,200,0.1,zero,0.6,wald,ok',
      ].join('\n'),
    );
    const err = await refusal(p, { model: 'logistic' });
    expect(err.location).toEqual({ file: p, line: 4, field: 'se' });
    const ok = await readPhewasFile(
      write(
        'predictor,predictor_type,phecode,description,n_cases,n_controls,beta,se,p,test,status\n1:5:A:C,variant,250.2,"two\nlines",100,200,0.1,0.2,0.6,wald,ok\n',
      ),
      { model: 'logistic' },
    );
    expect(ok.rows[0].description).toBe('two\nlines');
  });

  it('refuses a header of no known format', async () => {
    const p = write('a,b,c\n1,2,3\n');
    const err = await refusal(p, { model: 'logistic' });
    expect(err.message).toMatch(/not one of biobank-phewas, phewas-r, phetk/);
    expect(err.location).toEqual({ file: p, line: 1 });
  });
});

describe('phewas-r (the PheWAS R package, write.csv)', () => {
  it('reads what write.csv writes: phenotype is the phecode, snp the predictor', async () => {
    const path = join(dir, 'phewas-r.csv');
    // the data frame phe_as() builds, row by row, written as a PheWAS user would
    const r = `
      d <- data.frame(phenotype = c("250.2", "401.1", "411.4", "008"),
                      snp = c("1:1000:G:A", "1:1000:G:A", "bmi", "bmi"),
                      adjustment = NA_character_,
                      beta = c(-0.123456789012345, 0.25, 1e-3, NA), SE = c(0.05, 0.1, 2.5e-4, NA),
                      OR = exp(c(-0.123456789012345, 0.25, 1e-3, NA)),
                      p = c(0.0136, 0.0124, 6.3e-5, NA), type = c("logistic", "logistic", "logistic", NA),
                      n_total = c(5000L, 5000L, 4800L, 4800L), n_cases = c(400L, 250L, 120L, NA),
                      n_controls = c(4600L, 4750L, 4680L, NA),
                      HWE_p = c(0.5, 0.5, NA, NA), allele_freq = c(0.2, 0.2, NA, NA), n_no_snp = 0L,
                      note = c("", "", "", "[Error: < 20 cases or controls]"), stringsAsFactors = FALSE)
      write.csv(d, ${JSON.stringify(path)})`;
    execFileSync('Rscript', ['-e', r]);
    const header = readFileSync(path, 'utf8').split('\n')[0];
    expect(header).toBe(
      '"","phenotype","snp","adjustment","beta","SE","OR","p","type","n_total","n_cases","n_controls","HWE_p","allele_freq","n_no_snp","note"',
    );
    const got = await readPhewasFile(path, { model: 'logistic' });
    expect(got.format).toBe('phewas-r');
    expect(got.rows.map((x) => [x.predictor, x.predictor_type, x.phecode])).toEqual([
      ['1:1000:G:A', 'variant', '250.2'],
      ['1:1000:G:A', 'variant', '401.1'],
      ['bmi', 'column', '411.4'],
      ['bmi', 'column', '008'],
    ]);
    expect(got.rows[0]).toMatchObject({
      beta: -0.123456789012345,
      se: 0.05,
      p: 0.0136,
      n_cases: 400,
      n_controls: 4600,
      test: 'wald',
    });
    expect(got.rows[3]).toMatchObject({ beta: null, se: null, p: null, n_cases: null });
    expect(got.rowsKept).toBe(3);
    // a quantitative-trait row cannot join; named by line and column
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[2] = lines[2].replace('"logistic"', '"linear"');
    const bad = write(lines.join('\n'));
    const err = await refusal(bad, { model: 'logistic' });
    expect(err.location).toEqual({ file: bad, line: 3, field: 'type' });
    // and a Cox meta-analysis refuses the file
    expect((await refusal(path, { model: 'cox' })).message).toMatch(/logistic models/);
  });
});

describe('phetk', () => {
  const header =
    'phecode\tcases\tcontrols\tp_value\tneg_log_p_value\tstandard_error\tbeta\tconf_int_1\tconf_int_2\todds_ratio\tlog10_odds_ratio\tconverged\tphecode_sex_restriction\tphecode_string\tphecode_category';
  it('reads standard_error, names the predictor from the spec, keeps non-converged rows untested', async () => {
    const p = write(
      [
        header,
        'GE_960.2\t120\t4000\t0.0012\t2.92\t0.094\t0.305\t0.121\t0.489\t1.357\t0.133\tTrue\tBoth\tType 2 diabetes\tEndocrine',
        'CV_401.1\t300\t3900\t0.5\t0.30\t0.05\t0.033\t-0.065\t0.131\t1.034\t0.014\tFalse\tBoth\tHypertension\tCirculatory',
      ].join('\n'),
      'phetk.tsv',
    );
    const got = await readPhewasFile(p, { model: 'logistic', predictor: '1:1000:A:G' });
    expect(got.format).toBe('phetk');
    expect(got.rows[0]).toMatchObject({
      predictor: '1:1000:A:G',
      predictor_type: 'variant',
      phecode: 'GE_960.2',
      beta: 0.305,
      se: 0.094,
      p: 0.0012,
      n_cases: 120,
      n_controls: 4000,
      description: 'Type 2 diabetes',
    });
    expect(got.rows[1]).toMatchObject({ beta: null, se: null, phecode: 'CV_401.1' });
    expect((await refusal(p, { model: 'logistic' })).message).toMatch(/give the input a "predictor"/);
    expect((await refusal(p, { model: 'cox', predictor: 'x' })).location).toMatchObject({
      line: 1,
      field: 'log_hazard_ratio',
    });
    const old = write(
      `${header.replace('standard_error\t', '')}\nGE_960.2\t120\t4000\t0.0012\t2.92\t0.305\t0.121\t0.489\t1.357\t0.133\tTrue\tBoth\tT2D\tEndocrine\n`,
    );
    const err = await refusal(old, { model: 'logistic', predictor: 'x' });
    expect(err.message).toMatch(/without standard_error/);
    expect(err.location).toEqual({ file: old, line: 1, field: 'standard_error' });
  });
});

describe('the spec', () => {
  const gwasSpec = {
    metaId: 'ldl-meta',
    baseDir: '/somewhere',
    inputs: [
      { path: 'a.tsv.gz', label: 'site A', nCases: 1200, nControls: 5400 },
      { path: 'b.glm.linear', label: 'site B', format: 'plink2' },
    ],
    leadLoci: { p: 5e-8, windowKb: 250 },
  };
  const hashes = ['a'.repeat(64), 'b'.repeat(64)];

  it('keeps the run id a GWAS spec had before kind and model existed', () => {
    // computed with meta/spec.ts before `kind` and `model` were added
    const id = metaIdentityOf(parseMetaSpec(gwasSpec), hashes);
    expect(id.runId).toBe('ldl-meta-192da2575d449233');
    expect(id.specHash).toBe('c075db2817d8a4c71f0ea6dc66cc746d33d4977a7666893706fb6f815b897bb6');
    expect(metaIdentityOf(parseMetaSpec({ ...gwasSpec, kind: 'gwas' }), hashes).runId).toBe(id.runId);
  });

  it('gives PheWAS specs their own ids, and checks formats against the kind', () => {
    const inputs = gwasSpec.inputs.map(({ format: _f, ...x }) => x);
    const phewas = metaIdentityOf(parseMetaSpec({ ...gwasSpec, inputs, kind: 'phewas' }), hashes).runId;
    const cox = metaIdentityOf(
      parseMetaSpec({ ...gwasSpec, inputs, kind: 'phewas', model: 'cox' }),
      hashes,
    ).runId;
    const gwas = metaIdentityOf(parseMetaSpec({ ...gwasSpec, inputs }), hashes).runId;
    expect(new Set([phewas, cox, gwas]).size).toBe(3);
    expect(() => parseMetaSpec({ ...gwasSpec, kind: 'phewas' })).toThrow(
      /inputs\.1\.format: format "plink2" is not one of kind phewas's/,
    );
    expect(() => parseMetaSpec({ ...gwasSpec, model: 'cox' })).toThrow(/model is for kind "phewas" only/);
    expect(() =>
      parseMetaSpec({
        ...gwasSpec,
        inputs: [{ path: 'x', label: 'x', format: 'phetk' }, gwasSpec.inputs[1]],
      }),
    ).toThrow(/inputs\.0\.format/);
  });

  it('reads every input of a spec with its provenance', async () => {
    const a = join(dir, 'spec-a.csv');
    copyFileSync(join(dir, 'siteA-export', 'phewas_results.csv'), a);
    const spec = parseMetaSpec({
      metaId: 'x',
      kind: 'phewas',
      baseDir: dir,
      inputs: [
        { path: 'spec-a.csv', label: 'A', nCases: 999 },
        { path: 'phewas-r.csv', label: 'R', format: 'phewas-r', ancestry: 'AFR' },
      ],
    });
    const { refs, inputs } = await readPhewasInputs(spec);
    expect(refs.map((r) => [r.label, r.format, r.nCases, r.ancestry, r.n])).toEqual([
      ['A', 'biobank-phewas', 999, null, 4300],
      ['R', 'phewas-r', null, 'AFR', 5000],
    ]);
    expect(refs[0].sha256).toBe(sha256Text(readFileSync(a, 'utf8')));
    expect(refs[1].dropped).toEqual({ not_tested: 1 });
    expect(inputs.map((x) => x.rows.length)).toEqual([refs[0].rowsRead, 4]);
  });
});
