/**
 * Writing one predictor's Cox PheWAS rows (one per phecode, in phecode order) to
 * `<runDir>/phewas-cox/<predictor>.parquet` (the `phewas_cox_results` contract without run_id)
 * and its summary record (`.json`: tested, significant after Bonferroni, top hits with the
 * hazard ratio in `oddsRatio` and the events in `nCases`, `model: 'cox'`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { atomicProduce, atomicWriteFile } from '../engine/fsutil.js';
import { columnsOfSchema } from '../schemas/columns.js';
import { PHEWAS_COX_ROW_DDL, type PhewasCoxRow, phewasCoxRowSchema } from '../schemas/layouts.js';
import type { COX_TIME_SCALES } from '../schemas/results.js';
import type { PhenomeRef, PhewasPredictor, PhewasResult, RunContext } from '../schemas/study-io.js';
import { bonferroniThreshold } from '../stats/multiple-testing.js';
import type { CoxPhecodeFit } from './cox.js';
import { type PhecodeInfo, safeName } from './inputs.js';

export type { PhewasCoxRow } from '../schemas/layouts.js';
export type CoxTimeScale = (typeof COX_TIME_SCALES)[number];

const ROW_COLUMNS = columnsOfSchema('phewas cox rows', phewasCoxRowSchema);

/** The Parquet file of one predictor's Cox rows (its record is `<file>.json`). */
export function coxPhewasPath(runDir: string, predictorId: string): string {
  return join(runDir, 'phewas-cox', `${safeName(predictorId)}.parquet`);
}

/** The rows of one predictor, in phecode order. */
export function coxRows(
  phenome: Pick<PhenomeRef, 'phecodeVersion'>,
  predictor: Pick<PhewasPredictor, 'id' | 'type'>,
  phecodes: Pick<PhecodeInfo, 'phecode' | 'description' | 'category'>[],
  fits: CoxPhecodeFit[],
  timeScale: CoxTimeScale,
): PhewasCoxRow[] {
  return fits.map((f) => {
    const ph = phecodes[f.index];
    const { index: _index, ...stats } = f;
    return {
      predictor: predictor.id,
      predictor_type: predictor.type,
      phecode: ph.phecode,
      phecode_version: phenome.phecodeVersion,
      description: ph.description,
      category: ph.category,
      time_scale: timeScale,
      ...stats,
    };
  });
}

/** Write one predictor's rows and its record; its summary. */
export async function writeCoxPhewas(
  conn: DuckDBConnection,
  run: RunContext,
  phenome: PhenomeRef,
  predictor: PhewasPredictor,
  phecodes: PhecodeInfo[],
  fits: CoxPhecodeFit[],
  timeScale: CoxTimeScale,
): Promise<PhewasResult> {
  const out = coxPhewasPath(run.runDir, predictor.id);
  const record = `${out}.json`;
  const rows = coxRows(phenome, predictor, phecodes, fits, timeScale);

  const table = `phewas_cox_rows_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  // The staging table carries the results contract's constraints (schemas/layouts.ts), so a
  // row that breaks it fails here, before any file is written.
  await conn.run(`CREATE OR REPLACE TABLE ${table} (${PHEWAS_COX_ROW_DDL})`);
  try {
    const app = await conn.createAppender(table);
    for (const row of rows) {
      for (const c of ROW_COLUMNS) {
        const v = row[c.name as keyof PhewasCoxRow];
        if (v === null || (typeof v === 'number' && !Number.isFinite(v))) app.appendNull();
        else if (c.sql === 'INTEGER') app.appendInteger(v as number);
        else if (c.sql === 'DOUBLE') app.appendDouble(v as number);
        else app.appendVarchar(String(v));
      }
      app.endRow();
    }
    app.closeSync();
    await mkdir(join(run.runDir, 'phewas-cox'), { recursive: true });
    await atomicProduce(out, (tmp) => conn.run(`COPY ${table} TO ${sqlString(tmp)} (FORMAT parquet)`));
  } finally {
    await conn.run(`DROP TABLE IF EXISTS ${table}`);
  }

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
        oddsRatio: r.hazard_ratio,
        nCases: r.n_events,
      })),
    model: 'cox',
  };
  await atomicWriteFile(record, JSON.stringify(result));
  return result;
}
