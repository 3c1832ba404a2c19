/**
 * The results database: creating its tables, recording studies and runs, and idempotent
 * per-run writers and readers for result tables.
 *
 * - Small tables (`phewas_results`, `burden_results`, `lead_loci`, `qc_summary`,
 *   `gwas_phenotypes`) live in the engine database. `writeRunResults` deletes the run's rows and
 *   inserts the new ones inside one transaction, so a retried write never duplicates rows.
 * - Per-variant GWAS results live in Parquet under
 *   `<dataDir>/runs/<run_id>/gwas/phenotype=<p>/chrom=<c>/<part>_<i>.parquet`. A write goes to a
 *   temp folder first and is then moved into place, replacing the whole run (default) or one
 *   named part (e.g. one shard). The engine database exposes all runs' files as the VIEW
 *   `gwas_results`; while no file exists it is an empty table of the same columns instead,
 *   because a view over a glob that matches nothing cannot be queried.
 *
 * Table contracts: `schemas/results.ts`. User documentation: `docs/results.md`.
 */

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { z } from 'zod';
import {
  columnDefinitions,
  columnsOf,
  createTableSql,
  RESULT_TABLE_NAMES,
  RESULT_TABLES,
  type ResultRow,
  type ResultTable,
  RUN_ID_PATTERN,
  type RunRow,
  runRowSchema,
  type StudyRow,
  studyRowSchema,
  type TableName,
  violationPredicates,
} from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import { sqlIdent, sqlString, withCompute, withEngineDb } from './duckdb.js';
import { InputError } from './errors.js';
import { canonicalJson, exists, sha256Text } from './fsutil.js';
import { ensureRunFiles, recordedFiles, recordRunFiles } from './run-files.js';
import { PROJECT_ROOT } from './temporal-bin.js';

// --- Identity and paths ---

/**
 * The run id of a study on a release with a given spec: `<studyId>-<16 hex>`, where the hex is
 * sha256 of the three inputs. The same study, release and spec always give the same id, so a
 * repeated trigger finds its earlier run.
 */
export function runIdFor(input: { studyId: string; releaseFingerprint: string; specHash: string }): string {
  const hash = sha256Text(
    canonicalJson({
      studyId: input.studyId,
      releaseFingerprint: input.releaseFingerprint,
      specHash: input.specHash,
    }),
  );
  const id = `${input.studyId}-${hash.slice(0, 16)}`;
  if (!RUN_ID_PATTERN.test(id))
    throw new InputError(`study id ${JSON.stringify(input.studyId)} is not usable in a run id`, {
      field: 'studyId',
    });
  return id;
}

export function assertRunId(runId: string): void {
  if (!RUN_ID_PATTERN.test(runId))
    throw new InputError(`bad run id ${JSON.stringify(runId)}: expected <studyId>-<16 hex digits>`, {
      field: 'run_id',
    });
}

/** `<dataDir>/runs/<runId>`: the run's Parquet results and report. */
export function runDir(dataDir: string, runId: string): string {
  assertRunId(runId);
  return join(dataDir, 'runs', runId);
}

/** `<dataDir>/runs/<runId>/gwas`: the run's hive-partitioned GWAS results. */
export function gwasDir(dataDir: string, runId: string): string {
  return join(runDir(dataDir, runId), 'gwas');
}

/** Glob over GWAS result files of one run, or of every run. */
export function gwasGlob(dataDir: string, runId?: string): string {
  return join(
    runId === undefined ? join(dataDir, 'runs', '*') : runDir(dataDir, runId),
    'gwas',
    '*',
    '*',
    '*.parquet',
  );
}

/**
 * SQL reading GWAS Parquet files as `gwas_results` rows (partition columns typed VARCHAR), from
 * a glob or from an explicit list of files (the recorded ones, engine/run-files.ts).
 */
export function gwasReadSql(glob: string | string[]): string {
  const cols = columnsOf('gwas_results').map(
    (c) => `CAST(${sqlIdent(c.name)} AS ${c.sql}) AS ${sqlIdent(c.name)}`,
  );
  const files = Array.isArray(glob) ? `[${glob.map(sqlString).join(', ')}]` : sqlString(glob);
  return `SELECT ${cols.join(', ')} FROM read_parquet(${files}, hive_partitioning = true, hive_types = {'phenotype': 'VARCHAR', 'chrom': 'VARCHAR'}, union_by_name = true)`;
}

let cachedVersion: Promise<string> | undefined;

/** `package.json` version plus `git describe --always --dirty` when the engine runs from a checkout. */
export function softwareVersion(): Promise<string> {
  cachedVersion ??= (async () => {
    const root = PROJECT_ROOT;
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    const git = await promisify(execFile)('git', ['describe', '--always', '--dirty'], {
      cwd: root,
      timeout: 5000,
    }).then(
      (r) => r.stdout.trim(),
      () => '',
    );
    return git ? `${pkg.version} (${git})` : pkg.version;
  })();
  return cachedVersion;
}

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

async function gwasRelationKind(conn: DuckDBConnection): Promise<'table' | 'view' | undefined> {
  const reader = await conn.runAndReadAll(
    `SELECT table_type FROM information_schema.tables
     WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name = 'gwas_results'`,
  );
  const type = reader.getRows()[0]?.[0];
  return type === undefined ? undefined : type === 'VIEW' ? 'view' : 'table';
}

async function inTransaction<T>(conn: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
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
async function syncGwasRelation(conn: DuckDBConnection, dataDir: string): Promise<void> {
  await ensureRunFiles(conn, dataDir, () => globFiles(conn, gwasGlob(dataDir)));
  // A recorded file that is gone (deleted by hand; `biobank verify` reports it) is left out, so
  // one lost file cannot stop every later write.
  const recorded: string[] = [];
  for (const f of await recordedFiles(conn, dataDir)) if (await exists(f)) recorded.push(f);
  const hasFiles = recorded.length > 0;
  const kind = await gwasRelationKind(conn);
  if (hasFiles) {
    await inTransaction(conn, async () => {
      if (kind === 'table') await conn.run('DROP TABLE gwas_results');
      await conn.run(`CREATE OR REPLACE VIEW gwas_results AS ${gwasReadSql(recorded)}`);
    });
  } else if (kind !== 'table') {
    await inTransaction(conn, async () => {
      if (kind === 'view') await conn.run('DROP VIEW gwas_results');
      await conn.run(createTableSql('gwas_results'));
    });
  }
}

/**
 * Create the results tables if missing and point `gwas_results` at the data folder's Parquet.
 * Idempotent; needs the engine database attached writable (inside `withEngineDb`).
 */
export async function ensureResultsSchema(conn: DuckDBConnection, dataDir: string): Promise<void> {
  for (const table of ['studies', 'runs', ...RESULT_TABLE_NAMES] as TableName[]) {
    if (table !== 'gwas_results') await conn.run(createTableSql(table));
  }
  await syncGwasRelation(conn, dataDir);
}

// --- Row conversion ---

function toSqlValue(value: unknown): DuckDBValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
}

/** DuckDB JS values → plain JSON-able values (BIGINT → number, timestamps → ISO strings). */
function fromSqlValue(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return value.toISOString();
  return value;
}

async function selectRows(conn: DuckDBConnection, sql: string, params: DuckDBValue[] = []) {
  const reader = await conn.runAndReadAll(sql, params);
  return reader
    .getRowObjectsJS()
    .map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, fromSqlValue(v)])));
}

/** Insert validated rows in batches of bound parameters (values are never concatenated). */
async function insertRows(conn: DuckDBConnection, qualifiedTable: string, table: TableName, rows: object[]) {
  const cols = columnsOf(table);
  const names = cols.map((c) => sqlIdent(c.name)).join(', ');
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

// --- Studies and runs ---

/** Record (or update) a study. `created_at` keeps its first value. */
export async function recordStudy(config: EngineConfig, study: StudyRow): Promise<void> {
  const row = studyRowSchema.parse(study);
  await withEngineDb(config, async (conn) => {
    await ensureResultsSchema(conn, config.dataDir);
    await conn.run(
      `INSERT INTO studies VALUES ($1, $2, CAST($3 AS JSON), $4, CAST($5 AS TIMESTAMPTZ))
       ON CONFLICT (study_id) DO UPDATE SET kind = excluded.kind, spec_json = excluded.spec_json, spec_hash = excluded.spec_hash`,
      [row.study_id, row.kind, row.spec_json, row.spec_hash, row.created_at],
    );
  });
}

/** Insert or replace a run's provenance row (a retried start overwrites its own row). */
export async function recordRun(config: EngineConfig, run: RunRow): Promise<void> {
  const row = runRowSchema.parse(run);
  await withEngineDb(config, async (conn) => {
    await ensureResultsSchema(conn, config.dataDir);
    await inTransaction(conn, async () => {
      await conn.run('DELETE FROM runs WHERE run_id = $1', [row.run_id]);
      await insertRows(conn, 'runs', 'runs', [row]);
    });
  });
}

export const runFinishSchema = z.strictObject({
  status: z.enum(['completed', 'failed', 'cancelled']),
  finished_at: runRowSchema.shape.finished_at.unwrap(),
  timings_json: runRowSchema.shape.timings_json,
  error: runRowSchema.shape.error.optional(),
});
export type RunFinish = z.infer<typeof runFinishSchema>;

/** Mark a run finished. Raises InputError for an unknown run. */
export async function finishRun(config: EngineConfig, runId: string, finish: RunFinish): Promise<void> {
  assertRunId(runId);
  const f = runFinishSchema.parse(finish);
  await withEngineDb(config, async (conn) => {
    await ensureResultsSchema(conn, config.dataDir);
    const reader = await conn.runAndReadAll(
      `UPDATE runs SET status = $2, finished_at = CAST($3 AS TIMESTAMPTZ), timings_json = CAST($4 AS JSON), error = $5
       WHERE run_id = $1 RETURNING run_id`,
      [runId, f.status, f.finished_at, f.timings_json, f.error ?? null],
    );
    if (reader.getRows().length === 0) throw new InputError(`unknown run id ${runId}`, { field: 'run_id' });
  });
}

function parseRun(row: Record<string, unknown>): RunRow {
  return runRowSchema.parse(row);
}

/** One run, or undefined. Opens the database read-only. */
export async function getRun(config: EngineConfig, runId: string): Promise<RunRow | undefined> {
  if (!RUN_ID_PATTERN.test(runId) || !(await exists(config.database))) return undefined;
  const rows = await withEngineDb(
    config,
    async (conn) => {
      if (!(await hasTable(conn, 'runs'))) return [];
      return selectRows(conn, 'SELECT * FROM runs WHERE run_id = $1', [runId]);
    },
    { readOnly: true },
  );
  return rows[0] ? parseRun(rows[0]) : undefined;
}

/** All runs, newest first. Opens the database read-only. */
export async function listRuns(config: EngineConfig): Promise<RunRow[]> {
  if (!(await exists(config.database))) return [];
  const rows = await withEngineDb(
    config,
    async (conn) => {
      if (!(await hasTable(conn, 'runs'))) return [];
      return selectRows(conn, 'SELECT * FROM runs ORDER BY started_at DESC, run_id');
    },
    { readOnly: true },
  );
  return rows.map(parseRun);
}

async function hasTable(conn: DuckDBConnection, name: string): Promise<boolean> {
  const reader = await conn.runAndReadAll(
    `SELECT 1 FROM information_schema.tables
     WHERE table_catalog = current_database() AND table_schema = current_schema() AND table_name = $1`,
    [name],
  );
  return reader.getRows().length > 0;
}

// --- Per-run result tables ---

/** Result rows to write; `run_id` may be left out (it is set to the run being written). */
export type ResultRowsInput<T extends ResultTable> = (Omit<ResultRow<T>, 'run_id'> & { run_id?: string })[];

/** Where a run's results come from: a Parquet file with the table's columns, or rows. */
export type ResultSource<T extends ResultTable> = { parquet: string } | ResultRowsInput<T>;

export interface WriteOptions {
  /**
   * GWAS only: replace just this named part (e.g. a shard id) instead of the run's whole GWAS
   * result set. Letters, digits, `_` and `-`.
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
  if (table === 'gwas_results')
    return writeGwasResults(config, runId, source as ResultSource<'gwas_results'>, options);
  if (options.part !== undefined)
    throw new InputError('part applies to gwas_results only', { field: 'part' });
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

async function listParquet(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  const out: string[] = [];
  for (const p of await readdir(dir, { withFileTypes: true })) {
    if (!p.isDirectory() || !p.name.startsWith('phenotype=')) continue;
    for (const c of await readdir(join(dir, p.name), { withFileTypes: true })) {
      if (!c.isDirectory() || !c.name.startsWith('chrom=')) continue;
      for (const f of await readdir(join(dir, p.name, c.name))) {
        if (f.endsWith('.parquet')) out.push(join(p.name, c.name, f));
      }
    }
  }
  return out;
}

async function writeGwasResults(
  config: EngineConfig,
  runId: string,
  source: ResultSource<'gwas_results'>,
  options: WriteOptions,
): Promise<{ rows: number }> {
  const part = options.part ?? 'all';
  if (!PART_PATTERN.test(part))
    throw new InputError(`bad part name ${JSON.stringify(part)}`, { field: 'part' });
  const rows = Array.isArray(source) ? validateRows(runId, 'gwas_results', source) : undefined;
  const target = gwasDir(config.dataDir, runId);
  await removeStaleOldDirs(runDir(config.dataDir, runId));
  const tmp = join(
    runDir(config.dataDir, runId),
    `.gwas.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  try {
    const count = await withCompute(config, async (conn) => {
      let select: string;
      const temp = `gwas_in_${randomBytes(6).toString('hex')}`;
      if (rows) {
        await conn.run(`CREATE TEMP TABLE ${temp} (${columnDefinitions('gwas_results')})`);
        await insertRows(conn, temp, 'gwas_results', rows);
        select = `SELECT * FROM ${temp}`;
      } else {
        select = await checkedParquetSource(
          conn,
          runId,
          'gwas_results',
          (source as { parquet: string }).parquet,
        );
      }
      try {
        const reader = await conn.runAndReadAll(`SELECT count(*) FROM (${select})`);
        const n = Number(reader.getRows()[0][0]);
        if (n > 0) {
          await mkdir(tmp, { recursive: true });
          await conn.run(
            `COPY (${select} ORDER BY phenotype, chrom, pos) TO ${sqlString(tmp)}
             (FORMAT parquet, PARTITION_BY (phenotype, chrom), FILENAME_PATTERN ${sqlString(`${part}_{i}`)}, ROW_GROUP_SIZE 8192, OVERWRITE_OR_IGNORE)`,
          );
        }
        return n;
      } finally {
        if (rows) await conn.run(`DROP TABLE IF EXISTS ${temp}`);
      }
    });
    await publishGwas(tmp, target, part, options.part === undefined);
    const published = (await listParquet(target)).map((f) => join(target, f));
    await withEngineDb(config, async (conn) => {
      await ensureResultsSchema(conn, config.dataDir);
      await inTransaction(conn, () => recordRunFiles(conn, config.dataDir, runId, published));
      await syncGwasRelation(conn, config.dataDir);
    });
    return { rows: count };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Remove `gwas.old-*` folders left by a whole-run replace that was interrupted. */
async function removeStaleOldDirs(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  for (const name of await readdir(dir)) {
    if (name.startsWith('gwas.old-')) await rm(join(dir, name), { recursive: true, force: true });
  }
}

/** Move freshly written partition files into place and drop the part's stale files. */
async function publishGwas(tmp: string, target: string, part: string, wholeRun: boolean): Promise<void> {
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
  burden_results: 'gene, mask, aaf_bin, phenotype',
  lead_loci: 'phenotype, locus_id',
  qc_summary: 'step, filter',
};

/** Remove a run and all its results (rows, Parquet files and the runs row). */
export async function deleteRun(config: EngineConfig, runId: string): Promise<void> {
  assertRunId(runId);
  const target = gwasDir(config.dataDir, runId);
  const old = `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
  await withEngineDb(config, async (conn) => {
    await ensureResultsSchema(conn, config.dataDir);
    await inTransaction(conn, async () => {
      for (const table of RESULT_TABLE_NAMES) {
        if (table !== 'gwas_results')
          await conn.run(`DELETE FROM ${sqlIdent(table)} WHERE run_id = $1`, [runId]);
      }
      await conn.run('DELETE FROM runs WHERE run_id = $1', [runId]);
      await conn.run('DELETE FROM run_files WHERE run_id = $1', [runId]);
    });
    await syncGwasRelation(conn, config.dataDir);
  });
  if (await exists(target)) await rename(target, old);
  await rm(old, { recursive: true, force: true });
}

/** The run, or an InputError naming the known runs. */
export async function requireRun(config: EngineConfig, runId: string): Promise<RunRow> {
  const run = RUN_ID_PATTERN.test(runId) ? await getRun(config, runId) : undefined;
  if (run) return run;
  const known = (await listRuns(config)).slice(0, 5).map((r) => r.run_id);
  throw new InputError(
    `unknown run id ${JSON.stringify(runId)}`,
    { field: '--run' },
    known.length > 0 ? `recent runs: ${known.join(', ')}` : 'no runs are recorded yet; run a study first',
  );
}
