/**
 * OMOP `visit_occurrence` → user table `tables/omop_visits.parquet`: EHR length and visit
 * counts per person, for studies to use as covariates.
 *
 * Columns (one row per valid person, persons without visits included):
 * - `n_visits` DOUBLE: visit_occurrence rows of the person (0 without visits);
 * - `first_visit_date`, `last_visit_date` VARCHAR `YYYY-MM-DD`: the earliest `visit_start_date`
 *   and the latest of `visit_end_date` / `visit_start_date` (NULL without visits);
 * - `ehr_length_days` DOUBLE: days from the first to the last visit date, both counted
 *   (a single one-day visit is 1; 0 without visits), as PheTK's `ehr_length` (in days).
 * Rows are checked like every event row (`visit_start_date`); `visit_end_date`, when given,
 * must be a date and not in the future.
 */
import { applyChecks, type OmopContext } from './checks.js';
import { eventChecks, eventView } from './events.js';
import { PERSONS } from './person.js';
import type { CdmColumns, LoadedTable } from './source.js';
import { writeUserTable } from './write.js';

export const VISIT_COLUMNS: CdmColumns = {
  required: ['person_id', 'visit_start_date'],
  optional: ['visit_end_date'],
  derived: ['_omop_date(visit_start_date) AS _date', '_omop_date(visit_end_date) AS _end'],
};

/** Validate `visit_occurrence` and write `tables/omop_visits.parquet`; returns its row count. */
export async function ingestVisits(ctx: OmopContext, t: LoadedTable, outDir: string): Promise<number> {
  const view = await eventView(ctx, t);
  const good = await applyChecks(
    ctx,
    t,
    view,
    eventChecks('visit_start_date', [], ctx.todaySql, [
      {
        field: 'visit_end_date',
        bad: 'visit_end_date IS NOT NULL AND _end IS NULL',
        reason: `'visit_end_date ' || visit_end_date || ' is not a date YYYY-MM-DD'`,
      },
      {
        field: 'visit_end_date',
        bad: `_end > ${ctx.todaySql}`,
        reason: `'visit_end_date ' || CAST(_end AS VARCHAR) || ' is in the future'`,
      },
    ]),
  );
  return writeUserTable(
    ctx,
    outDir,
    'omop_visits',
    `WITH v AS (SELECT person_id, _date AS s, greatest(_date, coalesce(_end, _date)) AS e FROM ${view} WHERE ${good}),
          g AS (SELECT person_id, count(*) AS n, min(s) AS first, max(e) AS last FROM v GROUP BY person_id)
     SELECT p.person_id, coalesce(g.n, 0)::DOUBLE AS n_visits,
            CAST(g.first AS VARCHAR) AS first_visit_date, CAST(g.last AS VARCHAR) AS last_visit_date,
            coalesce(date_diff('day', g.first, g.last) + 1, 0)::DOUBLE AS ehr_length_days
     FROM ${PERSONS} p LEFT JOIN g USING (person_id)`,
  );
}
