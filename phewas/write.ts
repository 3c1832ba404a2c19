/**
 * Writing one predictor's PheWAS rows (one per phecode, in phecode order) to Parquet, and its
 * summary record (tested, significant after Bonferroni, top hits).
 */

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { atomicWriteFile } from '../engine/fsutil.js';
import { columnsOfSchema } from '../schemas/columns.js';
import { PHEWAS_ROW_DDL, type PhewasRow, phewasRowSchema } from '../schemas/layouts.js';
import type { PhenomeRef, PhewasPredictor, PhewasResult, RunContext } from '../schemas/study-io.js';
import type { PhecodeFit } from './fit.js';
import { type PhecodeInfo, safeName } from './inputs.js';
import { predictorSummary, writeStagedParquet } from './staged-parquet.js';

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

  await mkdir(join(run.runDir, 'phewas'), { recursive: true });
  await writeStagedParquet(
    conn,
    { ddl: PHEWAS_ROW_DDL, columns: ROW_COLUMNS, prefix: 'phewas_rows' },
    rows,
    out,
  );
  const result = predictorSummary(
    predictor,
    out,
    rows.map((r) => ({ ...r, ratio: r.odds_ratio, n: r.n_cases })),
  );
  await atomicWriteFile(record, JSON.stringify(result));
  return result;
}
