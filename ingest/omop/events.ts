/**
 * OMOP event tables → canonical `conditions` and `measurements`.
 *
 * Conditions come from `condition_occurrence`, `observation` and `procedure_occurrence`, as in
 * PheTK (`phecode_icd_query`: the `*_source_concept_id` joined to `concept` where
 * `vocabulary_id` is ICD9CM or ICD10CM, plus the `*_source_value` matched to a concept code).
 * Per row (docs/omop.md):
 * 1. `*_source_concept_id` is an ICD concept (ICD9CM, ICD10CM, ICD10) → its vocabulary and
 *    `concept_code`, normalised by `icd.ts` (a code without its vocabulary's shape is kept upper
 *    case and listed in `unknown_codes.parquet`, as in the flat path). When `*_source_value` is
 *    an ICD code of that vocabulary too and differs, the concept wins; such rows are counted.
 * 2. Otherwise (0, empty, or a non-ICD concept such as SNOMED or CPT4) `*_source_value`: the
 *    code of exactly one ICD vocabulary's concept in `concept` (`readSourceValue`); a value that
 *    is the code of concepts of two vocabularies (ICD-9-CM `V70.0` and ICD-10-CM `V70.0`) is
 *    ambiguous and skipped. In `condition_occurrence` only, a value found in no concept falls
 *    back to its shape when it has the shape of exactly one of ICD-9-CM and ICD-10 (then
 *    ICD10CM). Observation and procedure source values are often CPT4, HCPCS, LOINC or ICD-9
 *    procedure codes, which can have the ICD-9-CM shape (`99213`), so they never fall back to shape.
 * 3. Else the row is not a diagnosis (counted in the notes).
 * Dates: `condition_start_date`, `observation_date`, `procedure_date`. Every kept row is a
 * condition row (no de-duplication, like the flat path; the phenome counts distinct dates).
 *
 * Measurements: `value_as_number` (rows without one are skipped and counted); name = the
 * `concept_name` of `measurement_concept_id` (its `measurement_source_value` when the concept is
 * 0); loinc = its `concept_code` when its vocabulary is LOINC; unit = the `concept_code` of
 * `unit_concept_id` when it is a UCUM concept, else `unit_source_value`; date = `measurement_date`.
 *
 * Row checks shared by every event table (bad rows are reported at their line, see `checks.ts`):
 * person_id present and in `person`, the date a date, not in the future and not before birth
 * (as the flat path), concept ids integers.
 */
import { join } from 'node:path';
import { sqlIdent, sqlString } from '../../engine/duckdb.js';
import { CONDITIONS_TABLE, MEASUREMENTS_TABLE } from '../ehr/ehr-write.js';
import { applyChecks, fmt, type OmopContext, type RowCheck, tempTable } from './checks.js';
import { CONCEPTS, ICD_CONCEPTS, loadIcdConcepts, loadSourceValues, SOURCE_VALUES } from './concepts.js';
import { idCheck, PERSONS } from './person.js';
import type { CdmColumns, LoadedTable } from './source.js';
import { copyParquet, writeCanonical } from './write.js';

/** A CDM table that yields conditions. */
interface ConditionSource {
  table: 'condition_occurrence' | 'observation' | 'procedure_occurrence';
  date: string;
  id: string;
  value: string;
  /** Whether a source value found in no concept may be read by its shape. */
  shape: boolean;
}

export const CONDITION_SOURCES: readonly ConditionSource[] = [
  {
    table: 'condition_occurrence',
    date: 'condition_start_date',
    id: 'condition_source_concept_id',
    value: 'condition_source_value',
    shape: true,
  },
  {
    table: 'observation',
    date: 'observation_date',
    id: 'observation_source_concept_id',
    value: 'observation_source_value',
    shape: false,
  },
  {
    table: 'procedure_occurrence',
    date: 'procedure_date',
    id: 'procedure_source_concept_id',
    value: 'procedure_source_value',
    shape: false,
  },
];

export function conditionColumns(s: ConditionSource): CdmColumns {
  return {
    required: ['person_id', s.date],
    optional: [s.id, s.value],
    oneOf: [[s.id, s.value]],
    derived: [`_omop_date(${sqlIdent(s.date)}) AS _date`, `_omop_id(${sqlIdent(s.id)}) AS _sid`],
  };
}

export const MEASUREMENT_COLUMNS: CdmColumns = {
  required: ['person_id', 'measurement_date', 'measurement_concept_id', 'value_as_number'],
  optional: ['unit_concept_id', 'unit_source_value', 'measurement_source_value'],
  derived: [
    '_omop_date(measurement_date) AS _date',
    '_omop_id(measurement_concept_id) AS _mid',
    '_omop_id(unit_concept_id) AS _uid',
    'TRY_CAST(value_as_number AS DOUBLE) AS _value',
  ],
};

/**
 * A view of loaded table `t` (its CDM columns and the parsed ones, `_date` among them) with
 * `_known` (the person is in `_omop_persons`) and `_bdate`, `_byear` (the person's birth).
 */
export function eventView(ctx: OmopContext, t: LoadedTable): Promise<string> {
  return tempTable(
    ctx,
    `${t.name.slice(1, -1)}_v`,
    `SELECT r.*, p.person_id IS NOT NULL AS _known, p.birth_date AS _bdate, p.birth_year AS _byear
     FROM ${t.name} r LEFT JOIN ${PERSONS} p ON p.person_id = r.person_id`,
    'VIEW',
  );
}

/** The checks of an event row (see the module comment); `more` go after the field checks. */
export function eventChecks(
  dateColumn: string,
  ids: Array<[string, string]>,
  todaySql: string,
  more: RowCheck[] = [],
): RowCheck[] {
  const d = sqlIdent(dateColumn);
  return [
    { field: 'person_id', bad: 'person_id IS NULL', reason: `'person_id is empty'` },
    {
      field: dateColumn,
      bad: '_date IS NULL',
      reason: `CASE WHEN ${d} IS NULL THEN '${dateColumn} is empty' ELSE '${dateColumn} ' || ${d} || ' is not a date YYYY-MM-DD' END`,
    },
    ...ids.map(([column, parsed]) => idCheck(column, parsed)),
    ...more,
    { field: 'person_id', bad: 'NOT _known', reason: `'person_id ' || person_id || ' is not in person'` },
    {
      field: dateColumn,
      bad: `_date > ${todaySql}`,
      reason: `'date ' || CAST(_date AS VARCHAR) || ' is in the future'`,
    },
    {
      field: dateColumn,
      bad: '_date < _bdate OR year(_date) < _byear',
      reason: `'date ' || CAST(_date AS VARCHAR) || ' is before birth (' || coalesce(CAST(_bdate AS VARCHAR), CAST(_byear AS VARCHAR)) || ')'`,
    },
  ];
}

/** How a row became (or did not become) a condition. */
const USED = `('concept', 'value_concept', 'value_shape')`;

/** The staging SELECT of one condition source (see the module comment for the rule). */
function conditionSelect(s: ConditionSource, t: LoadedTable, view: string, good: string): string {
  const value = t.present.has(s.value) ? `v.${sqlIdent(s.value)}` : 'NULL::VARCHAR';
  const shape = s.shape ? 'true' : 'false';
  const how = `CASE WHEN ic.concept_id IS NOT NULL THEN 'concept'
                    WHEN sv.code IS NOT NULL THEN 'value_concept'
                    WHEN sv.code_ambiguous THEN 'ambiguous'
                    WHEN ${shape} AND sv.shape_code IS NOT NULL THEN 'value_shape'
                    WHEN ${shape} AND sv.shape_ambiguous THEN 'ambiguous'
                    ELSE 'not_icd' END`;
  return `SELECT ${sqlString(s.table)} AS source, v.person_id, v._date AS date, ${how} AS how,
            ic.vocabulary AS ic_vocab, ic.code AS ic_code, ic.shaped AS ic_shaped,
            sv.code_vocab, sv.code AS sv_code, sv.shape_vocab, sv.shape_code,
            CASE ic.vocabulary WHEN 'ICD9CM' THEN sv.c9 ELSE sv.c10 END AS sv_as_ic
          FROM ${view} v LEFT JOIN ${ICD_CONCEPTS} ic ON ic.concept_id = v._sid
          LEFT JOIN ${SOURCE_VALUES} sv ON sv.value = ${value}
          WHERE ${good}`;
}

interface ConditionResult {
  nConditions: number;
  nUnknownCodes: number;
}

/**
 * Validate the condition sources, build `_omop_events`, write `conditions.parquet` and
 * `unknown_codes.parquet`, and add the counts to the notes.
 */
export async function ingestConditions(
  ctx: OmopContext,
  tables: Map<string, LoadedTable>,
  outDir: string,
): Promise<ConditionResult> {
  const parts: string[] = [];
  const values: string[] = [];
  const views = new Map<string, string>();
  for (const s of CONDITION_SOURCES) {
    const t = tables.get(s.table);
    if (!t) continue;
    const view = await eventView(ctx, t);
    views.set(s.table, view);
    const ids: Array<[string, string]> = t.present.has(s.id) ? [[s.id, '_sid']] : [];
    const good = await applyChecks(ctx, t, view, eventChecks(s.date, ids, ctx.todaySql));
    parts.push(conditionSelect(s, t, view, good));
    if (t.present.has(s.value)) values.push(`SELECT ${sqlIdent(s.value)} AS v FROM ${t.name}`);
  }
  const codes = await loadIcdConcepts(ctx);
  await loadSourceValues(
    ctx,
    values.length ? values.join(' UNION ALL ') : 'SELECT NULL::VARCHAR AS v',
    codes,
  );
  const events = await tempTable(
    ctx,
    '_omop_events',
    parts.length === 0
      ? `SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS person_id, NULL::DATE AS date, NULL::VARCHAR AS how,
                NULL::VARCHAR AS vocabulary, NULL::VARCHAR AS code, NULL::BOOLEAN AS unknown, NULL::BOOLEAN AS disagree
         WHERE false`
      : `SELECT source, person_id, date, how,
           CASE how WHEN 'concept' THEN ic_vocab WHEN 'value_concept' THEN code_vocab WHEN 'value_shape' THEN shape_vocab END AS vocabulary,
           CASE how WHEN 'concept' THEN ic_code WHEN 'value_concept' THEN sv_code WHEN 'value_shape' THEN shape_code END AS code,
           how = 'concept' AND NOT ic_shaped AS unknown,
           how = 'concept' AND coalesce(sv_as_ic <> ic_code, false) AS disagree
         FROM (${parts.join(' UNION ALL ')})`,
  );
  const nConditions = await writeCanonical(
    ctx,
    CONDITIONS_TABLE,
    outDir,
    `SELECT person_id, code, vocabulary, CAST(date AS VARCHAR) FROM ${events} WHERE how IN ${USED}`,
  );
  const unknown = `SELECT code, vocabulary, count(*)::BIGINT AS n_rows, NULL::BIGINT AS first_line,
      'not a ' || vocabulary || ' code shape (concept_code of the source concept)' AS reason
    FROM ${events} WHERE unknown GROUP BY code, vocabulary`;
  const nUnknownCodes = await copyParquet(ctx, unknown, join(outDir, 'unknown_codes.parquet'));
  await conditionNotes(ctx, tables, views, events);
  return { nConditions, nUnknownCodes };
}

/** One note line per condition source (how its rows were read) and one for disagreements. */
async function conditionNotes(
  ctx: OmopContext,
  tables: Map<string, LoadedTable>,
  views: Map<string, string>,
  events: string,
): Promise<void> {
  const r = await ctx.conn.runAndReadAll(
    `SELECT source, how, count(*)::BIGINT AS n, count(*) FILTER (WHERE disagree)::BIGINT AS d
     FROM ${events} GROUP BY source, how`,
  );
  const by = new Map<string, Map<string, { n: number; d: number }>>();
  for (const row of r.getRowObjectsJS()) {
    const m = by.get(String(row.source)) ?? new Map();
    m.set(String(row.how), { n: Number(row.n), d: Number(row.d) });
    by.set(String(row.source), m);
  }
  for (const s of CONDITION_SOURCES) {
    const m = by.get(s.table);
    const t = tables.get(s.table);
    if (!t) continue;
    const n = (how: string) => m?.get(how)?.n ?? 0;
    const used = n('concept') + n('value_concept') + n('value_shape');
    let line = `OMOP ${s.table}: ${fmt(t.rows)} rows → ${fmt(used)} conditions (${fmt(n('concept'))} by ${s.id}, ${fmt(n('value_concept'))} by ${s.value} found in concept, ${fmt(n('value_shape'))} by ${s.value} shape); ${fmt(n('not_icd'))} not ICD diagnoses (skipped)`;
    if (n('ambiguous') > 0) {
      const ex = await firstValue(
        ctx,
        `SELECT v.${sqlIdent(s.value)} AS x FROM ${views.get(s.table)} v JOIN ${SOURCE_VALUES} sv ON sv.value = v.${sqlIdent(s.value)}
         ANTI JOIN ${ICD_CONCEPTS} ic ON ic.concept_id = v._sid
         WHERE sv.code IS NULL AND (sv.code_ambiguous OR (${s.shape} AND sv.shape_ambiguous))`,
      );
      line += `; ${fmt(n('ambiguous'))} with an ambiguous ${s.value} skipped (e.g. ${JSON.stringify(ex)}: ICD-9-CM or ICD-10; give the source concept)`;
    }
    ctx.notes.push(line);
    const d = m?.get('concept')?.d ?? 0;
    if (d > 0 && t.present.has(s.value) && t.present.has(s.id)) {
      const ex = await firstValue(
        ctx,
        `SELECT 'person ' || v.person_id || ': concept ' || ic.concept_id || ' is ' || ic.vocabulary || ' ' || ic.code
                || ', ' || ${sqlString(s.value)} || ' ' || v.${sqlIdent(s.value)} AS x
         FROM ${views.get(s.table)} v JOIN ${ICD_CONCEPTS} ic ON ic.concept_id = v._sid
         JOIN ${SOURCE_VALUES} sv ON sv.value = v.${sqlIdent(s.value)}
         WHERE (CASE ic.vocabulary WHEN 'ICD9CM' THEN sv.c9 ELSE sv.c10 END) <> ic.code`,
      );
      ctx.notes.push(
        `OMOP ${s.table}: ${fmt(d)} rows whose ${s.value} is another ICD code than their ${s.id} (the concept was used), e.g. ${ex}`,
      );
    }
  }
}

async function firstValue(ctx: OmopContext, sql: string): Promise<string> {
  const r = await ctx.conn.runAndReadAll(`SELECT x FROM (${sql}) LIMIT 1`);
  const row = r.getRows()[0];
  return row ? String(row[0]) : '';
}

/** Validate `measurement`, write `measurements.parquet`; returns the row count. */
export async function ingestMeasurements(
  ctx: OmopContext,
  t: LoadedTable | undefined,
  outDir: string,
): Promise<number> {
  if (!t) {
    return writeCanonical(
      ctx,
      MEASUREMENTS_TABLE,
      outDir,
      'SELECT NULL, NULL, NULL, NULL::DOUBLE, NULL, NULL WHERE false',
    );
  }
  const view = await eventView(ctx, t);
  const ids = (
    [
      ['measurement_concept_id', '_mid'],
      ['unit_concept_id', '_uid'],
    ] as Array<[string, string]>
  ).filter(([c]) => t.present.has(c));
  const valueCheck: RowCheck = {
    field: 'value_as_number',
    bad: 'value_as_number IS NOT NULL AND (_value IS NULL OR NOT isfinite(_value))',
    reason: `'value_as_number ' || value_as_number || ' is not a finite number'`,
  };
  const good = await applyChecks(
    ctx,
    t,
    view,
    eventChecks('measurement_date', ids, ctx.todaySql, [valueCheck]),
  );
  const rows = await tempTable(
    ctx,
    '_omop_meas',
    `SELECT v.person_id,
       CASE WHEN v._mid <> 0 THEN mc.concept_name ELSE v.measurement_source_value END AS name,
       CASE WHEN mc.vocabulary_id = 'LOINC' THEN mc.concept_code END AS loinc,
       v._value AS value,
       CASE WHEN uc.vocabulary_id = 'UCUM' THEN uc.concept_code ELSE v.unit_source_value END AS unit,
       v._date AS date
     FROM ${view} v LEFT JOIN ${CONCEPTS} mc ON mc.concept_id = v._mid
     LEFT JOIN ${CONCEPTS} uc ON uc.concept_id = v._uid
     WHERE ${good}`,
  );
  const n = await writeCanonical(
    ctx,
    MEASUREMENTS_TABLE,
    outDir,
    `SELECT person_id, name, loinc, value, unit, CAST(date AS VARCHAR) FROM ${rows}
     WHERE value IS NOT NULL AND (name IS NOT NULL OR loinc IS NOT NULL)`,
  );
  const c = await ctx.conn.runAndReadAll(
    `SELECT count(*) FILTER (WHERE value IS NULL)::BIGINT AS no_value,
            count(*) FILTER (WHERE value IS NOT NULL AND name IS NULL AND loinc IS NULL)::BIGINT AS no_name
     FROM ${rows}`,
  );
  const { no_value, no_name } = c.getRowObjectsJS()[0] as { no_value: bigint; no_name: bigint };
  ctx.notes.push(
    `OMOP measurement: ${fmt(t.rows)} rows → ${fmt(n)} measurements; ${fmt(Number(no_value))} without value_as_number and ${fmt(Number(no_name))} with concept 0 and no measurement_source_value skipped`,
  );
  return n;
}
