import type { DuckDBConnection, DuckDBDoubleVector, DuckDBIntegerVector } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import type { AnalysisTable } from '../schemas/study-io.js';

/** Load the analysis table into typed arrays: trait, covariates (column-major), sample index. */
export async function loadAnalysis(conn: DuckDBConnection, analysis: AnalysisTable) {
  const covCols = analysis.covariates.map((c) => `"cov_${c.replaceAll('"', '""')}"`);
  const K = analysis.traits?.length ?? 1;
  const yCols = ['y', ...Array.from({ length: K - 1 }, (_, k) => `y_${k + 1}`)];
  const cols = [...yCols, ...covCols];
  const nRows = Number(
    (
      await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(analysis.path)})`)
    ).getRows()[0][0],
  );
  const n = nRows;
  const c = analysis.covariates.length;
  const sampleIdx = new Int32Array(n);
  const ys = yCols.map(() => new Float64Array(n));
  const cov = new Float64Array(n * c);
  // Column vectors chunk by chunk (no row objects): every value as a double.
  const result = await conn.stream(
    `SELECT sample_idx::INTEGER, ${cols.map((x) => `${x}::DOUBLE`).join(', ')}
     FROM read_parquet(${sqlString(analysis.path)}) ORDER BY sample_idx`,
  );
  let i0 = 0;
  for (
    let chunk = await result.fetchChunk();
    chunk && chunk.rowCount > 0;
    chunk = await result.fetchChunk()
  ) {
    const rows = chunk.rowCount;
    const iv = chunk.getColumnVector(0) as DuckDBIntegerVector;
    for (let r = 0; r < rows; r++) sampleIdx[i0 + r] = iv.getItem(r) as number;
    for (let k = 0; k < K; k++) {
      const v = chunk.getColumnVector(1 + k) as DuckDBDoubleVector;
      for (let r = 0; r < rows; r++) ys[k][i0 + r] = (v.getItem(r) as number | null) ?? Number.NaN;
    }
    for (let j = 0; j < c; j++) {
      const v = chunk.getColumnVector(1 + K + j) as DuckDBDoubleVector;
      for (let r = 0; r < rows; r++) cov[j * n + i0 + r] = (v.getItem(r) as number | null) ?? Number.NaN;
    }
    i0 += rows;
  }
  /** y: the main trait; ys: every trait (y first). */
  return { n, c, sampleIdx, y: ys[0], ys, cov };
}
