/**
 * Where a run's results live and what it is called: the deterministic run id, its folders,
 * the GWAS Parquet glob and reader SQL, and the software version recorded with each run.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  columnsOf,
  PARQUET_RESULT_TABLES,
  type ParquetResultTable,
  RUN_ID_PATTERN,
} from '../schemas/results.js';
import { sqlIdent, sqlString } from './duckdb.js';
import { InputError } from './errors.js';
import { canonicalJson, sha256Text } from './fsutil.js';
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
  return parquetReadSql('gwas_results', glob);
}

/** `<dataDir>/runs/<runId>/<area>`: where a Parquet-stored result table of the run lives. */
export function resultAreaDir(dataDir: string, runId: string, table: ParquetResultTable): string {
  return join(runDir(dataDir, runId), PARQUET_RESULT_TABLES[table].area);
}

/** SQL reading a Parquet-stored result table's files as its rows (partition columns VARCHAR). */
export function parquetReadSql(table: ParquetResultTable, glob: string | string[]): string {
  const cols = columnsOf(table).map((c) => `CAST(${sqlIdent(c.name)} AS ${c.sql}) AS ${sqlIdent(c.name)}`);
  const files = Array.isArray(glob) ? `[${glob.map(sqlString).join(', ')}]` : sqlString(glob);
  const types = PARQUET_RESULT_TABLES[table].partitions.map((p) => `'${p}': 'VARCHAR'`).join(', ');
  return `SELECT ${cols.join(', ')} FROM read_parquet(${files}, hive_partitioning = true, hive_types = {${types}}, union_by_name = true)`;
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
