/**
 * Query results as an Arrow IPC file (`biobank query --format arrow --out FILE`), the columnar
 * interchange format that pandas (`pyarrow.ipc`), polars, R (`arrow::read_ipc_file`) and DuckDB
 * read without parsing text. DuckDB's Node API has no Arrow export, so the batch is built here
 * with apache-arrow from the result's typed columns:
 * integers → Int64, floating point and decimals → Float64, booleans → Bool, everything else
 * (text, dates, timestamps, lists) → Utf8 as DuckDB prints it. NULL stays null.
 */
import { Bool, Float64, Int64, Table, tableToIPC, Utf8, type Vector, vectorFromArray } from 'apache-arrow';

/** Column kinds by DuckDB type name (`DuckDBType.toString()`). */
function kindOf(duckdbType: string): 'int' | 'float' | 'bool' | 'text' {
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|HUGEINT)$/.test(duckdbType))
    return 'int';
  if (/^(FLOAT|DOUBLE|DECIMAL)/.test(duckdbType)) return 'float';
  if (duckdbType === 'BOOLEAN') return 'bool';
  return 'text';
}

export interface ResultColumn {
  name: string;
  /** DuckDB type name, e.g. `BIGINT`, `DOUBLE`, `VARCHAR`. */
  type: string;
  /** The column's values as the Node API returns them (getColumnsJS). */
  values: readonly unknown[];
}

/** One Arrow IPC file (the "file" format, with footer) holding the columns. */
export function arrowIpcFile(columns: readonly ResultColumn[]): Uint8Array {
  const vectors: Record<string, Vector> = {};
  for (const c of columns) {
    const kind = kindOf(c.type);
    const present = (f: (v: unknown) => unknown) =>
      c.values.map((v) => (v === null || v === undefined ? null : f(v)));
    vectors[c.name] =
      kind === 'int'
        ? vectorFromArray(
            present((v) => BigInt(v as bigint | number)),
            new Int64(),
          )
        : kind === 'float'
          ? vectorFromArray(present(Number), new Float64())
          : kind === 'bool'
            ? vectorFromArray(present(Boolean), new Bool())
            : vectorFromArray(
                present((v) =>
                  typeof v === 'object'
                    ? JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x))
                    : String(v),
                ),
                new Utf8(),
              );
  }
  return tableToIPC(new Table(vectors), 'file');
}
