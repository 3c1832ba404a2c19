/** DuckDB query results as plain, JSON-able row objects (for the report and the viewer). */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';

/** DuckDB values → JSON-able values (BIGINT → number, dates → ISO text). */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  return value;
}

export async function selectObjects<T>(
  conn: DuckDBConnection,
  sql: string,
  params: DuckDBValue[] = [],
): Promise<T[]> {
  const reader = await conn.runAndReadAll(sql, params);
  return reader
    .getRowObjectsJS()
    .map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])) as T);
}
