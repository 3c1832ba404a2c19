/**
 * Writing one predictor's PheWAS rows (one per phecode, in phecode order) to Parquet, and its
 * summary record (tested, significant after Bonferroni, top hits).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile } from '../engine/fsutil.js';
import { columnsOfSchema } from '../schemas/columns.js';
import { PHEWAS_ROW_DDL, type PhewasRow, phewasRowSchema } from '../schemas/layouts.js';
import type { PhenomeRef, PhewasPredictor, PhewasResult, RunContext } from '../schemas/study-io.js';
import { bonferroniThreshold } from '../stats/multiple-testing.js';
import type { PhecodeFit } from './fit.js';
import { type PhecodeInfo, safeName } from './inputs.js';

export type { PhewasRow } from '../schemas/layouts.js';

const ROW_COLUMNS = columnsOfSchema('phewas rows', phewasRowSchema);

/** Write one predictor's rows (one per phecode, in phecode order) and its record; its summary. */
export async function writePhewas(
  conn: DuckDBConnection,
  run: RunContext,
  phenome: PhenomeRef,
  predictor: PhewasPredictor,
  phecodes: PhecodeInfo[],
  fits: PhecodeFit[],
): Promise<PhewasResult> {
  const out = join(run.runDir, 'phewas', `${safeName(predictor.id)}.parquet`);
  const record = `${out}.json`;
  const rows: PhewasRow[] = fits.map((f) => {
    const ph = phecodes[f.index];
    return {
      predictor: predictor.id,
      predictor_type: predictor.type,
      phecode: ph.phecode,
      phecode_version: phenome.phecodeVersion,
      description: ph.description,
      category: ph.category,
      n_cases: f.n_cases,
      n_controls: f.n_controls,
      n_excluded: f.n_excluded,
      beta: f.beta,
      se: f.se,
      odds_ratio: f.odds_ratio,
      ci_low: f.ci_low,
      ci_high: f.ci_high,
      p: f.p,
      neg_log10_p: f.neg_log10_p,
      test: f.test,
      status: f.status,
      reason: f.reason,
    };
  });

  const table = `phewas_rows_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  // The staging table carries the results contract's constraints (schemas/layouts.ts), so a
  // row that breaks it fails here, before any file is written.
  await conn.run(`CREATE OR REPLACE TABLE ${table} (${PHEWAS_ROW_DDL})`);
  const app = await conn.createAppender(table);
  for (const row of rows) {
    for (const c of ROW_COLUMNS) {
      const v = row[c.name as keyof PhewasRow];
      if (v === null || (typeof v === 'number' && !Number.isFinite(v))) app.appendNull();
      else if (c.sql === 'INTEGER') app.appendInteger(v as number);
      else if (c.sql === 'DOUBLE') app.appendDouble(v as number);
      else app.appendVarchar(String(v));
    }
    app.endRow();
  }
  app.closeSync();
  await mkdir(join(run.runDir, 'phewas'), { recursive: true });
  await atomicProduce(out, (tmp) => conn.run(`COPY ${table} TO ${sqlString(tmp)} (FORMAT parquet)`));
  await conn.run(`DROP TABLE ${table}`);

  const tested = rows.filter((r) => r.status === 'ok');
  const bonf = bonferroniThreshold(0.05, tested.length);
  const result: PhewasResult = {
    predictorId: predictor.id,
    path: out,
    nTested: tested.length,
    nSignificant: tested.filter((r) => (r.p ?? 1) < bonf).length,
    top: [...tested]
      .sort((p, q) => (q.neg_log10_p ?? 0) - (p.neg_log10_p ?? 0))
      .slice(0, 10)
      .map((r) => ({
        phecode: r.phecode,
        description: r.description ?? '',
        p: r.p ?? 1,
        oddsRatio: r.odds_ratio,
        nCases: r.n_cases,
      })),
  };
  await atomicWriteFile(record, JSON.stringify(result));
  return result;
}
