import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { z } from 'zod';
import {
  columnDefinitions,
  columnsOf,
  isParquetResultTable,
  PARQUET_RESULT_TABLES,
  type ParquetResultTable,
  RESULT_TABLE_NAMES,
  RESULT_TABLES,
  type ResultRow,
  type ResultTable,
  type TableName,
  violationPredicates,
} from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import { sqlIdent, sqlString, withCompute, withEngineDb } from './duckdb.js';
import { InputError } from './errors.js';
import { exists } from './fsutil.js';
import {
  ensureResultsSchema,
  hasTable,
  insertRows,
  inTransaction,
  listParquet,
  selectRows,
  syncParquetRelation,
} from './results-db.js';
import { recordRunFiles } from './run-files.js';

import {
  assertRunId,
  gwasDir,
  gwasGlob,
  gwasReadSql,
  parquetReadSql,
  resultAreaDir,
  runDir,
} from './run-paths.js';

// --- Per-run result tables ---

/** Result rows to write; `run_id` may be left out (it is set to the run being written). */
export type ResultRowsInput<T extends ResultTable> = (Omit<ResultRow<T>, 'run_id'> & { run_id?: string })[];

/** Where a run's results come from: a Parquet file with the table's columns, or rows. */
export type ResultSource<T extends ResultTable> = { parquet: string } | ResultRowsInput<T>;

export interface WriteOptions {
  /**
   * Parquet-stored tables only (`gwas_results`, `meta_results`): replace just this named part
   * (e.g. a shard id) instead of the run's whole result set. Letters, digits, `_` and `-`.
   */
  part?: string;
}

function validateRows<T extends ResultTable>(
  runId: string,
  table: T,
  rows: ResultRowsInput<T>,
): ResultRow<T>[] {
  const schema = RESULT_TABLES[table] as unknown as z.ZodType<ResultRow<T>>;
  return rows.map((row, i) => {
    if (row.run_id !== undefined && row.run_id !== runId)
      throw new InputError(`row ${i + 1} has run_id ${row.run_id}, expected ${runId}`, {
        field: `${table}[${i}].run_id`,
      });
    const parsed = schema.safeParse({ ...row, run_id: runId });
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InputError(issue.message, { field: `${table}[${i}].${issue.path.join('.')}` });
    }
    return parsed.data;
  });
}

/**
 * `SELECT` over a Parquet source with the table's columns in order and `run_id` forced to the
 * run being written; fails with an InputError naming the file, row and column of the first row
 * that breaks the contract, or a missing column.
 */
async function checkedParquetSource(conn: DuckDBConnection, runId: string, table: TableName, file: string) {
  const cols = columnsOf(table).map((c) =>
    c.name === 'run_id'
      ? `${sqlString(runId)} AS run_id`
      : `CAST(${sqlIdent(c.name)} AS ${c.sql}) AS ${sqlIdent(c.name)}`,
  );
  const base = `SELECT ${cols.join(', ')}, file_row_number FROM read_parquet(${sqlString(file)}, file_row_number = true)`;
  const checks = violationPredicates(table);
  const where = checks.map((c, i) => `WHEN ${c.predicate} THEN ${i}`).join(' ');
  let bad: unknown[] | undefined;
  try {
    const reader = await conn.runAndReadAll(
      `SELECT file_row_number, CASE ${where} END AS check_idx FROM (${base}) WHERE check_idx IS NOT NULL ORDER BY file_row_number LIMIT 1`,
    );
    bad = reader.getRows()[0];
  } catch (err) {
    const msg = String((err as Error).message).split('\n')[0];
    const missing = /column "?([^" ]+)"? not found|Referenced column "?([^" ]+)"?/i.exec(msg);
    throw new InputError(`cannot read as ${table}: ${msg}`, { file, field: missing?.[1] ?? missing?.[2] });
  }
  if (bad) {
    const check = checks[Number(bad[1])];
    throw new InputError(`value breaks the ${table} contract (${check.predicate})`, {
      file,
      line: Number(bad[0]) + 1,
      field: check.column,
    });
  }
  return `SELECT * EXCLUDE (file_row_number) FROM (${base})`;
}

/**
 * Replace a run's rows of one result table with `source`, idempotently: writing the same
 * results twice leaves one copy. Rows are validated against `schemas/results.ts` first; bad
 * input raises InputError and changes nothing.
 *
 * @returns the number of rows written
 */
export async function writeRunResults<T extends ResultTable>(
  config: EngineConfig,
  runId: string,
  table: T,
  source: ResultSource<T>,
  options: WriteOptions = {},
): Promise<{ rows: number }> {
  assertRunId(runId);
  if (!(table in RESULT_TABLES)) throw new InputError(`unknown result table ${table}`, { field: 'table' });
  if (isParquetResultTable(table))
    return writeParquetResults(config, runId, table, source as ResultSource<typeof table>, options);
  if (options.part !== undefined)
    throw new InputError('part applies to gwas_results and meta_results only', { field: 'part' });
  const rows = Array.isArray(source) ? validateRows(runId, table, source) : undefined;
  return withEngineDb(config, async (conn) => {
    await ensureResultsSchema(conn, config.dataDir);
    const select = rows
      ? undefined
      : await checkedParquetSource(conn, runId, table, (source as { parquet: string }).parquet);
    return inTransaction(conn, async () => {
      await conn.run(`DELETE FROM ${sqlIdent(table)} WHERE run_id = $1`, [runId]);
      if (rows) {
        await insertRows(conn, sqlIdent(table), table, rows);
        return { rows: rows.length };
      }
      const reader = await conn.runAndReadAll(`INSERT INTO ${sqlIdent(table)} ${select}`);
      return { rows: Number(reader.getRows()[0]?.[0] ?? 0) };
    });
  });
}

const PART_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

async function writeParquetResults<T extends ParquetResultTable>(
  config: EngineConfig,
  runId: string,
  table: T,
  source: ResultSource<T>,
  options: WriteOptions,
): Promise<{ rows: number }> {
  const part = options.part ?? 'all';
  if (!PART_PATTERN.test(part))
    throw new InputError(`bad part name ${JSON.stringify(part)}`, { field: 'part' });
  const rows = Array.isArray(source) ? validateRows(runId, table, source) : undefined;
  const { area, partitions } = PARQUET_RESULT_TABLES[table];
  const target = resultAreaDir(config.dataDir, runId, table);
  await removeStaleOldDirs(runDir(config.dataDir, runId), area);
  const tmp = join(
    runDir(config.dataDir, runId),
    `.${area}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  try {
    const count = await withCompute(config, async (conn) => {
      let select: string;
      const temp = `${area}_in_${randomBytes(6).toString('hex')}`;
      if (rows) {
        await conn.run(`CREATE TEMP TABLE ${temp} (${columnDefinitions(table)})`);
        await insertRows(conn, temp, table, rows);
        select = `SELECT * FROM ${temp}`;
      } else {
        select = await checkedParquetSource(conn, runId, table, (source as { parquet: string }).parquet);
      }
      try {
        const reader = await conn.runAndReadAll(`SELECT count(*) FROM (${select})`);
        const n = Number(reader.getRows()[0][0]);
        if (n > 0) {
          await mkdir(tmp, { recursive: true });
          await conn.run(
            `COPY (${select} ORDER BY ${[...partitions, 'pos'].join(', ')}) TO ${sqlString(tmp)}
             (FORMAT parquet, PARTITION_BY (${partitions.join(', ')}), FILENAME_PATTERN ${sqlString(`${part}_{i}`)}, ROW_GROUP_SIZE 8192, OVERWRITE_OR_IGNORE)`,
          );
        }
        return n;
      } finally {
        if (rows) await conn.run(`DROP TABLE IF EXISTS ${temp}`);
      }
    });
    await publishParquet(tmp, target, part, options.part === undefined);
    const published = (await listParquet(target)).map((f) => join(target, f));
    await withEngineDb(config, async (conn) => {
      await ensureResultsSchema(conn, config.dataDir);
      await inTransaction(conn, () => recordRunFiles(conn, config.dataDir, runId, published, area));
      await syncParquetRelation(conn, config.dataDir, table);
    });
    return { rows: count };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Remove `<area>.old-*` folders left by a whole-run replace that was interrupted. */
async function removeStaleOldDirs(dir: string, area: string): Promise<void> {
  if (!(await exists(dir))) return;
  for (const name of await readdir(dir)) {
    if (name.startsWith(`${area}.old-`)) await rm(join(dir, name), { recursive: true, force: true });
  }
}

/** Move freshly written partition files into place and drop the part's stale files. */
async function publishParquet(tmp: string, target: string, part: string, wholeRun: boolean): Promise<void> {
  const fresh = await listParquet(tmp);
  if (wholeRun) {
    const old = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
    if (await exists(target)) await rename(target, old);
    if (fresh.length > 0) await rename(tmp, target);
    await rm(old, { recursive: true, force: true });
    return;
  }
  const isPart = (f: string) => new RegExp(`^${part}_\\d+\\.parquet$`).test(f.split('/').pop() ?? '');
  const stale = new Set((await listParquet(target)).filter(isPart));
  for (const f of fresh) {
    await mkdir(dirname(join(target, f)), { recursive: true });
    await rename(join(tmp, f), join(target, f));
    stale.delete(f);
  }
  for (const f of stale) await rm(join(target, f), { force: true });
}

/**
 * A run's rows of one result table. GWAS rows are read straight from the run's Parquet files
 * (optionally one phenotype); the other tables from the engine database, read-only. Loads the
 * rows into memory: for a genome-wide GWAS, query `gwasReadSql(gwasGlob(dataDir, runId))` in SQL.
 */
export async function readRunResults<T extends ResultTable>(
  config: EngineConfig,
  runId: string,
  table: T,
  options: { phenotype?: string } = {},
): Promise<ResultRow<T>[]> {
  assertRunId(runId);
  const order = ORDER_BY[table];
  if (table === 'gwas_results') {
    if ((await listParquet(gwasDir(config.dataDir, runId))).length === 0) return [];
    return withCompute(config, async (conn) => {
      const where = options.phenotype === undefined ? '' : ' WHERE phenotype = $1';
      const params = options.phenotype === undefined ? [] : [options.phenotype];
      return (await selectRows(
        conn,
        `SELECT * FROM (${gwasReadSql(gwasGlob(config.dataDir, runId))})${where} ORDER BY ${order}`,
        params,
      )) as ResultRow<T>[];
    });
  }
  if (table === 'meta_results') {
    const dir = resultAreaDir(config.dataDir, runId, 'meta_results');
    const files = (await listParquet(dir)).map((f) => join(dir, f));
    if (files.length === 0) return [];
    return withCompute(
      config,
      async (conn) =>
        (await selectRows(
          conn,
          `SELECT * FROM (${parquetReadSql('meta_results', files)}) ORDER BY ${order}`,
        )) as ResultRow<T>[],
    );
  }
  if (!(await exists(config.database))) return [];
  return withEngineDb(
    config,
    async (conn) => {
      if (!(await hasTable(conn, table))) return [];
      const where =
        options.phenotype !== undefined && 'phenotype' in RESULT_TABLES[table].shape
          ? ' AND phenotype = $2'
          : '';
      const params = where ? [runId, options.phenotype as string] : [runId];
      return (await selectRows(
        conn,
        `SELECT * FROM ${sqlIdent(table)} WHERE run_id = $1${where} ORDER BY ${order}`,
        params,
      )) as ResultRow<T>[];
    },
    { readOnly: true },
  );
}

/** A stable order for reading each table back. */
const ORDER_BY: Record<ResultTable, string> = {
  gwas_results: 'phenotype, chrom, pos, ref, alt',
  gwas_phenotypes: 'phenotype',
  phewas_results: 'predictor, phecode',
  phewas_cox_results: 'predictor, phecode',
  phewas_cox_km: 'predictor, phecode, "group", time',
  burden_results: 'gene, mask, aaf_bin, phenotype',
  lead_loci: 'phenotype, locus_id',
  qc_summary: 'step, filter',
  meta_results: 'chrom, pos, effect_allele, other_allele',
  meta_inputs: 'input_index',
  meta_leave_one_out: 'chrom, pos, effect_allele, other_allele, left_out',
  meta_forest: 'chrom, pos, effect_allele, other_allele, label',
  meta_input_loci: 'label, chrom, pos, effect_allele, other_allele',
  meta_phewas_results: 'model, predictor, phecode',
  meta_phewas_forest: 'model, predictor, phecode, label',
};

/** Remove a run and all its results (rows, Parquet files and the runs row). */
export async function deleteRun(config: EngineConfig, runId: string): Promise<void> {
  assertRunId(runId);
  const parquetTables = Object.keys(PARQUET_RESULT_TABLES) as ParquetResultTable[];
  await withEngineDb(config, async (conn) => {
    await ensureResultsSchema(conn, config.dataDir);
    await inTransaction(conn, async () => {
      for (const table of RESULT_TABLE_NAMES) {
        if (!isParquetResultTable(table))
          await conn.run(`DELETE FROM ${sqlIdent(table)} WHERE run_id = $1`, [runId]);
      }
      await conn.run('DELETE FROM runs WHERE run_id = $1', [runId]);
      await conn.run('DELETE FROM run_files WHERE run_id = $1', [runId]);
    });
    for (const table of parquetTables) await syncParquetRelation(conn, config.dataDir, table);
  });
  for (const table of parquetTables) {
    const target = resultAreaDir(config.dataDir, runId, table);
    const old = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
    if (await exists(target)) await rename(target, old);
    await rm(old, { recursive: true, force: true });
  }
}
