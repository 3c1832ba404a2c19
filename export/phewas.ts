/**
 * PheWAS table export: every `phewas_results` column of one run, in the contract's order
 * (`schemas/results.ts`), as `phewas_results.csv` (RFC 4180 quoting; empty field = missing).
 * Person counts (`n_cases`, `n_controls`, `n_excluded`) of 1–20 are written as `≤20` unless
 * suppression is off; in such a row the other two counts, from which the suppressed one could be
 * derived (the three add up to the cohort size), are written rounded down to a multiple of 20
 * as `>=N` (see `suppressCountGroup`). A skip `reason` quoting a count (`8 cases < minCases 20`)
 * quotes it as shown (`≤20 cases < minCases 20`).
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sqlIdent, sqlString, withEngineDb } from '../engine/duckdb.js';
import { type Suppression, suppressedReasonSql } from '../engine/privacy.js';
import { columnsOf } from '../schemas/results.js';
import type { EngineConfig } from '../temporal.config.js';
import {
  type ExportResult,
  privacyNote,
  produceFolder,
  requireRun,
  suppressedCountGroupSql,
} from './common.js';

/** Person-count columns of `phewas_results`, suppressed on export. */
export const PHEWAS_COUNT_COLUMNS = ['n_cases', 'n_controls', 'n_excluded'] as const;

export interface PhewasOptions {
  runId: string;
  out: string;
  suppress?: boolean;
}

export async function exportPhewas(config: EngineConfig, options: PhewasOptions): Promise<ExportResult> {
  const suppress: Suppression = options.suppress === false ? false : config.privacy.smallCellMax;
  const run = await requireRun(config, options.runId);
  const counts = suppressedCountGroupSql(PHEWAS_COUNT_COLUMNS.map(sqlIdent), suppress);
  const select = columnsOf('phewas_results')
    .map((c) => {
      const i = (PHEWAS_COUNT_COLUMNS as readonly string[]).indexOf(c.name);
      if (i >= 0) return `${counts[i]} AS ${sqlIdent(c.name)}`;
      if (c.name === 'reason')
        return `${suppressedReasonSql('reason', counts[0], counts[1], suppress)} AS reason`;
      return sqlIdent(c.name);
    })
    .join(', ');
  return produceFolder(options.out, async (tmp, finalDir) => {
    const name = 'phewas_results.csv';
    const written = await withEngineDb(
      config,
      async (conn) => {
        // The run id is bound, never spliced into the statement.
        await conn.run(
          `COPY (SELECT ${select} FROM phewas_results WHERE run_id = $1 ORDER BY predictor, p NULLS LAST, phecode)
           TO ${sqlString(join(tmp, name))} (FORMAT csv, HEADER true)`,
          [run.run_id],
        );
        const r = await conn.runAndReadAll('SELECT count(*) FROM phewas_results WHERE run_id = $1', [
          run.run_id,
        ]);
        return Number(r.getRows()[0][0]);
      },
      { readOnly: true },
    );
    await writeFile(
      join(tmp, 'README.txt'),
      [
        `PheWAS results of run ${run.run_id} (study ${run.study_id}, release ${run.release_id}): ${written} rows.`,
        'beta is the log odds ratio per unit of the predictor; odds_ratio, ci_low and ci_high are exp(beta) and its 95% Wald interval.',
        privacyNote(suppress),
        '',
      ].join('\n'),
    );
    return {
      out: finalDir,
      files: [name, 'README.txt'],
      rows: [{ name: 'phewas_results', written, excluded: 0 }],
    };
  });
}
