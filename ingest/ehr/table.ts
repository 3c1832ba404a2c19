/**
 * Reading a user table (csv, tsv, whitespace-delimited, Parquet) row by row as strings,
 * with the line number of every row so errors can name it. Text formats are parsed here
 * (so the line number is exact); Parquet goes through DuckDB with every column cast to
 * VARCHAR (its "line" is the 1-based row number plus one for a notional header).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import type { TableFormat } from '../../schemas/release.js';

export interface TableRow {
  /** 1-based line of the row in the file (header is line 1). */
  line: number;
  /** Values in header order; `null` for missing tokens. */
  values: Array<string | null>;
}

export interface OpenTable {
  columns: string[];
  rows: AsyncGenerator<TableRow>;
}

/** Split one CSV line (RFC 4180 quotes, no embedded newlines). */
export function splitCsv(line: string, file: string, lineNo: number): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) throw new InputError('unterminated quoted value', { file, line: lineNo });
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            v += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        v += line[i++];
      }
      out.push(v);
      if (i < line.length && line[i] !== ',')
        throw new InputError('text after a closing quote', {
          file,
          line: lineNo,
          field: `column ${out.length}`,
        });
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? line.length : comma;
      out.push(line.slice(i, end));
      i = end;
    }
    if (i >= line.length) break;
    i++; // past the comma
    if (i === line.length) {
      out.push('');
      break;
    }
  }
  return out;
}

function splitter(
  format: Exclude<TableFormat, 'parquet'>,
  file: string,
): (line: string, n: number) => string[] {
  if (format === 'tsv') return (line) => line.split('\t');
  if (format === 'whitespace') return (line) => line.trim().split(/\s+/);
  return (line, n) => splitCsv(line, file, n);
}

/**
 * Open a table. The header's column names are checked for duplicates; every row must
 * have as many values as the header.
 * @param missing tokens that become null (compared after trimming)
 */
export async function openTable(
  conn: DuckDBConnection,
  path: string,
  format: TableFormat,
  missing: string[],
  displayName: string,
): Promise<OpenTable> {
  const isMissing = new Set(missing);
  const norm = (v: string | null): string | null => {
    if (v === null) return null;
    const t = v.trim();
    return isMissing.has(t) ? null : t;
  };
  if (format === 'parquet') {
    const d = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`);
    const columns = d.getRowObjectsJson().map((r) => String(r.column_name));
    checkColumns(columns, displayName);
    const select = columns.map((c) => `CAST(${sqlIdent(c)} AS VARCHAR) AS ${sqlIdent(c)}`).join(', ');
    // The rows stream from a DuckDB instance of their own: a stream on the caller's connection
    // ends early (after 204,800 rows) once the caller's appender flushes on that connection.
    async function* rows(): AsyncGenerator<TableRow> {
      const own = await DuckDBInstance.create(':memory:', { threads: '1' });
      const reader = await own.connect();
      try {
        const result = await reader.stream(`SELECT ${select} FROM read_parquet(${sqlString(path)})`);
        let line = 1;
        for (;;) {
          const chunk = await result.fetchChunk();
          if (!chunk || chunk.rowCount === 0) break;
          for (const r of chunk.getRows()) {
            line++;
            yield { line, values: r.map((v) => norm(v === null ? null : String(v))) };
          }
        }
      } finally {
        reader.closeSync();
        own.closeSync();
      }
    }
    return { columns, rows: rows() };
  }
  const split = splitter(format, displayName);
  const rl = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  const it = rl[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done || first.value.trim() === '') {
    rl.close();
    throw new InputError('empty file: expected a header line', { file: displayName, line: 1 });
  }
  const columns = split(first.value.replace(/^\uFEFF/, ''), 1).map((c) => c.trim());
  checkColumns(columns, displayName);
  async function* rows(): AsyncGenerator<TableRow> {
    let line = 1;
    try {
      for (;;) {
        const next = await it.next();
        if (next.done) break;
        line++;
        const text = next.value;
        if (text.trim() === '') continue;
        const values = split(text, line);
        if (values.length !== columns.length)
          throw new InputError(`expected ${columns.length} values, found ${values.length}`, {
            file: displayName,
            line,
            field: values.length > columns.length ? `column ${columns.length + 1}` : columns[values.length],
          });
        yield { line, values: values.map(norm) };
      }
    } finally {
      rl.close();
    }
  }
  return { columns, rows: rows() };
}

function checkColumns(columns: string[], file: string): void {
  const seen = new Set<string>();
  for (const c of columns) {
    if (c === '') throw new InputError('empty column name in header', { file, line: 1 });
    if (seen.has(c)) throw new InputError(`duplicate column ${c}`, { file, line: 1, field: c });
    seen.add(c);
  }
}

/** Index of column `name` in `columns`; InputError naming the manifest setting if absent. */
export function requireColumn(columns: string[], name: string, file: string, setting: string): number {
  const i = columns.indexOf(name);
  if (i < 0)
    throw new InputError(
      `no column '${name}' (${setting}); the header has: ${columns.join(', ')}`,
      { file, line: 1, field: name },
      'map the column in the manifest, e.g. "columns": { "sex": "SEX" }',
    );
  return i;
}
