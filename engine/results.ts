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
 * This module records studies and runs and re-exports the rest: paths (`run-paths.ts`), the
 * database and its views (`results-db.ts`), per-run table writers and readers (`result-tables.ts`).
 * Table contracts: `schemas/results.ts`. User documentation: `docs/results.md`.
 */
import { z } from 'zod';
import {
  RUN_ID_PATTERN,
  type RunRow,
  runRowSchema,
  type StudyRow,
  studyRowSchema,
} from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import { withEngineDb } from './duckdb.js';
import { InputError } from './errors.js';
import { exists } from './fsutil.js';
import { ensureResultsSchema, hasTable, insertRows, inTransaction, selectRows } from './results-db.js';
import { assertRunId } from './run-paths.js';

export * from './result-tables.js';
export { ensureResultsSchema, gwasFilesOnDisk } from './results-db.js';
export * from './run-paths.js';

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
