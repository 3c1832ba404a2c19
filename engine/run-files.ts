/**
 * The files a run's results live in, recorded in the catalog (`run_files`: run id, path
 * relative to the data folder, size and sha256), so the results views read exactly those files —
 * never a glob that would pick up a stray or half-written file — and `biobank verify` can check
 * every one. GWAS results (`runs/<run>/gwas/phenotype=…/chrom=…/*.parquet`) and meta-analysis
 * results (`runs/<run>/meta/chrom=…/*.parquet`) live in files, told apart by their area (the
 * folder after the run id); the other result tables are rows of the engine database.
 */
import { stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { RUN_FILES_DDL, type RunFile } from '../schemas/catalog.js';
import type { EngineConfig } from '../temporal.config.js';
import { hasTable, withEngineDb } from './duckdb.js';
import { exists, sha256File } from './fsutil.js';

export { RUN_FILES_DDL, type RunFile } from '../schemas/catalog.js';

async function describeFile(dataDir: string, runId: string, abs: string): Promise<RunFile> {
  return {
    run_id: runId,
    path: relative(dataDir, abs),
    size: (await stat(abs)).size,
    sha256: await sha256File(abs),
  };
}

/** SQL: the area (`gwas`, `meta`) of a recorded path `runs/<run>/<area>/…`. */
const AREA_SQL = "split_part(path, '/', 3)";

/**
 * Replace the recorded files of `runId` in one area (default `gwas`) with `files` (absolute
 * paths), in the caller's transaction.
 */
export async function recordRunFiles(
  conn: DuckDBConnection,
  dataDir: string,
  runId: string,
  files: string[],
  area = 'gwas',
): Promise<void> {
  const rows = await Promise.all(files.map((f) => describeFile(dataDir, runId, f)));
  await conn.run(RUN_FILES_DDL);
  await conn.run(`DELETE FROM run_files WHERE run_id = $1 AND ${AREA_SQL} = $2`, [runId, area]);
  for (const r of rows)
    await conn.run('INSERT INTO run_files VALUES ($1, $2, $3, $4)', [r.run_id, r.path, r.size, r.sha256]);
}

/**
 * Create `run_files` if missing. A catalog made before it existed has GWAS files but no record
 * of them: they are recorded once, as found (the files the old glob view read).
 */
export async function ensureRunFiles(
  conn: DuckDBConnection,
  dataDir: string,
  globbed: () => Promise<string[]>,
) {
  if (await hasTable(conn, 'run_files')) return;
  await conn.run(RUN_FILES_DDL);
  const byRun = new Map<string, string[]>();
  for (const f of await globbed()) {
    const runId = relative(join(dataDir, 'runs'), f).split(/[\\/]/)[0];
    byRun.set(runId, [...(byRun.get(runId) ?? []), f]);
  }
  for (const [runId, files] of byRun) await recordRunFiles(conn, dataDir, runId, files);
}

/** Absolute paths of every recorded file of an area (default GWAS; of one run, or all), in a stable order. */
export async function recordedFiles(
  conn: DuckDBConnection,
  dataDir: string,
  runId?: string,
  area = 'gwas',
): Promise<string[]> {
  const r = await conn.runAndReadAll(
    `SELECT path FROM run_files WHERE ${AREA_SQL} = $1 ${runId === undefined ? '' : 'AND run_id = $2'} ORDER BY run_id, path`,
    runId === undefined ? [area] : [area, runId],
  );
  return r.getRows().map((row) => join(dataDir, row[0] as string));
}

export interface VerifyReport {
  checked: number;
  missing: RunFile[];
  changed: (RunFile & { actualSize: number; actualSha256: string })[];
  /** Files under runs/<run>/gwas/ that no run recorded (absolute paths). */
  unrecorded: string[];
}

/** Check every recorded file (of one run, or all) against the catalog, and find unrecorded ones. */
export async function verifyRunFiles(
  config: EngineConfig,
  listGwasFiles: (runId?: string) => Promise<string[]>,
  runId?: string,
): Promise<VerifyReport> {
  const recorded = (await exists(config.database))
    ? await withEngineDb(
        config,
        async (conn) => {
          if (!(await hasTable(conn, 'run_files'))) return [] as RunFile[];
          const r = await conn.runAndReadAll(
            `SELECT run_id, path, size::DOUBLE AS size, sha256 FROM run_files ${runId ? 'WHERE run_id = $1' : ''} ORDER BY run_id, path`,
            runId ? [runId] : [],
          );
          return r.getRowObjectsJS() as unknown as RunFile[];
        },
        { readOnly: true },
      )
    : [];
  const report: VerifyReport = { checked: recorded.length, missing: [], changed: [], unrecorded: [] };
  const known = new Set<string>();
  for (const f of recorded) {
    const abs = join(config.dataDir, f.path);
    known.add(abs);
    if (!(await exists(abs))) {
      report.missing.push(f);
      continue;
    }
    const actual = await describeFile(config.dataDir, f.run_id, abs);
    if (actual.size !== Number(f.size) || actual.sha256 !== f.sha256)
      report.changed.push({ ...f, actualSize: actual.size, actualSha256: actual.sha256 });
  }
  for (const f of await listGwasFiles(runId)) if (!known.has(f)) report.unrecorded.push(f);
  return report;
}

/**
 * The GWAS Parquet files of a run (or of every run) as recorded in `run_files`, absolute: what
 * the report, the viewer and the exports read, so a stray or half-written file in a run's
 * folder is never shown or exported ([] without a database or a record).
 */
export async function runGwasFiles(config: EngineConfig, runId?: string): Promise<string[]> {
  if (!(await exists(config.database))) return [];
  return withEngineDb(
    config,
    async (conn) => ((await hasTable(conn, 'run_files')) ? recordedFiles(conn, config.dataDir, runId) : []),
    { readOnly: true, lockTimeoutMs: 15_000 },
  );
}
