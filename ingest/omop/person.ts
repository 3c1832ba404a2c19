/**
 * OMOP `person` → canonical `persons` and the user table `tables/omop_person.parquet`.
 *
 * Rules (docs/omop.md):
 * - `person_id` (the CDM's integer key) is the canonical person_id, as text. A duplicate is
 *   refused (it is the primary key), even with `--quarantine`.
 * - sex from `gender_concept_id`: 8507 (MALE) → `M`, 8532 (FEMALE) → `F`, anything else
 *   (0, 8551 UNKNOWN, 8521 OTHER, empty) → `U`.
 * - birth: `birth_datetime` when present (its date; `year_of_birth`, when also given, must be
 *   its year); else `year_of_birth`, with `birth_date` when `month_of_birth` and
 *   `day_of_birth` are both given (they must make a calendar date). Birth years before 1850 and
 *   births after today are bad rows, as in the flat path.
 * - ancestry: the `concept_name` of `race_concept_id` (NULL for 0 or empty). This is the OMOP
 *   race (self-reported: "White", "Asian", …), not a genetic ancestry label; cohort filters on
 *   `ancestry` use these names.
 * - `tables/omop_person.parquet`: person_id, race_concept_id, race (its concept_name),
 *   ethnicity_concept_id, ethnicity (its concept_name); ids DOUBLE, names VARCHAR (NULL for 0).
 */
import { sqlIdent } from '../../engine/duckdb.js';
import type { Birth } from '../ehr/ehr-rows.js';
import { PERSONS_TABLE } from '../ehr/ehr-write.js';
import { applyChecks, type OmopContext, type RowCheck, tempTable } from './checks.js';
import { CONCEPTS } from './concepts.js';
import type { CdmColumns, LoadedTable } from './source.js';
import { writeCanonical, writeUserTable } from './write.js';

export const PERSON_COLUMNS: CdmColumns = {
  required: ['person_id', 'gender_concept_id'],
  optional: [
    'year_of_birth',
    'month_of_birth',
    'day_of_birth',
    'birth_datetime',
    'race_concept_id',
    'ethnicity_concept_id',
    'person_source_value',
  ],
  oneOf: [['year_of_birth', 'birth_datetime']],
  derived: [
    '_omop_id(gender_concept_id) AS _gid',
    '_omop_id(race_concept_id) AS _rid',
    '_omop_id(ethnicity_concept_id) AS _eid',
    '_omop_date(birth_datetime) AS _bdt',
    '_omop_int(year_of_birth) AS _yob',
    '_omop_int(month_of_birth) AS _mob',
    '_omop_int(day_of_birth) AS _dob',
  ],
};

/** Temp table of the valid persons (canonical columns plus race and ethnicity). */
export const PERSONS = sqlIdent('_omop_persons');

const MALE = 8507;
const FEMALE = 8532;

/** A concept id column (`parsed`: its `_omop_id` column) that must hold an integer. */
export function idCheck(column: string, parsed: string): RowCheck {
  const c = sqlIdent(column);
  return {
    field: column,
    bad: `${c} IS NOT NULL AND ${parsed} IS NULL`,
    reason: `'${column} ' || ${c} || ' is not an integer concept id'`,
  };
}

function personChecks(todaySql: string): RowCheck[] {
  return [
    { field: 'person_id', bad: 'person_id IS NULL', reason: `'person_id is empty'` },
    idCheck('gender_concept_id', '_gid'),
    idCheck('race_concept_id', '_rid'),
    idCheck('ethnicity_concept_id', '_eid'),
    {
      field: 'birth_datetime',
      bad: 'birth_datetime IS NOT NULL AND _bdt IS NULL',
      reason: `'birth_datetime ' || birth_datetime || ' is not a date YYYY-MM-DD (optionally with a time)'`,
    },
    {
      field: 'year_of_birth',
      bad: 'year_of_birth IS NOT NULL AND _yob IS NULL',
      reason: `'year_of_birth ' || year_of_birth || ' must be a whole year'`,
    },
    {
      field: 'year_of_birth',
      bad: '_bdt IS NULL AND _yob IS NULL',
      reason: `'year_of_birth or birth_datetime is required'`,
    },
    {
      field: 'month_of_birth',
      bad: '_bdt IS NULL AND month_of_birth IS NOT NULL AND (_mob IS NULL OR _mob NOT BETWEEN 1 AND 12)',
      reason: `'month_of_birth ' || month_of_birth || ' is not a month 1-12'`,
    },
    {
      field: 'day_of_birth',
      bad: '_bdt IS NULL AND _mob IS NOT NULL AND day_of_birth IS NOT NULL AND _birth_date IS NULL',
      reason: `'year/month/day_of_birth ' || year_of_birth || '-' || month_of_birth || '-' || day_of_birth || ' is not a calendar date'`,
    },
    {
      field: 'year_of_birth',
      bad: '_bdt IS NOT NULL AND _yob IS NOT NULL AND year(_bdt) <> _yob',
      reason: `'year_of_birth ' || year_of_birth || ' disagrees with birth_datetime ' || birth_datetime`,
    },
    {
      field: 'year_of_birth',
      bad: '_birth_year < 1850',
      reason: `'birth year ' || _birth_year || ' is before 1850'`,
    },
    {
      field: 'year_of_birth',
      bad: `_birth_date > ${todaySql} OR _birth_year > year(${todaySql})`,
      reason: `'birth ' || coalesce(CAST(_birth_date AS VARCHAR), CAST(_birth_year AS VARCHAR)) || ' is in the future'`,
    },
  ];
}

/**
 * Validate `person`, build `_omop_persons`, write `persons.parquet` and
 * `tables/omop_person.parquet`. Returns the number of persons.
 */
export async function ingestPersons(ctx: OmopContext, t: LoadedTable, outDir: string): Promise<number> {
  const view = await tempTable(
    ctx,
    '_omop_person_v',
    `SELECT *,
       CASE WHEN _bdt IS NOT NULL THEN _bdt
            WHEN _yob IS NOT NULL AND _mob IS NOT NULL AND _dob IS NOT NULL
            THEN TRY_CAST(printf('%04d-%02d-%02d', _yob, _mob, _dob) AS DATE) END AS _birth_date,
       coalesce(year(_bdt), _yob) AS _birth_year
     FROM ${t.name}`,
    'VIEW',
  );
  const good = await applyChecks(ctx, t, view, personChecks(ctx.todaySql));
  await tempTable(
    ctx,
    '_omop_persons',
    `SELECT p.person_id,
       CASE p._gid WHEN ${MALE} THEN 'M' WHEN ${FEMALE} THEN 'F' ELSE 'U' END AS sex,
       p._birth_date AS birth_date, p._birth_year::INTEGER AS birth_year,
       CASE WHEN p._rid <> 0 THEN r.concept_name END AS ancestry,
       p._rid AS race_concept_id, CASE WHEN p._rid <> 0 THEN r.concept_name END AS race,
       p._eid AS ethnicity_concept_id, CASE WHEN p._eid <> 0 THEN e.concept_name END AS ethnicity,
       p.person_source_value
     FROM ${view} p LEFT JOIN ${CONCEPTS} r ON r.concept_id = p._rid LEFT JOIN ${CONCEPTS} e ON e.concept_id = p._eid
     WHERE ${good}`,
  );
  const n = await writeCanonical(
    ctx,
    PERSONS_TABLE,
    outDir,
    `SELECT person_id, sex, CAST(birth_date AS VARCHAR), birth_year, ancestry FROM ${PERSONS}`,
  );
  await writeUserTable(
    ctx,
    outDir,
    'omop_person',
    `SELECT person_id, race_concept_id::DOUBLE AS race_concept_id, race,
            ethnicity_concept_id::DOUBLE AS ethnicity_concept_id, ethnicity FROM ${PERSONS}`,
  );
  return n;
}

/** The births of the valid persons (for the manifest's extra tables). */
export async function personBirths(ctx: OmopContext): Promise<Map<string, Birth>> {
  const r = await ctx.conn.runAndReadAll(
    `SELECT person_id, CAST(birth_date AS VARCHAR) AS d, birth_year FROM ${PERSONS}`,
  );
  const births = new Map<string, Birth>();
  for (const [id, d, y] of r.getRows())
    births.set(String(id), { date: d === null ? null : String(d), year: Number(y) });
  return births;
}
