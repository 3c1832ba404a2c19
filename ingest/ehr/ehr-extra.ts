/**
 * The user's extra EHR tables (`tables/<name>.parquet`): every column kept, each typed DOUBLE or
 * VARCHAR by the share of its values that are numbers (`NUMERIC_COLUMN_MIN_SHARE`).
 */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { type ExtraTable, missingTokens } from '../../schemas/release.js';
import type { Birth, RowErrors } from './ehr-rows.js';
import { put, writeTable } from './ehr-write.js';
import { openTable, requireColumn } from './table.js';

/**
 * A user column is numeric when at least this share of its present (non-missing) values are
 * numbers. Its other values are bad values: without `--quarantine` the ingest fails naming the
 * first one (file, line, column) and how many there are; with it, their rows go to
 * `rejects.parquet`. Below the share the column is text, kept as written. The manifest's
 * `types` overrides the rule per column. See docs/ARCHITECTURE.md (Release layout).
 */
export const NUMERIC_COLUMN_MIN_SHARE = 0.99;

/** A decimal number as written in a table: sign, digits, optional fraction and exponent. */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function isNumber(v: string): boolean {
  return NUMBER.test(v) && Number.isFinite(Number(v));
}

/** What the first pass saw in one column. */
interface ColumnTally {
  present: number;
  numbers: number;
  /** First value that is not a number, and its line. */
  firstOther: { line: number; value: string } | null;
}

/** Share of a count, for messages: "2,318 of 2,319 (99.96 %)". */
function ofPresent(n: number, present: number): string {
  return `${n.toLocaleString('en-US')} of ${present.toLocaleString('en-US')} present values (${((100 * n) / present).toFixed(2)} %)`;
}

/**
 * An extra table: every column kept, the id column renamed `person_id`, missing tokens
 * NULL; a column is DOUBLE by the rule of `NUMERIC_COLUMN_MIN_SHARE` (or the manifest's
 * `types`), else VARCHAR. Two passes over the file: one to type the columns, one to write.
 */
export async function ingestExtraTable(
  conn: DuckDBConnection,
  t: ExtraTable,
  baseDir: string,
  outDir: string,
  births: Map<string, Birth>,
  errors: RowErrors,
  tick: (table: string) => void,
  quarantine: boolean,
  notes: string[],
): Promise<number> {
  const path = join(baseDir, t.path);
  const first = await openTable(conn, path, t.format, missingTokens(t), t.path);
  const idIdx = requireColumn(first.columns, t.idColumn, t.path, `tables[${t.name}].idColumn`);
  for (const col of Object.keys(t.types ?? {}))
    requireColumn(first.columns, col, t.path, `tables[${t.name}].types`);
  const tally: ColumnTally[] = first.columns.map(() => ({ present: 0, numbers: 0, firstOther: null }));
  for await (const row of first.rows) {
    tick(`tables/${t.name}`);
    row.values.forEach((v, i) => {
      if (v === null) return;
      const c = tally[i];
      c.present++;
      if (isNumber(v)) c.numbers++;
      else c.firstOther ??= { line: row.line, value: v };
    });
  }
  const numeric = first.columns.map((col, i) => {
    if (i === idIdx) return false;
    const declared = t.types?.[col];
    if (declared) return declared === 'number';
    const c = tally[i];
    return c.numbers > 0 && c.numbers >= NUMERIC_COLUMN_MIN_SHARE * c.present;
  });
  // Bad values of numeric columns: named at once without quarantine (nothing of the table written).
  first.columns.forEach((col, i) => {
    const c = tally[i];
    if (!numeric[i] || c.firstOther === null || quarantine) return;
    const rule = t.types?.[col]
      ? `the manifest declares it a number (tables[${t.name}].types)`
      : `it is numeric because ${ofPresent(c.numbers, c.present)} are numbers (rule: at least ${100 * NUMERIC_COLUMN_MIN_SHARE} %)`;
    throw new InputError(
      `${JSON.stringify(c.firstOther.value)} is not a number in column ${col}; ${rule}; ${ofPresent(c.present - c.numbers, c.present)} are not numbers`,
      { file: t.path, line: c.firstOther.line, field: col },
      `fix the value, add it to the table's "missing" tokens, declare the column text ("types": { ${JSON.stringify(col)}: "text" }), or ingest with --quarantine to reject those rows`,
    );
  });
  first.columns.forEach((col, i) => {
    const c = tally[i];
    if (i === idIdx || c.firstOther === null) return;
    const where = `${t.path} line ${c.firstOther.line}`;
    if (numeric[i])
      notes.push(
        `tables/${t.name} column ${col} is numeric; ${ofPresent(c.present - c.numbers, c.present)} are not numbers and their rows were rejected (first ${JSON.stringify(c.firstOther.value)}, ${where})`,
      );
    else if (!t.types?.[col] && c.numbers >= 0.5 * c.present)
      notes.push(
        `tables/${t.name} column ${col} is text: only ${ofPresent(c.numbers, c.present)} are numbers (numeric needs ${100 * NUMERIC_COLUMN_MIN_SHARE} %); first non-number ${JSON.stringify(c.firstOther.value)}, ${where}`,
      );
  });
  const names = first.columns.map((c, i) => (i === idIdx ? 'person_id' : c));
  if (names.filter((n) => n === 'person_id').length > 1)
    throw new InputError('a column other than the id column is named person_id', {
      file: t.path,
      line: 1,
      field: 'person_id',
    });
  const ddl = names.map((c, i) => `${sqlIdent(c)} ${numeric[i] ? 'DOUBLE' : 'VARCHAR'}`).join(', ');
  const second = await openTable(conn, path, t.format, missingTokens(t), t.path);
  return writeTable(
    conn,
    `t_${t.name}`,
    ddl,
    '*',
    join(outDir, 'tables', `${t.name}.parquet`),
    async (app) => {
      let n = 0;
      rows: for await (const row of second.rows) {
        const pid = row.values[idIdx];
        if (pid === null || !births.has(pid)) {
          errors.report(
            `tables/${t.name}`,
            t.path,
            row.line,
            t.idColumn,
            `person_id ${pid ?? '(missing)'} is not in persons`,
          );
          continue;
        }
        for (const [i, v] of row.values.entries()) {
          if (numeric[i] && v !== null && !isNumber(v)) {
            errors.report(
              `tables/${t.name}`,
              t.path,
              row.line,
              first.columns[i],
              `${JSON.stringify(v)} is not a number in numeric column ${first.columns[i]}`,
            );
            continue rows;
          }
        }
        row.values.forEach((v, i) => {
          put(app, v === null ? null : numeric[i] ? Number(v) : v);
        });
        app.endRow();
        n++;
      }
      return n;
    },
  );
}
