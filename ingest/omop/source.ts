/**
 * Reading the CDM files of an OMOP folder into DuckDB, and finding the exact line of a bad row.
 *
 * Format facts relied on:
 * - A CDM table is one file `<table>.csv`, `.tsv`, `.csv.gz`, `.tsv.gz` or `.parquet`
 *   (`OMOP_FILE`, listed by `omopFiles`). CSV is comma-separated with RFC 4180 quotes; TSV is
 *   tab-separated without quoting (as `ingest/ehr/table.ts` reads it). A `.csv` whose header line
 *   has tabs and no comma is read as TSV: the OHDSI Athena vocabulary download (`CONCEPT.csv`)
 *   is tab-separated, unquoted, under a `.csv` name.
 * - The first line is the header. CDM v5.4 column names are lower case; they are matched
 *   case-insensitively (some exports write `PERSON_ID`).
 * - Values are trimmed and the missing tokens (`ehr.missing`, default `NA` and empty) become
 *   NULL, exactly as `openTable` does, so a row's values are the same strings in DuckDB and in
 *   the line scan below. Parquet columns of any type are cast to VARCHAR (DATE → `YYYY-MM-DD`).
 *
 * Speed: the tables are read by DuckDB's parallel CSV/Parquet readers into temp tables (only the
 * columns the engine uses). DuckDB does not number CSV rows, so validation finds bad rows in SQL
 * by value and only then, on that error path, `scanRows` re-reads the file with `openTable`
 * (decompressing `.gz` to a temp file first) to name the line of each: lines are exact, and a
 * valid CDM is never read twice.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import type { OmopTable } from '../../schemas/release.js';
import { openTable, splitCsv } from '../ehr/table.js';

export type CdmKind = 'csv' | 'tsv' | 'parquet';

/** One CDM file as found in the OMOP folder. */
export interface CdmFile {
  table: OmopTable;
  /** Path relative to the manifest (named in errors). */
  file: string;
  path: string;
  kind: CdmKind;
  gzip: boolean;
  /** Column names as written in the header. */
  header: string[];
}

/** The CDM columns the engine reads from one table. */
export interface CdmColumns {
  required: readonly string[];
  optional: readonly string[];
  /** Groups of columns of which at least one must be present. */
  oneOf?: readonly (readonly string[])[];
  /**
   * Parsed columns computed in the same pass (`<SQL over the CDM columns> AS _name`), so the
   * checks and joins that follow do not parse the text again.
   */
  derived?: readonly string[];
}

/** A CDM table loaded into a DuckDB temp table of trimmed VARCHAR columns (plus the derived ones). */
export interface LoadedTable {
  source: CdmFile;
  /** The temp table (quoted). */
  name: string;
  /** Every CDM column of the temp table (absent optional ones are NULL). */
  columns: string[];
  /** CDM column → header column name, for the columns the file has. */
  present: Map<string, string>;
  missing: string[];
  rows: number;
}

/** Whitespace trimmed from values (the characters `String.prototype.trim` removes that occur in tables). */
const TRIM_CHARS = ' \t\r\n\f\v\u00a0\ufeff';
/** SQL regex: a value that starts or ends with one of `TRIM_CHARS`. */
const EDGE_SPACE = sqlString(`^[${TRIM_CHARS}]|[${TRIM_CHARS}]$`);
/** Separator of the values of a row key, and the stand-in for NULL (both never in table text). */
const KEY_SEP = '\u001f';
const KEY_NULL = '\u001e';

/** The header line of a text file (gzip-compressed or plain), without BOM and line end. */
async function headerLine(path: string, gzip: boolean, file: string): Promise<string> {
  const input = createReadStream(path);
  const stream = gzip ? input.pipe(createGunzip()) : input;
  stream.setEncoding('utf8');
  let text = '';
  try {
    for await (const chunk of stream) {
      text += chunk as string;
      if (text.includes('\n') || text.length > 1 << 20) break;
    }
  } catch (err) {
    throw new InputError(`cannot read: ${(err as Error).message}`, { file, line: 1 });
  } finally {
    input.destroy();
    stream.destroy();
  }
  const nl = text.indexOf('\n');
  return (nl >= 0 ? text.slice(0, nl) : text).replace(/\r$/, '').replace(/^\uFEFF/, '');
}

/** Header names of a CSV line (the flat tables' CSV rule) or a TSV line. */
function splitHeader(line: string, kind: 'csv' | 'tsv', file: string): string[] {
  return (kind === 'tsv' ? line.split('\t') : splitCsv(line, file, 1)).map((c) => c.trim());
}

/** Open CDM table `table` at `rel` (relative to `baseDir`): its format and header. */
export async function openCdmFile(
  conn: DuckDBConnection,
  baseDir: string,
  table: OmopTable,
  rel: string,
): Promise<CdmFile> {
  const path = join(baseDir, rel);
  const lower = rel.toLowerCase();
  if (lower.endsWith('.parquet')) {
    let header: string[];
    try {
      const d = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`);
      header = d.getRowObjectsJson().map((r) => String(r.column_name));
    } catch (err) {
      throw new InputError(`cannot read Parquet: ${firstLine(err)}`, { file: rel });
    }
    return { table, file: rel, path, kind: 'parquet', gzip: false, header };
  }
  const gzip = lower.endsWith('.gz');
  let kind: 'csv' | 'tsv' = /\.tsv(\.gz)?$/.test(lower) ? 'tsv' : 'csv';
  const line = await headerLine(path, gzip, rel);
  if (line.trim() === '') throw new InputError('empty file: expected a header line', { file: rel, line: 1 });
  if (kind === 'csv' && line.includes('\t') && !line.includes(',')) kind = 'tsv';
  return { table, file: rel, path, kind, gzip, header: splitHeader(line, kind, rel) };
}

/** The DuckDB table function reading `f` with every column VARCHAR. */
export function readerSql(f: CdmFile): string {
  if (f.kind === 'parquet') return `read_parquet(${sqlString(f.path)})`;
  const columns = `{${f.header.map((h) => `${sqlString(h)}: 'VARCHAR'`).join(', ')}}`;
  const dialect = f.kind === 'csv' ? `delim=',', quote='"', escape='"'` : `delim='\\t', quote='', escape=''`;
  return `read_csv(${sqlString(f.path)}, ${dialect}, header=true, auto_detect=false, columns=${columns},
    nullstr=chr(1), allow_quoted_nulls=false, compression=${f.gzip ? "'gzip'" : "'none'"})`;
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}

/** DuckDB errors that mean a malformed file (others, e.g. out of memory, are rethrown as they are). */
const BAD_FILE = /^(Invalid Input Error|Conversion Error|IO Error: Input is not a GZIP stream)/;

/**
 * A DuckDB read failure of a malformed file as an InputError naming the file (and the line
 * DuckDB names, if any); any other error unchanged.
 */
function readError(err: unknown, file: string): unknown {
  const text = String((err as Error)?.message ?? err);
  if (!BAD_FILE.test(text)) return err;
  const m = /CSV Error on Line: (\d+)/.exec(text);
  const detail = /Expected Number of Columns: \d+ Found: \d+/.exec(text)?.[0];
  const message = detail ?? firstLine(err).replace(/^[A-Za-z ]+Error: /, '');
  return new InputError(`cannot read: ${message}`, { file, line: m ? Number(m[1]) : undefined });
}

/** Header column of each CDM column (matched case-insensitively); InputError on duplicates. */
function columnIndex(f: CdmFile): Map<string, string> {
  const byLower = new Map<string, string>();
  for (const h of f.header) {
    if (h === '') throw new InputError('empty column name in header', { file: f.file, line: 1 });
    const key = h.toLowerCase();
    if (byLower.has(key)) throw new InputError(`duplicate column ${h}`, { file: f.file, line: 1, field: h });
    byLower.set(key, h);
  }
  return byLower;
}

function noColumn(f: CdmFile, name: string, what: string): InputError {
  return new InputError(
    `no column '${name}' (${what}); the header has: ${f.header.join(', ')}`,
    { file: f.file, line: 1, field: name },
    `OMOP CDM v5.4 ${f.table} has a column ${name}`,
  );
}

/**
 * Load the CDM columns `cols` of `f` into temp table `_omop_<table>` (VARCHAR, trimmed, missing
 * tokens NULL). `where` (SQL over the CDM column names) keeps only some rows.
 */
export async function loadCdmTable(
  conn: DuckDBConnection,
  f: CdmFile,
  cols: CdmColumns,
  missing: string[],
  where?: string,
): Promise<LoadedTable> {
  const byLower = columnIndex(f);
  const present = new Map<string, string>();
  for (const c of [...cols.required, ...cols.optional]) {
    const h = byLower.get(c);
    if (h !== undefined) present.set(c, h);
  }
  for (const c of cols.required) if (!present.has(c)) throw noColumn(f, c, `required by ${f.table}`);
  for (const group of cols.oneOf ?? [])
    if (!group.some((c) => present.has(c)))
      throw noColumn(f, group[0], `${f.table} needs ${group.join(' or ')}`);
  const columns = [...cols.required, ...cols.optional];
  const select = columns
    .map((c) => {
      const h = present.get(c);
      if (h === undefined) return `NULL::VARCHAR AS ${sqlIdent(c)}`;
      const v = `CAST(${sqlIdent(h)} AS VARCHAR)`;
      // trim() with a character set is slow; most values need none, and the anchored test is cheap.
      return `CASE WHEN regexp_matches(${v}, ${EDGE_SPACE}) THEN trim(${v}, ${sqlString(TRIM_CHARS)}) ELSE ${v} END AS ${sqlIdent(c)}`;
    })
    .join(', ');
  const clean = columns
    .map((c) =>
      present.has(c)
        ? `CASE WHEN list_contains($1::VARCHAR[], ${sqlIdent(c)}) THEN NULL ELSE ${sqlIdent(c)} END AS ${sqlIdent(c)}`
        : sqlIdent(c),
    )
    .join(', ');
  const name = sqlIdent(`_omop_${f.table}`);
  try {
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE ${name} AS
       SELECT *${(cols.derived ?? []).map((d) => `, ${d}`).join('')}
       FROM (SELECT ${clean} FROM (SELECT ${select} FROM ${readerSql(f)}))
       ${where ? `WHERE ${where}` : ''}`,
      [listValue(missing)],
    );
  } catch (err) {
    throw readError(err, f.file);
  }
  const rows = Number(
    (await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${name}`)).getRowObjectsJS()[0].n,
  );
  return { source: f, name, columns, present, missing, rows };
}

/** The header name of CDM column `c` of `t` (the CDM name when the file lacks it). */
export function fileColumn(t: LoadedTable, c: string): string {
  return t.present.get(c) ?? c;
}

/** SQL: the key of a row of `t` over its present columns (matches `rowKey`). */
export function keySql(t: LoadedTable, alias = ''): string {
  const a = alias ? `${alias}.` : '';
  const parts = [...t.present.keys()].map((c) => `coalesce(${a}${sqlIdent(c)}, ${sqlString(KEY_NULL)})`);
  return `concat_ws(${sqlString(KEY_SEP)}, ${parts.join(', ')})`;
}

/** The key of a scanned row (see `keySql`). */
export function rowKey(t: LoadedTable, value: (c: string) => string | null): string {
  return [...t.present.keys()].map((c) => value(c) ?? KEY_NULL).join(KEY_SEP);
}

/**
 * Read `t`'s file again row by row, in file order, with exact line numbers (header = line 1;
 * Parquet: row number + 1), calling `visit` with each row's CDM column values until it returns
 * true. Only used to name the lines of rows SQL found bad.
 */
export async function scanRows(
  conn: DuckDBConnection,
  t: LoadedTable,
  visit: (value: (c: string) => string | null, line: number) => boolean | undefined,
): Promise<void> {
  const f = t.source;
  let dir: string | undefined;
  try {
    let path = f.path;
    if (f.gzip) {
      dir = await mkdtemp(join(tmpdir(), 'biobank-omop-'));
      path = join(dir, 'table.txt');
      await pipeline(createReadStream(f.path), createGunzip(), createWriteStream(path));
    }
    const table = await openTable(conn, path, f.kind, t.missing, f.file);
    const index = new Map<string, number>();
    for (const [c, h] of t.present) index.set(c, table.columns.indexOf(h));
    for await (const row of table.rows) {
      const value = (c: string): string | null => {
        const i = index.get(c);
        return i === undefined || i < 0 ? null : row.values[i];
      };
      if (visit(value, row.line)) break;
    }
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
