/**
 * A checker for GWAS-SSF files written from the published standard, independently of the
 * exporter: "GWAS-SSF: A GWAS Summary Statistics Format" v1.0.0 (EBISPOT/
 * gwas-summary-statistics-standard, gwas-ssf_v1.0.0.tex), Table 1 (summary statistics fields)
 * and Table 2 (metadata fields), and the rules of the GWAS Catalog's validator
 * (EBISPOT/gwas-sumstats-tools, schema/data_table.py) where the table leaves a detail open.
 *
 * Data file:
 * - a TSV (`.tsv`, or `.tsv.gz`); the first line is the header;
 * - columns 0–7 in this order: chromosome, base_pair_location, effect_allele, other_allele,
 *   beta | odds_ratio | hazard_ratio, standard_error, effect_allele_frequency,
 *   p_value | neg_log_10_p_value; more columns may follow;
 * - mandatory fields are filled (no `#NA`); missing values elsewhere are `#NA`;
 * - chromosome an integer 1–25 (X = 23, Y = 24, MT = 25); base_pair_location an integer ≥ 1;
 *   alleles `[ACGT]+` (or `LONG_STRING`); beta numeric; odds/hazard ratio ≥ 0; standard error
 *   numeric; effect allele frequency in [0, 1]; p-value in (0, 1] (0 only with a precision in
 *   the metadata, which we never give), −log10 p ≥ 0;
 * - encouraged columns: rsid `^rs[0-9]+$`, variant_id `[1-25]_[0-9]+_([ACGT]+_[ACGT]+|LONG_STRING)`,
 *   n an integer ≥ 0, ref_allele `EA`/`OA`, info in [0, 1], ci_upper/ci_lower numeric;
 * - sorted by chromosome and position when the metadata says `is_sorted: true`;
 * - no two rows for the same variant (chromosome, position, effect and other allele).
 *
 * Metadata file: YAML named `<data file name>-meta.yaml`, with the mandatory fields of Table 2
 * (genome_assembly, coordinate_system, trait_description, samples[].sample_size,
 * samples[].sample_ancestry_category, genotyping_technology, is_sorted, is_harmonised; case_count
 * and control_count when case_control_study is true) and data_file_name / data_file_md5sum that
 * match the data file.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';

const NA = '#NA';
const MANDATORY = ['chromosome', 'base_pair_location', 'effect_allele', 'other_allele'];
const EFFECT = ['beta', 'odds_ratio', 'hazard_ratio'];
const PVALUE = ['p_value', 'neg_log_10_p_value'];
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^\d+$/;
const ALLELE = /^([ACGT]+|LONG_STRING)$/;

/** True if the decimal text is > 0 and ≤ 1, reading mantissa and exponent (p may be below 1e-308). */
function isProbabilityText(text: string): boolean {
  if (!NUMBER.test(text)) return false;
  const m = /^([+-]?[\d.]+)(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return false;
  const mantissa = Number(m[1]);
  const exponent = Number(m[2] ?? 0);
  if (!(mantissa > 0)) return false;
  const log10 = Math.log10(mantissa) + exponent;
  return log10 <= 1e-12;
}

export interface CheckResult {
  errors: string[];
  rows: number;
}

/** Check a GWAS-SSF data file (and its metadata file, if `metaPath` is given). */
export function checkGwasSsf(dataPath: string, metaPath?: string): CheckResult {
  const errors: string[] = [];
  const fail = (msg: string) => {
    if (errors.length < 50) errors.push(msg);
  };
  const name = basename(dataPath);
  if (!/\.tsv(\.gz)?$/.test(name)) fail(`file name ${name} must end in .tsv or .tsv.gz`);
  const bytes = readFileSync(dataPath);
  const text = (name.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const header = (lines[0] ?? '').split('\t');
  const order = [
    MANDATORY[0],
    MANDATORY[1],
    MANDATORY[2],
    MANDATORY[3],
    EFFECT,
    'standard_error',
    'effect_allele_frequency',
    PVALUE,
  ];
  order.forEach((want, i) => {
    const ok = Array.isArray(want) ? want.includes(header[i]) : header[i] === want;
    if (!ok)
      fail(`header column ${i} is ${header[i]}, expected ${Array.isArray(want) ? want.join(' or ') : want}`);
  });
  if (new Set(header).size !== header.length) fail('header has a repeated column');

  let meta: Record<string, unknown> | undefined;
  if (metaPath) {
    if (basename(metaPath) !== `${name}-meta.yaml`)
      fail(`metadata file ${basename(metaPath)} must be named ${name}-meta.yaml`);
    meta = parseYaml(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
    errors.push(...checkMetadata(meta, name, createHash('md5').update(bytes).digest('hex')));
  }

  const col = (n: string) => header.indexOf(n);
  const seen = new Set<string>();
  let previous: [number, number] | undefined;
  for (let li = 1; li < lines.length; li++) {
    const at = `line ${li + 1}`;
    const f = lines[li].split('\t');
    if (f.length !== header.length) {
      fail(`${at}: ${f.length} fields, header has ${header.length}`);
      continue;
    }
    for (let i = 0; i < 8; i++) {
      if (f[i] === NA || f[i] === '') fail(`${at}: mandatory field ${header[i]} is missing`);
    }
    f.forEach((v, i) => {
      if (v === '' || v === 'NA' || v === 'NaN' || v === 'nan')
        fail(`${at}: ${header[i]} must use #NA for a missing value, found '${v}'`);
    });
    const chrom = f[0];
    if (!INTEGER.test(chrom) || Number(chrom) < 1 || Number(chrom) > 25)
      fail(`${at}: chromosome ${chrom} not in 1-25`);
    if (!INTEGER.test(f[1]) || Number(f[1]) < 1)
      fail(`${at}: base_pair_location ${f[1]} must be an integer >= 1`);
    if (!ALLELE.test(f[2])) fail(`${at}: effect_allele ${f[2]} must be [ACGT]+`);
    if (!ALLELE.test(f[3])) fail(`${at}: other_allele ${f[3]} must be [ACGT]+`);
    if (!NUMBER.test(f[4]) || (header[4] !== 'beta' && Number(f[4]) < 0))
      fail(`${at}: ${header[4]} ${f[4]} invalid`);
    if (!NUMBER.test(f[5])) fail(`${at}: standard_error ${f[5]} must be numeric`);
    if (!NUMBER.test(f[6]) || Number(f[6]) < 0 || Number(f[6]) > 1)
      fail(`${at}: effect_allele_frequency ${f[6]} not in [0,1]`);
    if (header[7] === 'p_value' ? !isProbabilityText(f[7]) : !NUMBER.test(f[7]) || Number(f[7]) < 0)
      fail(`${at}: ${header[7]} ${f[7]} out of range`);
    const opt = (n: string, ok: (v: string) => boolean) => {
      const i = col(n);
      if (i >= 0 && f[i] !== NA && !ok(f[i])) fail(`${at}: ${n} ${f[i]} invalid`);
    };
    opt('rsid', (v) => /^rs[0-9]+$/.test(v));
    opt('variant_id', (v) => /^([1-9]|1\d|2[0-5])_\d+_([ACGT]+_[ACGT]+|LONG_STRING)$/.test(v));
    opt('n', (v) => INTEGER.test(v));
    opt('ref_allele', (v) => v === 'EA' || v === 'OA');
    opt('info', (v) => NUMBER.test(v) && Number(v) >= 0 && Number(v) <= 1);
    opt('ci_upper', (v) => NUMBER.test(v));
    opt('ci_lower', (v) => NUMBER.test(v));
    const key = `${f[0]}:${f[1]}:${f[2]}:${f[3]}`;
    if (seen.has(key)) fail(`${at}: duplicate row for variant ${key}`);
    seen.add(key);
    const here: [number, number] = [Number(f[0]), Number(f[1])];
    if (
      meta?.is_sorted === true &&
      previous &&
      (here[0] < previous[0] || (here[0] === previous[0] && here[1] < previous[1]))
    )
      fail(`${at}: not sorted by chromosome and position although is_sorted is true`);
    previous = here;
  }
  return { errors, rows: Math.max(0, lines.length - 1) };
}

function checkMetadata(meta: Record<string, unknown>, dataName: string, md5: string): string[] {
  const errors: string[] = [];
  const nonEmptyStrings = (v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0);
  if (typeof meta.genome_assembly !== 'string' || !/^(GRCh|NCBI|hg)\d+/.test(meta.genome_assembly))
    errors.push('metadata genome_assembly must be a GRCh/NCBI/UCSC value');
  if (meta.coordinate_system !== '1-based' && meta.coordinate_system !== '0-based')
    errors.push('metadata coordinate_system must be 1-based or 0-based');
  if (!nonEmptyStrings(meta.trait_description)) errors.push('metadata trait_description is mandatory');
  if (!nonEmptyStrings(meta.genotyping_technology))
    errors.push('metadata genotyping_technology is mandatory');
  if (typeof meta.is_sorted !== 'boolean') errors.push('metadata is_sorted must be a boolean');
  if (typeof meta.is_harmonised !== 'boolean') errors.push('metadata is_harmonised must be a boolean');
  if (meta.data_file_name !== dataName)
    errors.push(`metadata data_file_name ${String(meta.data_file_name)} != ${dataName}`);
  if (meta.data_file_md5sum !== md5) errors.push('metadata data_file_md5sum does not match the data file');
  if (typeof meta.file_type !== 'string' || !/^GWAS-SSF v\d/.test(meta.file_type))
    errors.push('metadata file_type must name GWAS-SSF');
  if (meta.sex !== undefined && !['M', 'F', 'combined', NA].includes(meta.sex as string))
    errors.push('metadata sex invalid');
  const samples = meta.samples;
  if (!Array.isArray(samples) || samples.length === 0) errors.push('metadata samples is mandatory');
  else
    samples.forEach((s: Record<string, unknown>, i) => {
      if (!Number.isInteger(s.sample_size) || (s.sample_size as number) < 0)
        errors.push(`metadata samples[${i}].sample_size must be an integer`);
      if (!nonEmptyStrings(s.sample_ancestry_category))
        errors.push(`metadata samples[${i}].sample_ancestry_category is mandatory`);
      if (s.case_control_study === true)
        for (const k of ['case_count', 'control_count'])
          if (!Number.isInteger(s[k]))
            errors.push(`metadata samples[${i}].${k} is mandatory for a case-control study`);
    });
  return errors;
}
