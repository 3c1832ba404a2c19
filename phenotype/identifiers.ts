/**
 * Identifiers that come from a spec (user table and column names) are checked here against
 * the release's real files and Parquet schemas before any SQL is built; only names that
 * exist are returned, and callers still quote them with `sqlIdent`. A name that does not
 * exist (including every injection attempt such as `pheno"; DROP TABLE x; --`) is an
 * `InputError` naming the spec field.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { exists } from '../engine/fsutil.js';
import type { ReleaseTables } from './release.js';

/** Names of the release's user tables (`tables/<name>.parquet`). */
export async function userTableNames(rel: ReleaseTables): Promise<string[]> {
  if (!(await exists(rel.tablesDir))) return [];
  return (await readdir(rel.tablesDir))
    .filter((f) => f.endsWith('.parquet') && !f.startsWith('.'))
    .map((f) => f.slice(0, -'.parquet'.length))
    .sort();
}

export interface CheckedTable {
  name: string;
  path: string;
  /** Column name → DuckDB type. */
  columns: Map<string, string>;
}

/** Check that `name` is a user table of the release; return its path and schema. */
export async function checkUserTable(
  conn: DuckDBConnection,
  rel: ReleaseTables,
  name: string,
  field: string,
  specFile?: string,
): Promise<CheckedTable> {
  const names = await userTableNames(rel);
  if (!names.includes(name)) {
    throw new InputError(
      `unknown user table ${JSON.stringify(name)} (the release has: ${names.join(', ') || 'none'})`,
      { file: specFile, field },
    );
  }
  const path = join(rel.tablesDir, `${name}.parquet`);
  const d = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`);
  const columns = new Map<string, string>();
  for (const r of d.getRowObjectsJS()) columns.set(r.column_name as string, r.column_type as string);
  if (!columns.has('person_id')) {
    throw new InputError(`user table ${name} has no person_id column`, { file: path, field: 'person_id' });
  }
  return { name, path, columns };
}

/** Check that `column` is a column of the checked table; returns its DuckDB type. */
export function checkColumn(table: CheckedTable, column: string, field: string, specFile?: string): string {
  const type = table.columns.get(column);
  if (type === undefined) {
    throw new InputError(
      `unknown column ${JSON.stringify(column)} in user table ${table.name} (columns: ${[...table.columns.keys()].join(', ')})`,
      { file: specFile, field },
    );
  }
  return type;
}

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL.*)$/;
export const isNumericType = (t: string) => NUMERIC.test(t);

/** Collects bound values and hands out `$n` placeholders, so no value is ever concatenated. */
export class Params {
  readonly values: import('@duckdb/node-api').DuckDBValue[] = [];
  add(value: import('@duckdb/node-api').DuckDBValue): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
