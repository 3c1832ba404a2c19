/**
 * Self-test activities: a small but real DuckDB round trip (Parquet out, engine database
 * in) that proves a worker, its DuckDB instance and the data folder work end to end.
 */
import { join } from 'node:path';
import { heartbeat } from '@temporalio/activity';
import { asEngineContext, type EngineContext } from '../engine/context.js';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce, exists } from '../engine/fsutil.js';
import { SELFTEST_RUNS_DDL } from '../schemas/catalog.js';
import type { EngineConfig } from '../temporal.config.js';

export interface SelfTestTableInput {
  /** Content-derived id; names the output so a retry rewrites the same file. */
  runId: string;
  /** Number of synthetic variants to write. */
  nVariants: number;
  /** Seed of the deterministic allele frequencies. */
  seed: number;
}

export interface SelfTestTableResult {
  path: string;
  nVariants: number;
  meanAf: number;
  /** True when the file already existed and was reused. */
  reused: boolean;
}

export function createSelfTestActivities(from: EngineConfig | EngineContext) {
  const engine = asEngineContext(from);
  const { config } = engine;
  return {
    /** Write a Parquet table of `nVariants` synthetic allele frequencies (idempotent). */
    async writeSelfTestTable(input: SelfTestTableInput): Promise<SelfTestTableResult> {
      if (!Number.isInteger(input.nVariants) || input.nVariants < 1 || input.nVariants > 1e8) {
        throw new InputError('must be a whole number from 1 to 100000000', { field: 'nVariants' });
      }
      if (!/^[A-Za-z0-9._-]{1,128}$/.test(input.runId)) {
        throw new InputError('may hold only letters, digits, dot, dash and underscore', { field: 'runId' });
      }
      const path = join(config.dataDir, 'selftest', `${input.runId}.parquet`);
      const reused = await exists(path);
      if (!reused) {
        await atomicProduce(path, (tmp) =>
          engine.compute(async (conn) => {
            heartbeat({ phase: 'write' });
            await conn.run(
              `COPY (
                 SELECT i AS variant_idx,
                        'chr' || (1 + i % 22) AS chrom,
                        1000 + i * 137 AS pos,
                        ((hash(i + ${Number(input.seed)}) % 1000000) / 2000000.0)::DOUBLE AS af
                 FROM range(${Number(input.nVariants)}) t(i)
               ) TO ${sqlString(tmp)} (FORMAT parquet, ROW_GROUP_SIZE 8192)`,
            );
          }),
        );
      }
      const stats = await engine.compute(async (conn) => {
        const reader = await conn.runAndReadAll(
          `SELECT count(*)::INTEGER AS n, avg(af)::DOUBLE AS mean_af FROM read_parquet(${sqlString(path)})`,
        );
        return reader.getRowObjects()[0] as { n: number; mean_af: number };
      });
      return { path, nVariants: stats.n, meanAf: stats.mean_af, reused };
    },

    /** Record the self-test in the engine database; a retry replaces, never duplicates. */
    async recordSelfTest(input: {
      runId: string;
      workflowId: string;
      table: SelfTestTableResult;
    }): Promise<number> {
      return engine.engineDb(async (conn) => {
        await conn.run(SELFTEST_RUNS_DDL);
        await conn.run(
          `INSERT OR REPLACE INTO selftest_runs (run_id, workflow_id, parquet_path, n_variants, mean_af)
           VALUES ($1, $2, $3, $4, $5)`,
          [input.runId, input.workflowId, input.table.path, input.table.nVariants, input.table.meanAf],
        );
        const r = await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM selftest_runs');
        return (r.getRowObjects()[0] as { n: number }).n;
      });
    },
  };
}
