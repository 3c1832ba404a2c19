/**
 * Writing result rows to Parquet through a staging table that carries the results contract's
 * types, NOT NULL and CHECK constraints (the DDL of schemas/layouts.ts or schemas/results.ts), so
 * a row that breaks the contract fails before any file is written; then a temp file and a
 * rename (atomicProduce). Non-finite numbers and missing values are written as NULL.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce } from '../engine/fsutil.js';
import type { PhewasPredictor, PhewasResult } from '../schemas/study-io.js';
import { bonferroniThreshold } from '../stats/multiple-testing.js';

/** A column of the staging table: its name and SQL type. */
export interface StagedColumn {
  name: string;
  sql: string;
}

export async function writeStagedParquet<R extends object>(
  conn: DuckDBConnection,
  spec: { ddl: string; columns: readonly StagedColumn[]; prefix: string },
  rows: readonly R[],
  out: string,
): Promise<void> {
  const table = `${spec.prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await conn.run(`CREATE OR REPLACE TEMP TABLE ${table} (${spec.ddl})`);
  try {
    const app = await conn.createAppender(table);
    for (const row of rows) {
      for (const c of spec.columns) {
        const v = (row as Record<string, unknown>)[c.name];
        if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) app.appendNull();
        else if (c.sql === 'INTEGER') app.appendInteger(v as number);
        else if (c.sql === 'DOUBLE') app.appendDouble(v as number);
        else app.appendVarchar(String(v));
      }
      app.endRow();
    }
    app.closeSync();
    await atomicProduce(out, (tmp) => conn.run(`COPY ${table} TO ${sqlString(tmp)} (FORMAT parquet)`));
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${table}`);
  }
}

/** What a predictor's summary record needs of each row. */
export interface SummaryRow {
  phecode: string;
  description: string | null;
  status: string;
  p: number | null;
  neg_log10_p: number | null;
  /** odds ratio (logistic) or hazard ratio (Cox). */
  ratio: number | null;
  /** cases (logistic) or events (Cox). */
  n: number;
}

/**
 * A predictor's summary (PhewasResult): phecodes tested (status ok), significant after
 * Bonferroni over them, and the ten strongest.
 */
export function predictorSummary(
  predictor: PhewasPredictor,
  path: string,
  rows: readonly SummaryRow[],
  model?: 'cox',
): PhewasResult {
  const tested = rows.filter((r) => r.status === 'ok');
  const bonf = bonferroniThreshold(0.05, tested.length);
  return {
    predictorId: predictor.id,
    path,
    nTested: tested.length,
    nSignificant: tested.filter((r) => (r.p ?? 1) < bonf).length,
    top: [...tested]
      .sort((p, q) => (q.neg_log10_p ?? 0) - (p.neg_log10_p ?? 0))
      .slice(0, 10)
      .map((r) => ({
        phecode: r.phecode,
        description: r.description ?? '',
        p: r.p ?? 1,
        oddsRatio: r.ratio,
        nCases: r.n,
      })),
    ...(model ? { model } : {}),
  };
}
