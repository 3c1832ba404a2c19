/**
 * Writing one predictor's Cox PheWAS rows (one per phecode, in phecode order) to
 * `<runDir>/phewas-cox/<predictor>.parquet` (the `phewas_cox_results` contract without run_id)
 * and its summary record (`.json`: tested, significant after Bonferroni, top hits with the
 * hazard ratio in `oddsRatio` and the events in `nCases`, `model: 'cox'`).
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { atomicWriteFile } from '../engine/fsutil.js';
import { columnsOfSchema } from '../schemas/columns.js';
import { PHEWAS_COX_ROW_DDL, type PhewasCoxRow, phewasCoxRowSchema } from '../schemas/layouts.js';
import type { COX_TIME_SCALES } from '../schemas/results.js';
import type { PhenomeRef, PhewasPredictor, PhewasResult, RunContext } from '../schemas/study-io.js';
import type { CoxPhecodeFit } from './cox.js';
import { type PhecodeInfo, safeName } from './inputs.js';
import { predictorSummary, writeStagedParquet } from './staged-parquet.js';

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

  await mkdir(join(run.runDir, 'phewas-cox'), { recursive: true });
  await writeStagedParquet(
    conn,
    { ddl: PHEWAS_COX_ROW_DDL, columns: ROW_COLUMNS, prefix: 'phewas_cox_rows' },
    rows,
    out,
  );
  const result = predictorSummary(
    predictor,
    out,
    rows.map((r) => ({ ...r, ratio: r.hazard_ratio, n: r.n_events })),
    'cox',
  );
  await atomicWriteFile(record, JSON.stringify(result));
  return result;
}
