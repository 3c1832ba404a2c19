/**
 * The inputs of a PheWAS meta-analysis (`kind: "phewas"`): other sites' PheWAS or burden-PheWAS
 * results, each read into `AssociationRow`s (meta/phewas.ts) and validated row by row. Nothing
 * individual-level is read. A bad file is refused with an InputError naming the file, the line
 * (1-based, the line a record starts on) and the column; nothing is written.
 *
 * Formats (detected from the header unless the spec's `format` says):
 *  - `biobank-phewas`: this engine's `biobank export phewas` (`phewas_results.csv`, the columns
 *    of `phewas_results`; or the `phewas_cox_results` columns for a Cox PheWAS, cases = n_events,
 *    controls = n_at_risk − n_events). Counts the sender suppressed under the small-cell rule
 *    (`≤20`, and the `>=N` next to one) are read as unknown (NULL), never as numbers; an empty
 *    β / SE / p is a row that was not tested, which a row with status `ok` may not be.
 *  - `phewas-r`: the PheWAS R package's `phewas()` result written with `write.csv` (row names
 *    first, `NA` for missing): `phenotype` is the phecode, `snp` the predictor (type `variant` when
 *    it reads `chrom:pos:a1:a2`, else `column`), `beta` and `SE` the glm's Wald estimate. Rows of
 *    `type` `linear` (a quantitative phenotype) cannot join a logistic meta-analysis and are refused.
 *  - `phetk`: PheTK's results file (tab-separated; `phecode`, `cases`, `controls`, `beta` — or
 *    `log_hazard_ratio` for its Cox model — `standard_error`, `p_value`, `converged`). PheTK has no
 *    predictor column, so the spec's `predictor` names it. Older PheTK files give only a 95% CI
 *    (`conf_int_1`, `conf_int_2`) read from statsmodels' printed summary (three decimals), from
 *    which the SE cannot be recovered to useful precision: such files are refused. PheTK reads
 *    its `standard_error` from the same printed table, so it has about four significant digits.
 *    A row with `converged` false is kept as not tested.
 *
 * Edge cases: β and SE must be both given or both missing; SE > 0; p in [0, 1]; an unknown
 * predictor type, a test of the other model, or an association twice in one file is refused.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InputError } from '../engine/errors.js';
import { exists } from '../engine/fsutil.js';
import { META_PHEWAS_INPUT_FORMATS, type MetaSpec } from '../schemas/meta.js';
import { ASSOCIATION_TESTS, COX_TESTS, PREDICTOR_TYPES } from '../schemas/results.js';
import type { AssociationInput, AssociationRow, MetaPhewasModel } from './phewas.js';
import { inputPath } from './spec.js';

export type PhewasInputFormat = (typeof META_PHEWAS_INPUT_FORMATS)[number];
type PredictorType = AssociationRow['predictor_type'];

/** One PheWAS input's provenance, as `meta_inputs` records it. */
export interface PhewasInputRef {
  index: number;
  label: string;
  format: PhewasInputFormat;
  path: string;
  sha256: string;
  /** Data rows in the file. */
  rowsRead: number;
  /** Rows with a usable β and SE (the rest are kept as not tested). */
  rowsKept: number;
  dropped: { not_tested: number };
  /** As given in the spec; n else the largest per-row cases + controls of the file. */
  n: number | null;
  nCases: number | null;
  nControls: number | null;
  ancestry: string | null;
}

/** What reading one file gives. */
export interface PhewasFileRead {
  format: PhewasInputFormat;
  sha256: string;
  gzip: boolean;
  rows: AssociationRow[];
  rowsRead: number;
  rowsKept: number;
  /** Largest n_cases + n_controls over the rows where both are known. */
  maxN: number | null;
}

export interface PhewasReadOptions {
  model: MetaPhewasModel;
  format?: PhewasInputFormat;
  /** PheTK: the predictor's name and type. */
  predictor?: string;
  predictorType?: PredictorType;
  /** The name in messages (default: the path). */
  file?: string;
  /** The spec field naming the predictor, for the message when PheTK's is missing. */
  predictorField?: string;
}

// ---------------------------------------------------------------------------------------------
// Records

/**
 * Split one CSV/TSV record (RFC 4180 quoting: a field that starts with `"` runs to the next lone
 * `"`, and `""` inside it is a quote).
 */
export function splitRecord(text: string, delimiter: string): string[] {
  if (!text.includes('"')) return text.split(delimiter);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let field = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) {
          field += text.slice(from);
          i = text.length;
          break;
        }
        field += text.slice(from, q);
        if (text[q + 1] === '"') {
          field += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // anything between the closing quote and the delimiter is kept, as written
      const d = text.indexOf(delimiter, i);
      out.push(field + text.slice(i, d < 0 ? text.length : d));
      if (d < 0) return out;
      i = d + 1;
    } else {
      const d = text.indexOf(delimiter, i);
      if (d < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, d));
      i = d + 1;
    }
  }
}

/** Whether a record's quotes are still open at its end (a quoted field holds a newline). */
function openQuote(text: string): boolean {
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text[i] === '"') n++;
  return n % 2 === 1;
}

async function isGzip(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

/**
 * Call `fn` with each record of a file and the line it starts on, hashing the file's bytes
 * (sha256) as they are read.
 */
async function eachRecord(
  path: string,
  gzip: boolean,
  sha: ReturnType<typeof createHash>,
  fn: (line: number, text: string) => void,
): Promise<void> {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  const tee = new PassThrough({ highWaterMark: 1 << 20 });
  raw.on('data', (chunk) => sha.update(chunk as Buffer));
  raw.on('error', (err) => tee.destroy(err));
  raw.pipe(tee);
  const input = gzip ? tee.pipe(createGunzip()) : tee;
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let line = 0;
  let pendingLine = 0;
  let pending: string | null = null;
  try {
    for await (const text of rl) {
      line++;
      if (pending !== null) pending += `\n${text}`;
      else {
        pending = line === 1 ? text.replace(/^\uFEFF/, '') : text;
        pendingLine = line;
      }
      if (pending.includes('"') && openQuote(pending)) continue;
      const record = pending;
      pending = null;
      fn(pendingLine, record);
    }
    if (pending !== null) fn(pendingLine, pending);
  } finally {
    rl.close();
    raw.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Formats

/** The columns each format needs (a header with all of one set is that format). */
const REQUIRED: Record<PhewasInputFormat, string[]> = {
  'biobank-phewas': ['predictor', 'predictor_type', 'phecode', 'beta', 'se', 'p'],
  'phewas-r': ['phenotype', 'snp', 'beta', 'SE', 'p'],
  phetk: ['phecode', 'cases', 'controls', 'p_value', 'neg_log_p_value'],
};

/** The format of a header, or undefined. */
export function detectPhewasFormat(columns: readonly string[]): PhewasInputFormat | undefined {
  const has = new Set(columns);
  return META_PHEWAS_INPUT_FORMATS.find((f) => REQUIRED[f].every((c) => has.has(c)));
}

/** A header's columns by name. */
type Columns = Map<string, number>;

interface Mapper {
  /** Map one record's fields (checked) to a row. */
  row(get: Getter): AssociationRow;
}

/** Field access of one record, with the file, line and column in every error. */
class Getter {
  constructor(
    private readonly fields: string[],
    private readonly cols: Columns,
    private readonly file: string,
    readonly line: number,
    private readonly missing: ReadonlySet<string>,
  ) {}

  fail(column: string, message: string): never {
    throw new InputError(message, { file: this.file, line: this.line, field: column });
  }

  has(column: string): boolean {
    return this.cols.has(column);
  }

  /** The field's text; null when the column is absent or the value missing. */
  text(column: string): string | null {
    const i = this.cols.get(column);
    if (i === undefined) return null;
    const v = this.fields[i];
    return v === undefined || this.missing.has(v) ? null : v;
  }

  required(column: string): string {
    const v = this.text(column);
    if (v === null || v.trim() === '') this.fail(column, `${column} is missing`);
    return v;
  }

  /** A finite number, or null when missing. */
  number(column: string): number | null {
    const v = this.text(column);
    if (v === null || v.trim() === '') return null;
    const t = v.trim();
    const x = Number(t);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || !Number.isFinite(x))
      this.fail(column, `${column} must be a finite number, found ${JSON.stringify(v)}`);
    return x;
  }

  /** A person count: a whole number ≥ 0; a suppressed one (`≤20`, `>=40`) or missing is null. */
  count(column: string): number | null {
    const v = this.text(column);
    if (v === null || v.trim() === '') return null;
    const t = v.trim();
    if (/^(≤|<=|<)\s*\d+$/.test(t) || /^(≥|>=|>)\s*\d+$/.test(t)) return null;
    if (!/^\d+(\.0*)?$/.test(t))
      this.fail(
        column,
        `${column} must be a whole number ≥ 0 (or a suppressed count such as ≤20), found ${JSON.stringify(v)}`,
      );
    return Number.parseInt(t, 10);
  }
}

const VARIANT_NAME = /^[^:\s]+:\d+:[^:\s]+:[^:\s]+$/;

function biobankMapper(model: MetaPhewasModel, cols: Columns, file: string, headerLine: number): Mapper {
  const cox = cols.has('n_events') || cols.has('n_at_risk');
  const need = cox ? ['n_events', 'n_at_risk'] : ['n_cases', 'n_controls'];
  for (const c of need)
    if (!cols.has(c))
      throw new InputError(`biobank-phewas header lacks column ${c}`, { file, line: headerLine, field: c });
  if (cox !== (model === 'cox'))
    throw new InputError(
      `these are ${cox ? 'Cox (phewas_cox_results)' : 'logistic (phewas_results)'} rows but the spec's model is ${model}`,
      { file, line: headerLine, field: need[0] },
      `set "model": "${cox ? 'cox' : 'logistic'}" in the spec, or send the other table`,
    );
  const tests: readonly string[] = cox ? COX_TESTS : ASSOCIATION_TESTS;
  return {
    row(g) {
      const predictor = g.required('predictor');
      const type = g.required('predictor_type');
      if (!(PREDICTOR_TYPES as readonly string[]).includes(type))
        g.fail(
          'predictor_type',
          `unknown predictor type ${JSON.stringify(type)} (expected ${PREDICTOR_TYPES.join(', ')})`,
        );
      const test = g.text('test');
      if (test !== null && test !== '' && !tests.includes(test))
        g.fail('test', `unknown ${model} test ${JSON.stringify(test)} (expected ${tests.join(', ')})`);
      let nCases: number | null;
      let nControls: number | null;
      if (cox) {
        nCases = g.count('n_events');
        const atRisk = g.count('n_at_risk');
        nControls = nCases === null || atRisk === null ? null : atRisk - nCases;
        if (nControls !== null && nControls < 0) g.fail('n_at_risk', 'n_at_risk is smaller than n_events');
      } else {
        nCases = g.count('n_cases');
        nControls = g.count('n_controls');
      }
      const status = g.text('status');
      return estimate(g, {
        predictor,
        predictor_type: type as PredictorType,
        phecode: g.required('phecode'),
        description: g.text('description') || null,
        category: g.text('category') || null,
        n_cases: nCases,
        n_controls: nControls,
        test: test || null,
        names: { beta: 'beta', se: 'se', p: 'p' },
        mustBeTested: status === 'ok',
      });
    },
  };
}

function phewasRMapper(model: MetaPhewasModel, file: string, headerLine: number): Mapper {
  if (model === 'cox')
    throw new InputError(
      'the PheWAS R package fits logistic models: its rows cannot join a Cox meta-analysis',
      {
        file,
        line: headerLine,
      },
    );
  return {
    row(g) {
      const type = g.text('type');
      if (type !== null && type !== 'logistic')
        g.fail(
          'type',
          `a ${JSON.stringify(type)} row cannot join a logistic meta-analysis (expected logistic or NA)`,
        );
      const predictor = g.required('snp');
      return estimate(g, {
        predictor,
        predictor_type: VARIANT_NAME.test(predictor) ? 'variant' : 'column',
        phecode: g.required('phenotype'),
        description: g.text('description') || null,
        category: g.text('group') || null,
        n_cases: g.count('n_cases'),
        n_controls: g.count('n_controls'),
        test: 'wald',
        names: { beta: 'beta', se: 'SE', p: 'p' },
        mustBeTested: false,
      });
    },
  };
}

function phetkMapper(
  model: MetaPhewasModel,
  cols: Columns,
  file: string,
  headerLine: number,
  options: PhewasReadOptions,
): Mapper {
  const betaCol = model === 'cox' ? 'log_hazard_ratio' : 'beta';
  const other = model === 'cox' ? 'beta' : 'log_hazard_ratio';
  if (!cols.has(betaCol))
    throw new InputError(
      cols.has(other)
        ? `PheTK ${model === 'cox' ? 'logistic' : 'Cox'} results (column ${other}) but the spec's model is ${model}`
        : `PheTK header lacks column ${betaCol}`,
      { file, line: headerLine, field: betaCol },
    );
  if (!cols.has('standard_error'))
    throw new InputError(
      'PheTK results without standard_error: the SE cannot be recovered precisely from conf_int_1/conf_int_2 (printed to three decimals)',
      { file, line: headerLine, field: 'standard_error' },
      'rerun the PheWAS with PheTK 0.2 or later, which writes standard_error',
    );
  const predictor = options.predictor;
  if (predictor === undefined)
    throw new InputError(
      'PheTK results name no predictor: give the input a "predictor" (as the other inputs name it)',
      { file, field: options.predictorField ?? 'predictor' },
    );
  const type: PredictorType = options.predictorType ?? (VARIANT_NAME.test(predictor) ? 'variant' : 'column');
  return {
    row(g) {
      const converged = g.text('converged');
      const notConverged = converged !== null && /^(false|0)$/i.test(converged.trim());
      const row = estimate(g, {
        predictor,
        predictor_type: type,
        phecode: g.required('phecode'),
        description: g.text('phecode_string') || null,
        category: g.text('phecode_category') || null,
        n_cases: g.count('cases'),
        n_controls: g.count('controls'),
        test: null,
        names: { beta: betaCol, se: 'standard_error', p: 'p_value' },
        mustBeTested: false,
      });
      return notConverged ? { ...row, beta: null, se: null, p: null } : row;
    },
  };
}

/** β, SE and p of a row, checked: both or neither of β and SE; SE > 0; p in [0, 1]. */
function estimate(
  g: Getter,
  r: Omit<AssociationRow, 'beta' | 'se' | 'p'> & {
    names: { beta: string; se: string; p: string };
    mustBeTested: boolean;
  },
): AssociationRow {
  const { names, mustBeTested } = r;
  const beta = g.number(names.beta);
  const se = g.number(names.se);
  const p = g.number(names.p);
  if ((beta === null) !== (se === null))
    g.fail(
      beta === null ? names.beta : names.se,
      `${beta === null ? names.beta : names.se} is missing where ${beta === null ? names.se : names.beta} is given`,
    );
  if (mustBeTested && beta === null) g.fail(names.beta, `${names.beta} is missing in a row with status ok`);
  if (se !== null && !(se > 0)) g.fail(names.se, `${names.se} must be > 0, found ${se}`);
  if (p !== null && (p < 0 || p > 1)) g.fail(names.p, `${names.p} must be in [0, 1], found ${p}`);
  return {
    predictor: r.predictor,
    predictor_type: r.predictor_type,
    phecode: r.phecode,
    description: r.description,
    category: r.category,
    n_cases: r.n_cases,
    n_controls: r.n_controls,
    beta,
    se,
    p,
    test: r.test,
  };
}

/** The matching key of a row (as meta/phewas.ts matches), for duplicate checks. */
function rowKey(row: AssociationRow): string {
  const m = row.predictor_type === 'variant' ? /^(.+):(\d+):([^:]+):([^:]+)$/.exec(row.predictor) : null;
  if (m) return `v|${m[1]}:${m[2]}:${[m[3], m[4]].sort().join(':')}|${row.phecode}`;
  const name = row.predictor_type === 'burden' ? row.predictor.replaceAll('/', '__') : row.predictor;
  return `${row.predictor_type}|${name}|${row.phecode}`;
}

function mapperOf(
  format: PhewasInputFormat,
  cols: Columns,
  file: string,
  headerLine: number,
  options: PhewasReadOptions,
): Mapper {
  const missing = REQUIRED[format].find((c) => !cols.has(c));
  if (missing)
    throw new InputError(`the ${format} header lacks column ${missing}`, {
      file,
      line: headerLine,
      field: missing,
    });
  if (format === 'biobank-phewas') return biobankMapper(options.model, cols, file, headerLine);
  if (format === 'phewas-r') return phewasRMapper(options.model, file, headerLine);
  return phetkMapper(options.model, cols, file, headerLine, options);
}

/** Missing-value tokens per format (`write.csv` writes NA; DuckDB's CSV an empty field). */
const MISSING: Record<PhewasInputFormat, ReadonlySet<string>> = {
  'biobank-phewas': new Set(['']),
  'phewas-r': new Set(['', 'NA']),
  phetk: new Set(['', 'NA', 'null', 'NaN', 'nan']),
};

/** The header's columns by name; duplicate names refused; R's unnamed row-names column allowed first. */
function headerColumns(fields: string[], file: string, line: number): Columns {
  const cols: Columns = new Map();
  fields.forEach((raw, i) => {
    const c = raw.trim();
    if (c === '') {
      if (i === 0) return;
      throw new InputError(`empty column name (column ${i + 1}) in the header`, { file, line });
    }
    if (cols.has(c)) throw new InputError(`duplicate column ${c}`, { file, line, field: c });
    cols.set(c, i);
  });
  return cols;
}

/**
 * Read one PheWAS results file (CSV or TSV, gzipped or not). Throws InputError naming the file,
 * line and column of the first bad value.
 */
export async function readPhewasFile(path: string, options: PhewasReadOptions): Promise<PhewasFileRead> {
  const file = options.file ?? path;
  if (!(await exists(path))) throw new InputError('no such file', { file });
  const gzip = await isGzip(path);
  const sha = createHash('sha256');
  let header: { cols: Columns; width: number; delimiter: string; line: number } | null = null;
  let format: PhewasInputFormat | undefined;
  let mapper: Mapper | null = null;
  const rows: AssociationRow[] = [];
  const seen = new Map<string, number>();
  let rowsKept = 0;
  let maxN: number | null = null;
  await eachRecord(path, gzip, sha, (line, text) => {
    const rec = { line, text };
    if (header === null) {
      if (rec.text.trim() === '') return;
      const delimiter = rec.text.includes('\t') ? '\t' : ',';
      const fields = splitRecord(rec.text, delimiter);
      const cols = headerColumns(fields, file, rec.line);
      format = options.format ?? detectPhewasFormat([...cols.keys()]);
      if (!format)
        throw new InputError(
          `the header is not one of ${META_PHEWAS_INPUT_FORMATS.join(', ')}: ${[...cols.keys()].join(', ')}`,
          { file, line: rec.line },
          'biobank-phewas needs predictor, predictor_type, phecode, beta, se, p; phewas-r phenotype, snp, beta, SE, p; phetk phecode, cases, controls, p_value, neg_log_p_value',
        );
      mapper = mapperOf(format, cols, file, rec.line, options);
      header = { cols, width: fields.length, delimiter, line: rec.line };
      return;
    }
    if (rec.text === '') return;
    const fields = splitRecord(rec.text, header.delimiter);
    if (fields.length !== header.width)
      throw new InputError(`expected ${header.width} values, found ${fields.length}`, {
        file,
        line: rec.line,
        field: [...header.cols.keys()][Math.min(fields.length, header.width) - 1],
      });
    const g = new Getter(fields, header.cols, file, rec.line, MISSING[format as PhewasInputFormat]);
    const row = (mapper as Mapper).row(g);
    const key = rowKey(row);
    const before = seen.get(key);
    if (before !== undefined)
      throw new InputError(
        `${row.predictor} × phecode ${row.phecode} appears twice (first on line ${before})`,
        { file, line: rec.line, field: format === 'phewas-r' ? 'phenotype' : 'phecode' },
      );
    seen.set(key, rec.line);
    rows.push(row);
    if (row.beta !== null) rowsKept++;
    if (row.n_cases !== null && row.n_controls !== null)
      maxN = Math.max(maxN ?? 0, row.n_cases + row.n_controls);
  });
  // (assigned in the callback, which control-flow analysis does not follow)
  const found = format as PhewasInputFormat | undefined;
  if (found === undefined) throw new InputError('empty file: expected a header line', { file, line: 1 });
  return {
    format: found,
    sha256: sha.digest('hex'),
    gzip,
    rows,
    rowsRead: rows.length,
    rowsKept,
    maxN: maxN as number | null,
  };
}

/** A spec's format field as a PheWAS format (the spec schema allows only these for kind phewas). */
function phewasFormat(format: MetaSpec['inputs'][number]['format']): PhewasInputFormat | undefined {
  return (META_PHEWAS_INPUT_FORMATS as readonly string[]).includes(format ?? '')
    ? (format as PhewasInputFormat)
    : undefined;
}

/**
 * Read and validate every input of a `kind: "phewas"` spec, in spec order. `sha256`, when given,
 * is checked against what was read (a file changed since it was hashed is an error).
 */
export async function readPhewasInputs(
  spec: MetaSpec,
  sha256?: readonly string[],
  onInput?: (i: number) => void,
): Promise<{ refs: PhewasInputRef[]; inputs: AssociationInput[] }> {
  const refs: PhewasInputRef[] = [];
  const inputs: AssociationInput[] = [];
  for (let i = 0; i < spec.inputs.length; i++) {
    onInput?.(i);
    const input = spec.inputs[i];
    const path = inputPath(spec, i);
    const got = await readPhewasFile(path, {
      model: spec.model,
      format: phewasFormat(input.format),
      predictor: input.predictor,
      predictorType: input.predictorType,
      predictorField: `inputs.${i}.predictor`,
    });
    if (sha256 && sha256[i] !== got.sha256)
      throw new Error(`${path} changed while it was read (sha256 ${got.sha256}, expected ${sha256[i]})`);
    refs.push({
      index: i,
      label: input.label,
      format: got.format,
      path,
      sha256: got.sha256,
      rowsRead: got.rowsRead,
      rowsKept: got.rowsKept,
      dropped: { not_tested: got.rowsRead - got.rowsKept },
      n: input.n ?? got.maxN,
      nCases: input.nCases ?? null,
      nControls: input.nControls ?? null,
      ancestry: input.ancestry ?? null,
    });
    inputs.push({ label: input.label, rows: got.rows });
  }
  return { refs, inputs };
}
