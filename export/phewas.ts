/**
 * PheWAS table export: every `phewas_results` column of one run, in the contract's order
 * (`schemas/results.ts`), as `phewas_results.csv` (RFC 4180 quoting; empty field = missing), and
 * for a Cox PheWAS (`phewas.model: "cox"`) every `phewas_cox_results` column as
 * `phewas_cox_results.csv` (its counts n_events, n_censored, n_prevalent, n_excluded, n_at_risk
 * suppressed as one group). Either file is an input of a federated PheWAS meta-analysis.
 * Person counts (`n_cases`, `n_controls`, `n_excluded`) of 1–20 are written as `≤20` unless
 * suppression is off; in such a row the other two counts, from which the suppressed one could be
 * derived (the three add up to the cohort size), are written rounded down to a multiple of 20
 * as `>=N` (see `suppressCountGroup`). A skip `reason` quoting a count (`8 cases < minCases 20`)
 * quotes it as shown (`≤20 cases < minCases 20`).
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hasTable, sqlIdent, sqlString, withEngineDb } from '../engine/duckdb.js';
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

/** Person-count columns of `phewas_cox_results` (n_at_risk = events + censored), suppressed as one group. */
export const PHEWAS_COX_COUNT_COLUMNS = [
  'n_events',
  'n_censored',
  'n_prevalent',
  'n_excluded',
  'n_at_risk',
] as const;

type PhewasTable = 'phewas_results' | 'phewas_cox_results';

/** The SELECT list of one PheWAS table with its person counts under the small-cell rule. */
function exportColumns(table: PhewasTable, suppress: Suppression): string {
  const countCols: readonly string[] =
    table === 'phewas_results' ? PHEWAS_COUNT_COLUMNS : PHEWAS_COX_COUNT_COLUMNS;
  const counts = suppressedCountGroupSql(countCols.map(sqlIdent), suppress);
  return columnsOf(table)
    .map((c) => {
      const i = countCols.indexOf(c.name);
      if (i >= 0) return `${counts[i]} AS ${sqlIdent(c.name)}`;
      if (c.name === 'reason')
        return `${suppressedReasonSql('reason', counts[0], counts[1], suppress, table === 'phewas_results' ? ['cases', 'controls'] : ['events', 'censored'])} AS reason`;
      return sqlIdent(c.name);
    })
    .join(', ');
}

export async function exportPhewas(config: EngineConfig, options: PhewasOptions): Promise<ExportResult> {
  const suppress: Suppression = options.suppress === false ? false : config.privacy.smallCellMax;
  const run = await requireRun(config, options.runId);
  return produceFolder(options.out, async (tmp, finalDir) => {
    // phewas_results always (a header only when the run has none); phewas_cox_results when the
    // run has Cox rows (phewas.model "cox").
    const written = await withEngineDb(
      config,
      async (conn) => {
        const out: { name: PhewasTable; rows: number }[] = [];
        for (const table of ['phewas_results', 'phewas_cox_results'] as const) {
          if (!(await hasTable(conn, table))) continue;
          const r = await conn.runAndReadAll(`SELECT count(*) FROM ${table} WHERE run_id = $1`, [run.run_id]);
          const n = Number(r.getRows()[0][0]);
          if (table === 'phewas_cox_results' && n === 0) continue;
          // The run id is bound, never spliced into the statement.
          await conn.run(
            `COPY (SELECT ${exportColumns(table, suppress)} FROM ${table} WHERE run_id = $1
                   ORDER BY predictor, p NULLS LAST, phecode)
             TO ${sqlString(join(tmp, `${table}.csv`))} (FORMAT csv, HEADER true)`,
            [run.run_id],
          );
          out.push({ name: table, rows: n });
        }
        return out;
      },
      { readOnly: true },
    );
    const describe = (t: { name: PhewasTable; rows: number }) =>
      t.name === 'phewas_results'
        ? `${t.name}.csv: ${t.rows} rows. beta is the log odds ratio per unit of the predictor; odds_ratio, ci_low and ci_high are exp(beta) and its 95% Wald interval.`
        : `${t.name}.csv: ${t.rows} rows of the Cox PheWAS. beta is the log hazard ratio per unit of the predictor; hazard_ratio, ci_low and ci_high are exp(beta) and its 95% Wald interval.`;
    await writeFile(
      join(tmp, 'README.txt'),
      [
        `PheWAS results of run ${run.run_id} (study ${run.study_id}, release ${run.release_id}).`,
        ...written.map(describe),
        privacyNote(suppress),
        '',
      ].join('\n'),
    );
    return {
      out: finalDir,
      files: [...written.map((t) => `${t.name}.csv`), 'README.txt'],
      rows: written.map((t) => ({ name: t.name, written: t.rows, excluded: 0 })),
    };
  });
}
