/**
 * Summary statistics from other tools and sites, mapped to one schema for meta-analysis. No
 * individual-level data is read.
 *
 * Formats, detected from the header (or forced with `format`):
 *  - `biobank-engine`: this engine's GWAS export (export/gwas-ssf.ts): GWAS-SSF with the columns
 *    `… n ref_allele` after the mandatory ones, `#NA` for missing, a `-meta.yaml` beside it naming
 *    `analysis_software: biobank-engine …`;
 *  - `gwas-ssf`: the GWAS Catalog summary statistics format (Hayhurst et al. 2023), tab-separated:
 *    `chromosome base_pair_location effect_allele other_allele beta|odds_ratio|hazard_ratio
 *    standard_error [effect_allele_frequency] p_value|neg_log_10_p_value [n]`, `#NA` or `NA` for
 *    missing, chromosome X = 23, Y = 24, MT = 25. With a ratio, β = ln ratio and
 *    `standard_error` is taken to be the SE of ln ratio. The `<file>-meta.yaml` beside the file,
 *    if any, gives the sample size and case/control counts, and its `data_file_md5sum` must
 *    match the file;
 *  - `plink2`: `--glm` output (`.glm.linear`, `.glm.logistic[.hybrid]`, `.glm.firth`), header
 *    `#CHROM POS ID REF ALT [PROVISIONAL_REF?] A1 [OMITTED|AX] [A1_FREQ] … TEST OBS_CT BETA|OR
 *    SE|LOG(OR)_SE … P|LOG10_P ERRCODE`: A1 is the effect allele, the other allele is OMITTED or
 *    AX where written, else whichever of REF/ALT is not A1 (multi-allelic rows need
 *    `cols=+ax`); OR → β = ln OR with LOG(OR)_SE; N = OBS_CT; rows with TEST ≠ ADD (covariates)
 *    or ERRCODE ≠ `.` are dropped; chromosome codes 23–26 are X, Y, XY, MT;
 *  - `regenie`: step 2 output, space-separated, `CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ [INFO] N
 *    TEST BETA SE CHISQ LOG10P [EXTRA]` after optional `##` lines: ALLELE1 is the effect allele,
 *    p = 10^−LOG10P; rows with TEST ≠ ADD or EXTRA containing TEST_FAIL are dropped.
 * Files may be gzipped (detected from the bytes, not the name).
 *
 * The schema (`SUMSTATS_COLUMNS`): chrom (no `chr` prefix; 1–22, X, Y, XY, MT), pos, effect_allele
 * and other_allele (upper case), eaf, beta, se, p, neg_log10_p (exact where p was written below
 * the double-precision floor, e.g. `3.2e-350`; NULL where p was written as 0), n.
 *
 * Validation refuses the whole file, naming file, line and column, and creates nothing:
 * ragged rows; a number that does not parse; a missing chromosome; a position that is not a
 * whole number ≥ 1; alleles that are not strings of A/C/G/T, or equal; and, on rows that are
 * analysed (not dropped for their test or error code), β (or a ratio > 0) that is not finite, SE not > 0 and finite, p outside [0, 1], −log10 p not
 * finite and ≥ 0, EAF outside [0, 1], n negative; and a variant (chrom, pos, allele pair in
 * either order) written twice. Where many rows are bad, the earliest of (up to) 64 of them is
 * named. Rows that are dropped, not refused, are counted by reason: `not_additive_test`,
 * `tool_error`, `missing_estimate` (β, SE or p missing, as tools write for failed tests).
 * The provenance records the file's sha256, size, format, header, rows read, kept and dropped,
 * and the sample size and case/control counts as given (caller, else the metadata file).
 *
 * Reading: DuckDB `read_csv` with explicit types (the numbers DOUBLE, the position BIGINT, p and
 * the rest text), which reports rows it cannot read (ragged, not a number) with their lines;
 * then the checks and the mapping in SQL. DuckDB reads in parallel and keeps no line numbers,
 * so a row refused by a check is found by streaming the file once more for the row's values,
 * only when a file is refused. A gzipped 1,000,000-variant GWAS-SSF file takes about 4 s of CPU.
 *
 * `loadMetaMatrix` joins k loaded tables into the k × m matrices of stats/meta.ts: one variant
 * per (chrom, pos, allele pair up to order and strand), sorted by chromosome and position; a
 * table holding one variant on both strands is refused.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type {
  DuckDBConnection,
  DuckDBDoubleVector,
  DuckDBIntegerVector,
  DuckDBVarCharVector,
} from '@duckdb/node-api';
import { parse as parseYaml } from 'yaml';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { exists } from '../engine/fsutil.js';
import { GWAS_SSF_COLUMNS } from '../schemas/results.js';
import { ALLELE_ABSENT, alleleCoder } from '../stats/meta.js';

export const SUMSTATS_FORMATS = ['biobank-engine', 'gwas-ssf', 'plink2', 'regenie'] as const;
export type SumstatsFormat = (typeof SUMSTATS_FORMATS)[number];

/** The columns of a loaded table, in order. */
export const SUMSTATS_COLUMNS = [
  'chrom',
  'pos',
  'effect_allele',
  'other_allele',
  'eaf',
  'beta',
  'se',
  'p',
  'neg_log10_p',
  'n',
] as const;

/** Why rows were dropped (not refused). */
export const SUMSTATS_DROP_REASONS = ['not_additive_test', 'tool_error', 'missing_estimate'] as const;
export type SumstatsDropReason = (typeof SUMSTATS_DROP_REASONS)[number];

/** The engine's GWAS-SSF export header (schemas/results.ts). */
const ENGINE_HEADER: readonly string[] = GWAS_SSF_COLUMNS;

export interface SumstatsOptions {
  /** DuckDB table to create (must not exist). */
  table: string;
  /** TEMP table (default true). */
  temporary?: boolean;
  /** Force a format instead of detecting it from the header. */
  format?: SumstatsFormat;
  /** Site or stratum label, recorded in the provenance. */
  label?: string;
  /** The file's name in messages (default its path). */
  displayName?: string;
  /** Counts as the sender gives them; they override the metadata file's. */
  sampleSize?: number;
  cases?: number;
  controls?: number;
}

export interface SumstatsProvenance {
  file: string;
  label?: string;
  format: SumstatsFormat;
  sha256: string;
  bytes: number;
  gzip: boolean;
  /** The header's column names. */
  columns: string[];
  /** data rows in the file. */
  rowsRead: number;
  /** rows in the table. */
  rowsKept: number;
  dropped: Record<SumstatsDropReason, number>;
  /** As given (options, else the metadata file); null where not given. */
  sampleSize: number | null;
  cases: number | null;
  controls: number | null;
  /** the largest per-variant n in the kept rows (null if the file has none). */
  maxN: number | null;
  /** the metadata file read, if any. */
  metadataFile?: string;
}

// ---------------------------------------------------------------------------------------------
// Layout: which header column plays which role

interface Layout {
  format: SumstatsFormat;
  delimiter: string;
  /** tokens that mean "missing" (besides an empty field). */
  missing: string[];
  /** chromosome numbers 23–26: GWAS-SSF codes 25 as MT, PLINK as XY (and 26 as MT). */
  chromScheme: 'ssf' | 'plink';
  chrom: number;
  pos: number;
  effect: number;
  other?: number;
  /** plink2 without OMITTED/AX: the other allele is whichever of REF/ALT is not A1. */
  ref?: number;
  alt?: number;
  beta?: number;
  ratio?: number;
  se: number;
  p?: number;
  mlog10p?: number;
  eaf?: number;
  n?: number;
  test?: number;
  errcode?: number;
  extra?: number;
}

/** The format a header belongs to, or undefined. */
export function detectSumstatsFormat(columns: readonly string[]): SumstatsFormat | undefined {
  const has = (c: string) => columns.includes(c);
  if (columns.length === ENGINE_HEADER.length && columns.every((c, i) => c === ENGINE_HEADER[i]))
    return 'biobank-engine';
  if (has('chromosome') && has('base_pair_location') && has('effect_allele')) return 'gwas-ssf';
  if ((has('#CHROM') || has('CHROM')) && has('POS') && has('A1')) return 'plink2';
  if (has('CHROM') && has('GENPOS') && has('ALLELE0') && has('ALLELE1')) return 'regenie';
  return undefined;
}

function layoutOf(
  format: SumstatsFormat,
  columns: string[],
  delimiter: string,
  file: string,
  headerLine: number,
): Layout {
  const find = (...names: string[]) => {
    for (const n of names) {
      const i = columns.indexOf(n);
      if (i >= 0) return i;
    }
    return undefined;
  };
  const need = (...names: string[]) => {
    const i = find(...names);
    if (i === undefined)
      throw new InputError(
        `a ${format} file needs a column ${names.join(' or ')}; the header has: ${columns.join(', ')}`,
        { file, line: headerLine, field: names[0] },
      );
    return i;
  };
  if (format === 'gwas-ssf' || format === 'biobank-engine') {
    const beta = find('beta');
    const p = find('p_value');
    return {
      format,
      delimiter,
      missing: ['#NA', 'NA'],
      chromScheme: 'ssf',
      chrom: need('chromosome'),
      pos: need('base_pair_location'),
      effect: need('effect_allele'),
      other: need('other_allele'),
      beta,
      ratio: beta === undefined ? need('odds_ratio', 'hazard_ratio', 'beta') : undefined,
      se: need('standard_error'),
      p,
      mlog10p: p === undefined ? need('neg_log_10_p_value', 'p_value') : undefined,
      eaf: find('effect_allele_frequency'),
      n: find('n'),
    };
  }
  if (format === 'plink2') {
    const beta = find('BETA');
    const p = find('P');
    const other = find('OMITTED', 'AX');
    return {
      format,
      delimiter,
      missing: ['NA'],
      chromScheme: 'plink',
      chrom: need('#CHROM', 'CHROM'),
      pos: need('POS'),
      effect: need('A1'),
      other,
      ref: other === undefined ? need('REF') : undefined,
      alt: other === undefined ? need('ALT') : undefined,
      beta,
      ratio: beta === undefined ? need('OR', 'BETA') : undefined,
      se: need('SE', 'LOG(OR)_SE'),
      p,
      mlog10p: p === undefined ? need('LOG10_P', 'P') : undefined,
      eaf: find('A1_FREQ'),
      n: find('OBS_CT'),
      test: find('TEST'),
      errcode: find('ERRCODE'),
    };
  }
  return {
    format,
    delimiter,
    missing: ['NA'],
    chromScheme: 'plink',
    chrom: need('CHROM'),
    pos: need('GENPOS'),
    effect: need('ALLELE1'),
    other: need('ALLELE0'),
    beta: need('BETA'),
    se: need('SE'),
    mlog10p: need('LOG10P'),
    eaf: find('A1FREQ'),
    n: find('N'),
    test: find('TEST'),
    extra: find('EXTRA'),
  };
}

// ---------------------------------------------------------------------------------------------
// SQL pieces over the raw columns c0, c1, … (numbers typed by read_csv, the rest text; the
// missing tokens are NULL)

const col = (i: number) => `c${i}`;

/** DuckDB type of each header column as read: the numeric roles DOUBLE, pos BIGINT, the rest VARCHAR. */
function columnTypes(layout: Layout, count: number): string[] {
  const types = new Array<string>(count).fill('VARCHAR');
  for (const i of [layout.beta, layout.ratio, layout.se, layout.mlog10p, layout.eaf, layout.n])
    if (i !== undefined) types[i] = 'DOUBLE';
  types[layout.pos] = 'BIGINT';
  // p stays text: a p written below the double floor (3.2e-350) keeps its exponent
  return types;
}

/** The numeric value of p (text) as SQL. */
const pNum = (layout: Layout) => `TRY_CAST(${col(layout.p as number)} AS DOUBLE)`;

/** SQL for the chromosome name in `raw` in the schema's coding (no `chr`, 23–26 as letters). */
function chromSql(layout: Layout, raw: string): string {
  const c = `upper(regexp_replace(trim(${raw}), '^chr', '', 'i'))`;
  const code25 = layout.chromScheme === 'ssf' ? `'MT'` : `'XY'`;
  return `(CASE WHEN regexp_full_match(${c}, '0*[1-9][0-9]{0,5}') THEN
      (CASE CAST(${c} AS INTEGER) WHEN 23 THEN 'X' WHEN 24 THEN 'Y' WHEN 25 THEN ${code25}
        ${layout.chromScheme === 'plink' ? `WHEN 26 THEN 'MT'` : ''} ELSE CAST(CAST(${c} AS INTEGER) AS VARCHAR) END)
    WHEN ${c} = 'M' THEN 'MT' ELSE ${c} END)`;
}

function effectSql(layout: Layout): string {
  return `upper(trim(${col(layout.effect)}))`;
}

function otherSql(layout: Layout): string {
  if (layout.other !== undefined) return `upper(trim(${col(layout.other)}))`;
  const a1 = `trim(${col(layout.effect)})`;
  const ref = `trim(${col(layout.ref as number)})`;
  const alt = `trim(${col(layout.alt as number)})`;
  return `upper(CASE WHEN strpos(${alt}, ',') > 0 THEN NULL WHEN ${a1} = ${ref} THEN ${alt} WHEN ${a1} = ${alt} THEN ${ref} END)`;
}

/**
 * Strand-canonical, unordered allele pair: `A/G` for A/G, G/A, T/C and C/T (a SNP's four
 * classes by a lookup on the two letters, which is cheaper than string functions on millions of
 * rows); `least/greatest` for longer alleles, which are never strand-flipped.
 */
export function alleleKeySql(effect: string, other: string): string {
  const classes: Record<string, string[]> = {
    'A/C': ['AC', 'CA', 'GT', 'TG'],
    'A/G': ['AG', 'GA', 'CT', 'TC'],
    'A/T': ['AT', 'TA'],
    'C/G': ['CG', 'GC'],
  };
  const when = Object.entries(classes)
    .flatMap(([key, pairs]) => pairs.map((p) => `WHEN '${p}' THEN '${key}'`))
    .join(' ');
  // both alleles are non-empty, so a two-letter concatenation is two single bases
  return `(CASE ${effect} || ${other} ${when} ELSE least(${effect}, ${other}) || '/' || greatest(${effect}, ${other}) END)`;
}

/** Drop reason decided before the numbers are looked at (test and tool error), or NULL. */
function preDropSql(layout: Layout): string {
  const parts: string[] = [];
  if (layout.test !== undefined)
    parts.push(`WHEN trim(${col(layout.test)}) <> 'ADD' THEN 'not_additive_test'`);
  if (layout.errcode !== undefined)
    parts.push(`WHEN coalesce(trim(${col(layout.errcode)}), '.') <> '.' THEN 'tool_error'`);
  if (layout.extra !== undefined)
    parts.push(`WHEN ${col(layout.extra)} LIKE '%TEST_FAIL%' THEN 'tool_error'`);
  return parts.length ? `(CASE ${parts.join(' ')} END)` : 'CAST(NULL AS VARCHAR)';
}

function dropSql(layout: Layout): string {
  const est = layout.beta ?? (layout.ratio as number);
  const p = col(layout.p ?? (layout.mlog10p as number));
  return `coalesce(${preDropSql(layout)}, CASE WHEN ${col(est)} IS NULL OR ${col(layout.se)} IS NULL
    OR ${p} IS NULL THEN 'missing_estimate' END)`;
}

/** SQL naming the first check a row fails, or NULL (see `describeBad` for the names). */
function badRoleSql(layout: Layout): string {
  // most alleles are one base: the IN list spares them the regular expression
  const acgt = (e: string) =>
    `NOT (${e} IN ('A', 'C', 'G', 'T') OR coalesce(regexp_full_match(${e}, '[ACGT]+'), false))`;
  const when: string[] = [
    `WHEN ${col(layout.chrom)} IS NULL THEN 'chrom'`,
    `WHEN ${col(layout.pos)} IS NULL OR ${col(layout.pos)} < 1 THEN 'pos'`,
    `WHEN ${acgt(effectSql(layout))} THEN 'effect'`,
  ];
  if (layout.other !== undefined) when.push(`WHEN ${acgt(otherSql(layout))} THEN 'other'`);
  else {
    const alt = `trim(${col(layout.alt as number)})`;
    when.push(`WHEN strpos(${alt}, ',') > 0 THEN 'multiallelic'`);
    when.push(`WHEN ${otherSql(layout)} IS NULL THEN 'a1'`);
    when.push(`WHEN ${acgt(otherSql(layout))} THEN 'derived_other'`);
  }
  when.push(`WHEN ${effectSql(layout)} = ${otherSql(layout)} THEN 'same'`);
  const analysed = `${preDropSql(layout)} IS NULL`;
  const numeric = (i: number | undefined, role: string, bad: (x: string) => string) => {
    if (i === undefined) return;
    when.push(`WHEN ${analysed} AND ${col(i)} IS NOT NULL AND (${bad(col(i))}) THEN '${role}'`);
  };
  numeric(layout.beta, 'beta', (x) => `NOT isfinite(${x})`);
  numeric(layout.ratio, 'ratio', (x) => `NOT isfinite(${x}) OR ${x} <= 0`);
  numeric(layout.se, 'se', (x) => `NOT isfinite(${x}) OR ${x} <= 0`);
  if (layout.p !== undefined) {
    const x = pNum(layout);
    numeric(layout.p, 'p', () => `${x} IS NULL OR isnan(${x}) OR NOT (${x} BETWEEN 0 AND 1)`);
  }
  numeric(layout.mlog10p, 'mlog10p', (x) => `NOT isfinite(${x}) OR ${x} < 0`);
  numeric(layout.eaf, 'eaf', (x) => `isnan(${x}) OR NOT (${x} BETWEEN 0 AND 1)`);
  numeric(layout.n, 'n', (x) => `NOT isfinite(${x}) OR ${x} < 0`);
  return `(CASE ${when.join('\n    ')} END)`;
}

/** The column and message of a refused row, from its values. */
function describeBad(role: string, layout: Layout, columns: string[], values: unknown[]): [string, string] {
  const show = (i: number) => (values[i] === null ? 'nothing' : JSON.stringify(String(values[i])));
  const at = (i: number, what: string): [string, string] => [columns[i], `${what}, found ${show(i)}`];
  switch (role) {
    case 'chrom':
      return at(layout.chrom, 'the chromosome is missing');
    case 'pos':
      return at(layout.pos, 'the position must be a whole number ≥ 1');
    case 'effect':
      return at(layout.effect, 'the effect allele must be a string of A, C, G, T');
    case 'other':
      return at(layout.other as number, 'the other allele must be a string of A, C, G, T');
    case 'multiallelic':
      return at(
        layout.alt as number,
        'the other allele of a multi-allelic ALT is not written (rerun plink2 --glm with cols=+ax)',
      );
    case 'a1':
      return at(
        layout.effect,
        `A1 is neither REF (${show(layout.ref as number)}) nor ALT (${show(layout.alt as number)})`,
      );
    case 'derived_other': {
      const ref = layout.ref as number;
      const same = String(values[layout.effect]).trim() === String(values[ref]).trim();
      return at(same ? (layout.alt as number) : ref, 'the other allele must be a string of A, C, G, T');
    }
    case 'same':
      return at(layout.effect, 'the effect and other alleles are the same');
    case 'beta':
      return at(layout.beta as number, 'β must be a finite number');
    case 'ratio':
      return at(layout.ratio as number, 'the ratio must be a finite number > 0');
    case 'se':
      return at(layout.se, 'the standard error must be a finite number > 0');
    case 'p':
      return at(layout.p as number, 'p must be a number in [0, 1]');
    case 'mlog10p':
      return at(layout.mlog10p as number, '−log10 p must be a finite number ≥ 0');
    case 'eaf':
      return at(layout.eaf as number, 'the effect allele frequency must be a number in [0, 1]');
    default:
      return at(layout.n as number, 'n must be a finite number ≥ 0');
  }
}

/** SELECT list mapping a raw row (joined to the chromosome map `cm`) to the schema. */
function mappedSql(layout: Layout): string {
  const est = layout.beta !== undefined ? col(layout.beta) : `ln(${col(layout.ratio as number)})`;
  let p: string;
  let mlog10p: string;
  if (layout.p !== undefined) {
    const text = `trim(${col(layout.p)})`;
    const x = pNum(layout);
    const mantissa = `TRY_CAST(regexp_extract(${text}, '^([0-9]*\\.?[0-9]+)[eE]-[0-9]+$', 1) AS DOUBLE)`;
    const exponent = `TRY_CAST(regexp_extract(${text}, '[eE]-([0-9]+)$', 1) AS DOUBLE)`;
    p = x;
    // p written below the double floor (e.g. 3.2e-350) parses as 0: −log10 p from its text
    mlog10p = `(CASE WHEN ${x} > 0 THEN -log10(${x}) WHEN ${x} = 0 AND ${mantissa} > 0
      THEN ${exponent} - log10(${mantissa}) END)`;
  } else {
    mlog10p = col(layout.mlog10p as number);
    p = `pow(10, -${mlog10p})`;
  }
  const opt = (i: number | undefined) => (i === undefined ? 'CAST(NULL AS DOUBLE)' : col(i));
  return `cm.chrom AS chrom, ${col(layout.pos)} AS pos,
    ${effectSql(layout)} AS effect_allele, ${otherSql(layout)} AS other_allele,
    ${opt(layout.eaf)} AS eaf, ${est} AS beta, ${col(layout.se)} AS se, ${p} AS p,
    ${mlog10p} AS neg_log10_p, ${opt(layout.n)} AS n`;
}

// ---------------------------------------------------------------------------------------------
// Files

async function isGzipFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

function lineReader(path: string, gzip: boolean) {
  const raw = createReadStream(path);
  const input = gzip ? raw.pipe(createGunzip()) : raw;
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const close = () => {
    rl.close();
    raw.destroy();
  };
  return { rl, close };
}

/** Leading `##` lines and the header line. */
async function readHead(
  path: string,
  gzip: boolean,
  file: string,
): Promise<{ preamble: number; header: string }> {
  const { rl, close } = lineReader(path, gzip);
  let preamble = 0;
  try {
    for await (const line of rl) {
      if (line.startsWith('##')) {
        preamble++;
        continue;
      }
      return { preamble, header: line.replace(/^\uFEFF/, '') };
    }
  } finally {
    close();
  }
  throw new InputError('empty file: expected a header line', { file, line: preamble + 1 });
}

/** A number's canonical text, as JavaScript prints the double a token parses to. */
function numberText(token: string): string {
  const t = token.trim().toLowerCase();
  if (t === 'inf' || t === '+inf' || t === 'infinity' || t === '+infinity') return 'Infinity';
  if (t === '-inf' || t === '-infinity') return '-Infinity';
  if (t === 'nan') return 'NaN';
  return String(Number(t));
}

/**
 * A row as `locateRows` compares it: every column's value, numbers in canonical text, a missing
 * value '', joined by tabs. `values` are as DuckDB returns them (numbers, bigints, strings, null).
 */
function rowKey(values: readonly unknown[], types: readonly string[]): string {
  return types
    .map((t, i) => {
      const v = values[i];
      if (v === null || v === undefined) return '';
      return t === 'VARCHAR' ? String(v) : String(Number(v));
    })
    .join('\t');
}

/**
 * The data rows (after `skip` lines) that equal one of `rows` (`rowKey` form): line (1-based)
 * and key of each, in file order, up to `limit`.
 */
async function locateRows(
  path: string,
  gzip: boolean,
  layout: Layout,
  skip: number,
  types: readonly string[],
  rows: ReadonlySet<string>,
  limit: number,
): Promise<{ line: number; key: string }[]> {
  const { rl, close } = lineReader(path, gzip);
  const missing = new Set(['', ...layout.missing]);
  const found: { line: number; key: string }[] = [];
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      if (line <= skip || text === '') continue;
      const tokens = text.split(layout.delimiter);
      const key = types
        .map((t, i) => {
          const token = tokens[i] ?? '';
          if (missing.has(token)) return '';
          return t === 'VARCHAR' ? token : numberText(token);
        })
        .join('\t');
      if (rows.has(key)) {
        found.push({ line, key });
        if (found.length >= limit) break;
      }
    }
  } finally {
    close();
  }
  return found;
}

async function hashes(path: string): Promise<{ sha256: string; md5: string }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex') };
}

interface SsfMetadata {
  file: string;
  software?: string;
  md5?: string;
  sampleSize?: number;
  cases?: number;
  controls?: number;
}

/** The GWAS-SSF `<file>-meta.yaml` beside a data file, if there is one. */
async function readSsfMetadata(path: string): Promise<SsfMetadata | undefined> {
  const file = `${path}-meta.yaml`;
  if (!(await exists(file))) return undefined;
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new InputError(`not valid YAML: ${(err as Error).message}`, { file });
  }
  const meta = (doc ?? {}) as Record<string, unknown>;
  const samples = Array.isArray(meta.samples) ? (meta.samples as Record<string, unknown>[]) : [];
  const total = (key: string) => {
    const v = samples.map((s) => s?.[key]).filter((x): x is number => typeof x === 'number');
    return v.length ? v.reduce((a, b) => a + b, 0) : undefined;
  };
  return {
    file,
    software: typeof meta.analysis_software === 'string' ? meta.analysis_software : undefined,
    md5: typeof meta.data_file_md5sum === 'string' ? meta.data_file_md5sum : undefined,
    sampleSize: total('sample_size'),
    cases: total('case_count'),
    controls: total('control_count'),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading one file

let tableSeq = 0;
function scratchName(prefix: string): string {
  tableSeq++;
  return `${prefix}_${process.pid}_${tableSeq}_${Math.floor(Math.random() * 1e9)}`;
}

/** What DuckDB's rejects table says about a row it could not read, in the engine's words. */
function rejectMessage(
  type: string,
  message: string,
  columns: string[],
  types: string[],
  ci: number,
): string {
  if (type === 'MISSING COLUMNS' || type === 'TOO MANY COLUMNS')
    return `expected ${columns.length} values (${message.replace(/^Expected Number of Columns: \d+ Found: /, 'found ')})`;
  if (type === 'CAST') {
    const value = /Could not convert string "(.*)" to/.exec(message)?.[1];
    const what = types[ci] === 'BIGINT' ? 'a whole number' : 'a number';
    return `${columns[ci]} must be ${what}${value === undefined ? '' : `, found ${JSON.stringify(value)}`}`;
  }
  return message;
}

/** What `readSumstats` knows about the file it reads. */
interface ReadContext {
  conn: DuckDBConnection;
  path: string;
  /** the name in messages. */
  file: string;
  gzip: boolean;
  headerLine: number;
  columns: string[];
  layout: Layout;
  /** DuckDB type of each column as read. */
  types: string[];
  /** the raw table (columns c0, c1, …). */
  raw: string;
}

/** The header of a file: its format, layout and column types. */
async function openSumstats(path: string, file: string, format?: SumstatsFormat) {
  const gzip = await isGzipFile(path);
  const { preamble, header } = await readHead(path, gzip, file);
  const delimiter = header.includes('\t') ? '\t' : ' ';
  const columns = header.split(delimiter).map((c) => c.trim());
  const headerLine = preamble + 1;
  const seen = new Set<string>();
  for (const c of columns) {
    if (c === '') throw new InputError('empty column name in the header', { file, line: headerLine });
    if (seen.has(c)) throw new InputError(`duplicate column ${c}`, { file, line: headerLine, field: c });
    seen.add(c);
  }
  let chosen = format ?? detectSumstatsFormat(columns);
  if (!chosen)
    throw new InputError(
      `the header is not one of ${SUMSTATS_FORMATS.join(', ')}: ${columns.join(', ')}`,
      { file, line: headerLine },
      'GWAS-SSF needs chromosome, base_pair_location, effect_allele …; PLINK2 --glm output #CHROM, POS, A1 …; REGENIE CHROM, GENPOS, ALLELE0, ALLELE1 …',
    );
  const meta = chosen === 'gwas-ssf' || chosen === 'biobank-engine' ? await readSsfMetadata(path) : undefined;
  if (chosen === 'gwas-ssf' && !format && meta?.software?.startsWith('biobank-engine'))
    chosen = 'biobank-engine';
  const layout = layoutOf(chosen, columns, delimiter, file, headerLine);
  return { gzip, preamble, headerLine, columns, layout, types: columnTypes(layout, columns.length), meta };
}

/** The earliest lines (up to `limit`) of `rows` (values as selected: a first column, then the raw columns). */
function locate(ctx: ReadContext, rows: unknown[][], limit: number) {
  const keys = new Set(rows.map((r) => rowKey(r.slice(1), ctx.types)));
  return locateRows(ctx.path, ctx.gzip, ctx.layout, ctx.headerLine, ctx.types, keys, limit);
}

/** Refuse the file if DuckDB could not read a row (ragged, not a number): it knows the line. */
async function refuseUnreadable(ctx: ReadContext, rejects: string): Promise<void> {
  const rej = (
    await ctx.conn.runAndReadAll(
      `SELECT line, column_name, error_type, error_message FROM ${rejects} ORDER BY line, column_idx LIMIT 1`,
    )
  ).getRows()[0];
  if (!rej) return;
  // column_name is c<i>; none for a row with too many values
  const named = /^c(\d+)$/.exec(String(rej[1]));
  const ci = named ? Number(named[1]) : ctx.columns.length - 1;
  throw new InputError(rejectMessage(String(rej[2]), String(rej[3]), ctx.columns, ctx.types, ci), {
    file: ctx.file,
    line: Number(rej[0]),
    field: ctx.columns[ci],
  });
}

/** Refuse the file if a row fails a check; the earliest of (up to 64) such rows is named. */
async function refuseBadRows(ctx: ReadContext): Promise<void> {
  const rawCols = ctx.columns.map((_, i) => col(i)).join(', ');
  const bad = (
    await ctx.conn.runAndReadAll(
      `SELECT * FROM (SELECT ${badRoleSql(ctx.layout)} AS bad_role, ${rawCols} FROM ${ctx.raw})
       WHERE bad_role IS NOT NULL LIMIT 64`,
    )
  ).getRows();
  if (bad.length === 0) return;
  const [first] = await locate(ctx, bad, 1);
  const row = bad.find((r) => first !== undefined && rowKey(r.slice(1), ctx.types) === first.key) ?? bad[0];
  const [field, message] = describeBad(String(row[0]), ctx.layout, ctx.columns, row.slice(1));
  throw new InputError(message, { file: ctx.file, line: first?.line, field });
}

/** Refuse the file if `table` (its mapped rows, read from `from`) has a variant twice. */
async function refuseDuplicates(ctx: ReadContext, table: string, from: string): Promise<void> {
  const pair = 'least(effect_allele, other_allele) AS a1, greatest(effect_allele, other_allele) AS a2';
  const dup = (
    await ctx.conn.runAndReadAll(
      `SELECT chrom, pos, a1, a2 FROM (SELECT chrom, pos, ${pair} FROM ${table}) GROUP BY ALL HAVING count(*) > 1 LIMIT 1`,
    )
  ).getRows()[0];
  if (!dup) return;
  const rawCols = ctx.columns.map((_, i) => col(i)).join(', ');
  const rows = (
    await ctx.conn.runAndReadAll(
      `SELECT NULL, ${rawCols} FROM (SELECT ${mappedSql(ctx.layout)}, ${rawCols} FROM ${from} WHERE ${dropSql(ctx.layout)} IS NULL)
       WHERE chrom = $1 AND pos = $2 AND least(effect_allele, other_allele) = $3 AND greatest(effect_allele, other_allele) = $4`,
      [String(dup[0]), Number(dup[1]), String(dup[2]), String(dup[3])],
    )
  ).getRows();
  const lines = (await locate(ctx, rows, 2)).map((f) => f.line);
  throw new InputError(
    `variant ${dup[0]}:${dup[1]} ${dup[2]}/${dup[3]} appears more than once${lines.length > 1 ? ` (first on line ${lines[0]})` : ''}`,
    { file: ctx.file, line: lines[lines.length - 1], field: ctx.columns[ctx.layout.pos] },
  );
}

/** Rows read and dropped by reason. */
async function dropCounts(
  ctx: ReadContext,
): Promise<{ rowsRead: number; dropped: SumstatsProvenance['dropped'] }> {
  const counts = new Map<string, number>(
    (
      await ctx.conn.runAndReadAll(
        `SELECT ${dropSql(ctx.layout)} AS reason, count(*) FROM ${ctx.raw} GROUP BY ALL`,
      )
    )
      .getRows()
      .map((r) => [r[0] === null ? '' : String(r[0]), Number(r[1])]),
  );
  let rowsRead = 0;
  for (const c of counts.values()) rowsRead += c;
  const dropped = Object.fromEntries(SUMSTATS_DROP_REASONS.map((r) => [r, counts.get(r) ?? 0]));
  return { rowsRead, dropped: dropped as SumstatsProvenance['dropped'] };
}

/**
 * Read one summary-statistics file into a new table `options.table` with the columns
 * `SUMSTATS_COLUMNS`. Refuses bad input with an InputError naming file, line and column, and
 * then creates no table.
 */
export async function readSumstats(
  conn: DuckDBConnection,
  path: string,
  options: SumstatsOptions,
): Promise<SumstatsProvenance> {
  const file = options.displayName ?? path;
  if (!(await exists(path))) throw new InputError('no such file', { file });
  const head = await openSumstats(path, file, options.format);
  const { layout, types, meta } = head;
  const [{ size }, sums] = await Promise.all([stat(path), hashes(path)]);
  if (meta?.md5 && meta.md5.toLowerCase() !== sums.md5)
    throw new InputError(
      `data_file_md5sum ${meta.md5} does not match the data file (md5 ${sums.md5})`,
      { file: meta.file, field: 'data_file_md5sum' },
      'the file was changed or truncated after its metadata was written; fetch it again',
    );
  const ctx: ReadContext = { conn, path, file, ...head, raw: scratchName('sumstats_raw') };
  const chroms = scratchName('sumstats_chroms');
  const rejects = scratchName('sumstats_rejects');
  const scans = scratchName('sumstats_scans');
  const target = sqlIdent(options.table);
  let created = false;
  try {
    await conn.run(
      `CREATE TEMP TABLE ${ctx.raw} AS SELECT * FROM read_csv(${sqlString(path)}, delim = ${sqlString(layout.delimiter)},
        header = true, skip = ${head.preamble}, quote = '', escape = '', auto_detect = false,
        columns = {${types.map((t, i) => `${sqlString(col(i))}: '${t}'`).join(', ')}},
        nullstr = [${['', ...layout.missing].map(sqlString).join(', ')}],
        compression = '${head.gzip ? 'gzip' : 'none'}', store_rejects = true, rejects_table = '${rejects}',
        rejects_scan = '${scans}')`,
    );
    await refuseUnreadable(ctx, rejects);
    await refuseBadRows(ctx);
    // chromosome names: few distinct values, normalised once
    await conn.run(
      `CREATE TEMP TABLE ${chroms} AS SELECT raw_chrom, ${chromSql(layout, 'raw_chrom')} AS chrom
       FROM (SELECT DISTINCT ${col(layout.chrom)} AS raw_chrom FROM ${ctx.raw})`,
    );
    const from = `${ctx.raw} JOIN ${chroms} cm ON cm.raw_chrom = ${col(layout.chrom)}`;
    await conn.run(
      `CREATE ${options.temporary === false ? '' : 'TEMP '}TABLE ${target} AS
       SELECT ${mappedSql(layout)} FROM ${from} WHERE ${dropSql(layout)} IS NULL`,
    );
    created = true;
    await refuseDuplicates(ctx, target, from);
    const { rowsRead, dropped } = await dropCounts(ctx);
    const [kept, maxN] = (await conn.runAndReadAll(`SELECT count(*), max(n) FROM ${target}`)).getRows()[0];
    return {
      file,
      label: options.label,
      format: layout.format,
      sha256: sums.sha256,
      bytes: size,
      gzip: head.gzip,
      columns: head.columns,
      rowsRead,
      rowsKept: Number(kept),
      dropped,
      sampleSize: options.sampleSize ?? meta?.sampleSize ?? null,
      cases: options.cases ?? meta?.cases ?? null,
      controls: options.controls ?? meta?.controls ?? null,
      maxN: maxN === null ? null : Number(maxN),
      metadataFile: meta?.file,
    };
  } catch (err) {
    if (created) await conn.run(`DROP TABLE IF EXISTS ${target}`).catch(() => {});
    throw err;
  } finally {
    for (const t of [ctx.raw, chroms, rejects, scans])
      await conn.run(`DROP TABLE IF EXISTS ${t}`).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Joining loaded tables into the meta-analysis matrices

export interface MetaMatrix {
  k: number;
  m: number;
  /** allele codes (stats/meta.ts `alleleCoder` codes; `alleles[code]` is the string), −1 absent. */
  effect: Int32Array;
  other: Int32Array;
  eaf: Float64Array;
  beta: Float64Array;
  se: Float64Array;
  n: Float64Array;
  alleles: string[];
  /** The table of variants: `vid` (0…m−1, the matrices' column), chrom, pos, allele_key. */
  variantsTable: string;
}

/** SQL ordering rank of a chromosome in the schema's coding. */
function chromRankSql(c: string): string {
  return `(CASE WHEN regexp_full_match(${c}, '[0-9]+') THEN CAST(${c} AS INTEGER)
    WHEN ${c} = 'X' THEN 23 WHEN ${c} = 'Y' THEN 24 WHEN ${c} = 'XY' THEN 25 WHEN ${c} = 'MT' THEN 26 ELSE 1000 END)`;
}

/** A table holds one variant on both strands (e.g. A/G and T/C at one position): refuse it. */
async function refuseStrandTwin(
  conn: DuckDBConnection,
  table: string,
  variants: string,
  vid: number,
): Promise<never> {
  const [chrom, pos, key] = (
    await conn.runAndReadAll(`SELECT chrom, pos, allele_key FROM ${variants} WHERE vid = $1`, [vid])
  ).getRows()[0];
  throw new InputError(
    `variant ${chrom}:${pos} ${key} appears twice, once on each strand`,
    { field: table },
    'keep one of the two rows',
  );
}

/**
 * Join k tables written by `readSumstats` on (chrom, pos, allele pair up to order and strand)
 * into k × m input-major matrices (absent entries: alleles −1, numbers NaN), ready for
 * `alignAlleles` / `applyAlignment` / `metaAnalyse`. Creates the TEMP table `variantsTable`.
 */
export async function loadMetaMatrix(
  conn: DuckDBConnection,
  tables: readonly string[],
  variantsTable: string,
): Promise<MetaMatrix> {
  const k = tables.length;
  if (k === 0) throw new RangeError('loadMetaMatrix: no input tables');
  const vt = sqlIdent(variantsTable);
  const all = scratchName('sumstats_all');
  try {
    // every input's rows with their variant key, computed once
    await conn.run(
      `CREATE TEMP TABLE ${all} AS ${tables
        .map(
          (
            t,
            i,
          ) => `SELECT ${i} AS input, chrom, pos, ${alleleKeySql('effect_allele', 'other_allele')} AS allele_key,
            effect_allele, other_allele, eaf, beta, se, n FROM ${sqlIdent(t)}`,
        )
        .join(' UNION ALL ')}`,
    );
    await conn.run(
      `CREATE TEMP TABLE ${vt} AS SELECT CAST(row_number() OVER (ORDER BY ${chromRankSql('chrom')}, chrom, pos, allele_key) - 1 AS INTEGER) AS vid,
         chrom, pos, allele_key FROM (SELECT DISTINCT chrom, pos, allele_key FROM ${all})`,
    );
    return await fillMetaMatrix(conn, tables, all, variantsTable);
  } catch (err) {
    await conn.run(`DROP TABLE IF EXISTS ${vt}`).catch(() => {});
    throw err;
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${all}`).catch(() => {});
  }
}

/** SQL for the `alleleCoder` code of a single-base allele, −2 for a longer one. */
function baseCodeSql(a: string): string {
  return `CAST(CASE ${a} WHEN 'A' THEN 0 WHEN 'C' THEN 1 WHEN 'G' THEN 2 WHEN 'T' THEN 3 ELSE -2 END AS INTEGER)`;
}

async function fillMetaMatrix(
  conn: DuckDBConnection,
  tables: readonly string[],
  all: string,
  variantsTable: string,
): Promise<MetaMatrix> {
  const k = tables.length;
  const vt = sqlIdent(variantsTable);
  const m = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${vt}`)).getRows()[0][0]);
  const coder = alleleCoder();
  const size = k * m;
  const effect = new Int32Array(size).fill(ALLELE_ABSENT);
  const other = new Int32Array(size).fill(ALLELE_ABSENT);
  const eaf = new Float64Array(size).fill(Number.NaN);
  const beta = new Float64Array(size).fill(Number.NaN);
  const se = new Float64Array(size).fill(Number.NaN);
  const n = new Float64Array(size).fill(Number.NaN);
  const result = await conn.stream(
    `SELECT CAST(a.input AS INTEGER), v.vid, ${baseCodeSql('a.effect_allele')}, ${baseCodeSql('a.other_allele')},
       CASE WHEN length(a.effect_allele) > 1 THEN a.effect_allele END,
       CASE WHEN length(a.other_allele) > 1 THEN a.other_allele END,
       a.eaf, a.beta, a.se, a.n
     FROM ${all} a JOIN ${vt} v ON v.chrom = a.chrom AND v.pos = a.pos AND v.allele_key = a.allele_key`,
  );
  for (;;) {
    const chunk = await result.fetchChunk();
    if (!chunk || chunk.rowCount === 0) break;
    const rows = chunk.rowCount;
    const iv = chunk.getColumnVector(0) as DuckDBIntegerVector;
    const vid = chunk.getColumnVector(1) as DuckDBIntegerVector;
    const ev = chunk.getColumnVector(2) as DuckDBIntegerVector;
    const ov = chunk.getColumnVector(3) as DuckDBIntegerVector;
    const el = chunk.getColumnVector(4) as DuckDBVarCharVector;
    const ol = chunk.getColumnVector(5) as DuckDBVarCharVector;
    const fv = chunk.getColumnVector(6) as DuckDBDoubleVector;
    const bv = chunk.getColumnVector(7) as DuckDBDoubleVector;
    const sv = chunk.getColumnVector(8) as DuckDBDoubleVector;
    const nv = chunk.getColumnVector(9) as DuckDBDoubleVector;
    for (let r = 0; r < rows; r++) {
      const input = iv.getItem(r) as number;
      const j = vid.getItem(r) as number;
      const at = input * m + j;
      if (effect[at] !== ALLELE_ABSENT) await refuseStrandTwin(conn, tables[input], vt, j);
      const e = ev.getItem(r) as number;
      const o = ov.getItem(r) as number;
      effect[at] = e === -2 ? coder.code(el.getItem(r)) : e;
      other[at] = o === -2 ? coder.code(ol.getItem(r)) : o;
      beta[at] = bv.getItem(r) ?? Number.NaN;
      se[at] = sv.getItem(r) ?? Number.NaN;
      eaf[at] = fv.getItem(r) ?? Number.NaN;
      n[at] = nv.getItem(r) ?? Number.NaN;
    }
  }
  return { k, m, effect, other, eaf, beta, se, n, alleles: coder.alleles, variantsTable };
}
