/**
 * Writing the canonical EHR tables: rows appended to a temporary DuckDB table, then copied to
 * Parquet (`writeTable`), and the validate-then-append loop over a user table (`writeValidRows`).
 */
import { join } from 'node:path';
import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import type { z } from 'zod';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { atomicProduce } from '../../engine/fsutil.js';
import { type RowErrors, type SourceTable, zodFailure } from './ehr-rows.js';

/** A canonical table: its name (file `<name>.parquet`), appender columns and canonical SELECT. */
export interface CanonicalTable {
  name: string;
  ddl: string;
  select: string;
}

export const PERSONS_TABLE: CanonicalTable = {
  name: 'persons',
  ddl: 'person_id VARCHAR, sex VARCHAR, birth_date VARCHAR, birth_year INTEGER, ancestry VARCHAR',
  select: 'person_id, sex, CAST(birth_date AS DATE) AS birth_date, birth_year, ancestry',
};
export const CONDITIONS_TABLE: CanonicalTable = {
  name: 'conditions',
  ddl: 'person_id VARCHAR, code VARCHAR, vocabulary VARCHAR, date VARCHAR',
  select: 'person_id, code, vocabulary, CAST(date AS DATE) AS date',
};
export const MEASUREMENTS_TABLE: CanonicalTable = {
  name: 'measurements',
  ddl: 'person_id VARCHAR, name VARCHAR, loinc VARCHAR, value DOUBLE, unit VARCHAR, date VARCHAR',
  select: 'person_id, coalesce(name, loinc) AS name, loinc, value, unit, CAST(date AS DATE) AS date',
};

export async function writeTable(
  conn: DuckDBConnection,
  name: string,
  ddl: string,
  select: string,
  target: string,
  fill: (app: DuckDBAppender) => Promise<number>,
): Promise<number> {
  const t = sqlIdent(`ehr_${name}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`);
  await conn.run(`CREATE OR REPLACE TABLE ${t} (${ddl})`);
  try {
    const app = await conn.createAppender(t.slice(1, -1));
    let n: number;
    try {
      n = await fill(app);
    } finally {
      app.closeSync();
    }
    await atomicProduce(target, (tmp) =>
      conn.run(
        `COPY (SELECT ${select} FROM ${t}) TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 65536)`,
      ),
    );
    return n;
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${t}`);
  }
}

export function put(app: DuckDBAppender, v: string | number | null): void {
  if (v === null) app.appendNull();
  else if (typeof v === 'number') app.appendDouble(v);
  else app.appendVarchar(v);
}

/** What `writeValidRows` needs of the running ingest. */
export interface RowSink {
  conn: DuckDBConnection;
  outDir: string;
  errors: RowErrors;
  /** Called once per row read (progress). */
  tick: (table: string) => void;
}

/**
 * Writes canonical table `table` with no rows (a table the manifest does not provide), so every
 * reader sees the same canonical columns.
 */
export function writeEmptyTable(sink: RowSink, table: CanonicalTable): Promise<number> {
  return writeTable(
    sink.conn,
    table.name,
    table.ddl,
    table.select,
    join(sink.outDir, `${table.name}.parquet`),
    async () => 0,
  );
}

/**
 * Writes canonical table `table` from the rows of the user's table `source`: each row's values
 * (`at(i)`: column i, null for i < 0) are validated with `schema`; a row that fails is reported
 * (naming the file's column of the failing key) and skipped. `append` appends a valid row's
 * values and returns true, or reports the row and returns false. Returns the rows written.
 */
export function writeValidRows<T>(
  sink: RowSink,
  table: CanonicalTable,
  source: SourceTable,
  o: {
    schema: z.ZodType<T>;
    input: (at: (i: number) => string | null) => unknown;
    append: (app: DuckDBAppender, row: T, line: number) => boolean;
  },
): Promise<number> {
  const { errors, tick } = sink;
  const { name } = table;
  return writeTable(
    sink.conn,
    name,
    table.ddl,
    table.select,
    join(sink.outDir, `${name}.parquet`),
    async (app) => {
      let n = 0;
      for await (const row of source.rows) {
        tick(name);
        const at = (i: number) => (i >= 0 ? row.values[i] : null);
        const parsed = o.schema.safeParse(o.input(at));
        if (!parsed.success) {
          const { field, reason } = zodFailure(parsed.error, source.col);
          errors.report(name, source.file, row.line, field, reason);
          continue;
        }
        if (!o.append(app, parsed.data, row.line)) continue;
        app.endRow();
        n++;
      }
      return n;
    },
  );
}

/** `rejects.parquet`: every rejected row with its file, line, field and reason (flat and OMOP paths). */
export async function writeRejects(conn: DuckDBConnection, errors: RowErrors, outDir: string): Promise<void> {
  await writeTable(
    conn,
    'rejects',
    'table_name VARCHAR, file VARCHAR, line BIGINT, field VARCHAR, reason VARCHAR',
    '*',
    join(outDir, 'rejects.parquet'),
    async (app) => {
      for (const [table, file, line, field, reason] of errors.rows) {
        app.appendVarchar(table);
        app.appendVarchar(file);
        app.appendBigInt(BigInt(line));
        app.appendVarchar(field);
        app.appendVarchar(reason);
        app.endRow();
      }
      return errors.rows.length;
    },
  );
}
