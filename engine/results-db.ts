import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import {
  columnsOf,
  createTableSql,
  isParquetResultTable,
  PARQUET_RESULT_TABLES,
  type ParquetResultTable,
  RESULT_TABLE_NAMES,
  RUN_ID_PATTERN,
  type TableName,
} from '../schemas/results.js';
import { hasTable, sqlIdent, sqlString } from './duckdb.js';

export { hasTable };

import { exists } from './fsutil.js';
import { ensureRunFiles, recordedFiles } from './run-files.js';
import { gwasDir, gwasGlob, parquetReadSql } from './run-paths.js';

// --- Schema ---

/** Files matching `glob` (DuckDB's glob, as the old view read them). */
async function globFiles(conn: DuckDBConnection, glob: string): Promise<string[]> {
  const r = await conn.runAndReadAll(`SELECT file FROM glob(${sqlString(glob)}) ORDER BY file`);
  return r.getRows().map((row) => row[0] as string);
}

/**
 * Every GWAS Parquet file under the runs folder (of one run, or all), found on disk.
 * Names in `runs/` that are not run ids (`.DS_Store`, an editor's backup) are not runs and are skipped.
 */
export async function gwasFilesOnDisk(dataDir: string, runId?: string): Promise<string[]> {
  const runs =
    runId === undefined
      ? (await exists(join(dataDir, 'runs')))
        ? (await readdir(join(dataDir, 'runs'))).filter((name) => RUN_ID_PATTERN.test(name))
        : []
      : [runId];
  const out: string[] = [];
  for (const r of runs) {
    const dir = gwasDir(dataDir, r);
    for (const f of await listParquet(dir)) out.push(join(dir, f));
  }
  return out.sort();
}

async function relationKind(conn: DuckDBConnection, table: string): Promise<'table' | 'view' | undefined> {
  const reader = await conn.runAndReadAll(
    `SELECT table_type FROM information_schema.tables
     WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name = $1`,
    [table],
  );
  const type = reader.getRows()[0]?.[0];
  return type === undefined ? undefined : type === 'VIEW' ? 'view' : 'table';
}

export async function inTransaction<T>(conn: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
  await conn.run('BEGIN TRANSACTION');
  try {
    const out = await fn();
    await conn.run('COMMIT');
    return out;
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * Make `gwas_results` a view over the GWAS files the runs recorded (`run_files`: never a glob, so
 * a stray or half-written file is never a result) when there is at least one, and an empty table
 * otherwise. The swap happens in one transaction.
 */
export async function syncGwasRelation(conn: DuckDBConnection, dataDir: string): Promise<void> {
  await syncParquetRelation(conn, dataDir, 'gwas_results');
}

async function viewComment(conn: DuckDBConnection, view: string): Promise<string | null> {
  const r = await conn.runAndReadAll(
    `SELECT comment FROM duckdb_views() WHERE database_name = current_database() AND view_name = $1`,
    [view],
  );
  const c = r.getRows()[0]?.[0];
  return typeof c === 'string' ? c : null;
}

/** `syncGwasRelation` for any Parquet-stored result table (`gwas_results`, `meta_results`). */
export async function syncParquetRelation(
  conn: DuckDBConnection,
  dataDir: string,
  table: ParquetResultTable,
): Promise<void> {
  await ensureRunFiles(conn, dataDir, () => globFiles(conn, gwasGlob(dataDir)));
  // A recorded file that is gone (deleted by hand; `biobank verify` reports it) is left out, so
  // one lost file cannot stop every later write.
  const recorded: string[] = [];
  const area = PARQUET_RESULT_TABLES[table].area;
  for (const f of await recordedFiles(conn, dataDir, undefined, area)) if (await exists(f)) recorded.push(f);
  const hasFiles = recorded.length > 0;
  const kind = await relationKind(conn, table);
  const name = sqlIdent(table);
  if (hasFiles) {
    // Binding the view reads every file's schema (union_by_name), which grows with the runs:
    // the view carries the hash of its SQL as its comment and is only re-created when that changes.
    const sql = parquetReadSql(table, recorded);
    const signature = `sql sha256 ${createHash('sha256').update(sql).digest('hex')}`;
    if (kind === 'view' && (await viewComment(conn, table)) === signature) return;
    await inTransaction(conn, async () => {
      if (kind === 'table') await conn.run(`DROP TABLE ${name}`);
      await conn.run(`CREATE OR REPLACE VIEW ${name} AS ${sql}`);
      await conn.run(`COMMENT ON VIEW ${name} IS ${sqlString(signature)}`);
    });
  } else if (kind !== 'table') {
    await inTransaction(conn, async () => {
      if (kind === 'view') await conn.run(`DROP VIEW ${name}`);
      await conn.run(createTableSql(table));
    });
  }
}

/**
 * DuckDB cannot alter a CHECK constraint, so a catalog created by an older engine keeps the
 * enumerations of its day: `studies.kind` before meta-analysis runs ('meta'), `phewas_results.test`
 * and `burden_results.test` before the SPA rows said which fit gave β and SE ('spa_wald',
 * 'spa_firth'). A table whose CHECK constraints lack a value the contract now allows is rebuilt
 * with the current contract, its rows kept (columns the two share, by name), in one transaction.
 */
async function migrateEnumChecks(conn: DuckDBConnection, tables: TableName[]): Promise<void> {
  // two catalog queries for all tables: this runs on every open of the results database
  const kinds = new Map(
    (
      await conn.runAndReadAll(
        `SELECT table_name, table_type FROM information_schema.tables
         WHERE table_catalog = current_database() AND table_schema = current_schema()`,
      )
    )
      .getRows()
      .map((r) => [String(r[0]), String(r[1])]),
  );
  const checks = new Map(
    (
      await conn.runAndReadAll(
        `SELECT table_name, string_agg(constraint_text, chr(10)) FROM duckdb_constraints()
         WHERE database_name = current_database() AND constraint_type = 'CHECK' GROUP BY table_name`,
      )
    )
      .getRows()
      .map((r) => [String(r[0]), String(r[1])]),
  );
  for (const table of tables) {
    if (kinds.get(table) !== 'BASE TABLE') continue;
    const text = checks.get(table) ?? '';
    const wanted = columnsOf(table).flatMap((c) => c.values ?? []);
    if (wanted.every((v) => text.includes(`'${v.replaceAll("'", "''")}'`))) continue;
    await rebuildTable(conn, table);
  }
}

/** Rebuild a table with the current contract, keeping its rows (the columns both have, by name). */
async function rebuildTable(conn: DuckDBConnection, table: TableName): Promise<void> {
  const name = sqlIdent(table);
  const old = sqlIdent(`${table}_before_migration`);
  await inTransaction(conn, async () => {
    await conn.run(`ALTER TABLE ${name} RENAME TO ${old}`);
    await conn.run(createTableSql(table));
    const had = new Set(
      (
        await conn.runAndReadAll(
          `SELECT column_name FROM duckdb_columns()
           WHERE database_name = current_database() AND table_name = $1`,
          [`${table}_before_migration`],
        )
      )
        .getRows()
        .map((r) => String(r[0])),
    );
    const shared = columnsOf(table)
      .filter((c) => had.has(c.name))
      .map((c) => sqlIdent(c.name))
      .join(', ');
    await conn.run(`INSERT INTO ${name} (${shared}) SELECT ${shared} FROM ${old}`);
    await conn.run(`DROP TABLE ${old}`);
  });
}

/**
 * Create the results tables if missing and point `gwas_results` at the data folder's Parquet.
 * Idempotent; needs the engine database attached writable (inside `withEngineDb`).
 */
export async function ensureResultsSchema(conn: DuckDBConnection, dataDir: string): Promise<void> {
  const tables = ['studies', 'runs', ...RESULT_TABLE_NAMES] as TableName[];
  for (const table of tables) {
    if (!isParquetResultTable(table)) await conn.run(createTableSql(table));
  }
  await migrateEnumChecks(
    conn,
    tables.filter((t) => !isParquetResultTable(t)),
  );
  for (const table of Object.keys(PARQUET_RESULT_TABLES) as ParquetResultTable[])
    await syncParquetRelation(conn, dataDir, table);
}

// --- Row conversion ---

export function toSqlValue(value: unknown): DuckDBValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
}

/** DuckDB JS values → plain JSON-able values (BIGINT → number, timestamps → ISO strings). */
export function fromSqlValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  return value;
}

export async function selectRows(conn: DuckDBConnection, sql: string, params: DuckDBValue[] = []) {
  const reader = await conn.runAndReadAll(sql, params);
  return reader
    .getRowObjectsJS()
    .map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, fromSqlValue(v)])));
}

/** Row counts from which `insertRows` uses the appender. */
const APPEND_FROM = 500;

/** Types the appender writes directly into a staging column; other columns are staged as text. */
const APPENDED = new Set(['INTEGER', 'BIGINT', 'DOUBLE', 'BOOLEAN', 'VARCHAR']);

/**
 * Insert validated rows. Small batches go as bound parameters (values are never concatenated);
 * larger ones through DuckDB's appender into a temporary staging table, cast into the target in
 * one INSERT … SELECT (about 100× faster than parameter batches at 100,000 rows).
 */
export async function insertRows(
  conn: DuckDBConnection,
  qualifiedTable: string,
  table: TableName,
  rows: object[],
) {
  const cols = columnsOf(table);
  const names = cols.map((c) => sqlIdent(c.name)).join(', ');
  if (rows.length >= APPEND_FROM) {
    const stage = `_stage_${randomBytes(6).toString('hex')}`;
    const typeOf = (sql: string) => (APPENDED.has(sql) ? sql : 'VARCHAR');
    await conn.run(
      `CREATE TEMP TABLE ${stage} (${cols.map((c) => `${sqlIdent(c.name)} ${typeOf(c.sql)}`).join(', ')})`,
    );
    try {
      const app = await conn.createAppender(stage, 'main', 'temp');
      for (const row of rows) {
        for (const c of cols) {
          const v = (row as Record<string, unknown>)[c.name];
          if (v === null || v === undefined) app.appendNull();
          else if (c.sql === 'INTEGER') app.appendInteger(v as number);
          else if (c.sql === 'BIGINT') app.appendBigInt(BigInt(v as number));
          else if (c.sql === 'DOUBLE') app.appendDouble(v as number);
          else if (c.sql === 'BOOLEAN') app.appendBoolean(v as boolean);
          else app.appendVarchar(typeof v === 'string' ? v : JSON.stringify(v));
        }
        app.endRow();
      }
      app.closeSync();
      const casts = cols.map((c) => `CAST(${sqlIdent(c.name)} AS ${c.sql})`).join(', ');
      await conn.run(`INSERT INTO ${qualifiedTable} (${names}) SELECT ${casts} FROM temp.main.${stage}`);
    } finally {
      await conn.run(`DROP TABLE IF EXISTS temp.main.${stage}`);
    }
    return;
  }
  const batch = Math.max(1, Math.floor(8000 / cols.length));
  for (let start = 0; start < rows.length; start += batch) {
    const chunk = rows.slice(start, start + batch);
    const params: DuckDBValue[] = [];
    const tuples = chunk.map((row) => {
      const slots = cols.map((c) => {
        params.push(toSqlValue((row as Record<string, unknown>)[c.name]));
        return `CAST($${params.length} AS ${c.sql})`;
      });
      return `(${slots.join(', ')})`;
    });
    await conn.run(`INSERT INTO ${qualifiedTable} (${names}) VALUES ${tuples.join(', ')}`, params);
  }
}

/**
 * The Parquet files under a result area (`gwas`: `phenotype=…/chrom=…/*.parquet`, `meta`:
 * `chrom=…/*.parquet`), relative to `dir`: files in `key=value` folders only.
 */
export async function listParquet(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const path = rel ? join(rel, e.name) : e.name;
      if (e.isDirectory() && e.name.includes('=')) await walk(path);
      else if (!e.isDirectory() && rel && e.name.endsWith('.parquet')) out.push(path);
    }
  };
  await walk('');
  return out;
}
