/**
 * Writing what the OMOP ingest produces: the canonical tables (`persons`, `conditions`,
 * `measurements`) through the same DDL and SELECT as the flat path (`ingest/ehr/ehr-write.ts`
 * `CanonicalTable`), so both write identical Parquet schemas, and user tables
 * (`tables/<name>.parquet`: `person_id VARCHAR` plus DOUBLE or VARCHAR columns, the layout of
 * `ingest/ehr/ehr-extra.ts`).
 */
import { join } from 'node:path';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { atomicProduce } from '../../engine/fsutil.js';
import type { CanonicalTable } from '../ehr/ehr-write.js';
import type { OmopContext } from './checks.js';

/** COPY the rows of `select` to Parquet file `target` (atomically); returns the row count. */
export async function copyParquet(ctx: OmopContext, select: string, target: string): Promise<number> {
  return atomicProduce(target, async (tmp) => {
    const r = await ctx.conn.runAndReadAll(
      `COPY (${select}) TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 65536)`,
    );
    return Number(r.getRows()[0][0]);
  });
}

/**
 * Write canonical table `table` to `<outDir>/<name>.parquet` from `select`, whose columns are
 * the table's DDL columns in order: one COPY that casts them to the DDL types and applies the
 * table's canonical SELECT (what the flat path's appender table and COPY do). Returns the rows.
 */
export async function writeCanonical(
  ctx: OmopContext,
  table: CanonicalTable,
  outDir: string,
  select: string,
): Promise<number> {
  const cols = table.ddl.split(',').map((c) => c.trim().split(/\s+/) as [string, string]);
  const typed = cols
    .map(([name, type]) => `CAST(${sqlIdent(name)} AS ${type}) AS ${sqlIdent(name)}`)
    .join(', ');
  const names = cols.map(([name]) => sqlIdent(name)).join(', ');
  return copyParquet(
    ctx,
    `SELECT ${table.select} FROM (SELECT ${typed} FROM (${select}) AS _s(${names}))`,
    join(outDir, `${table.name}.parquet`),
  );
}

/** Write user table `tables/<name>.parquet` from `select` (person_id first). Returns the row count. */
export async function writeUserTable(
  ctx: OmopContext,
  outDir: string,
  name: string,
  select: string,
): Promise<number> {
  return copyParquet(ctx, select, join(outDir, 'tables', `${name}.parquet`));
}
