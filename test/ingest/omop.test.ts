/**
 * OMOP CDM v5.4 folder → canonical EHR tables. A small CDM (person, condition_occurrence with
 * ICD9CM / ICD10CM / ICD10 source concepts and source-value-only rows, observation,
 * procedure_occurrence, measurement with unit concepts, visit_occurrence, concept) and the
 * equivalent flat tables are both ingested with `ingestEhr`; the canonical Parquet must be equal
 * row for row. Also: the same CDM as Parquet and as gzip/TSV files, errors naming file, line and
 * field, quarantine, `omopSampleLinks`, and a synthetic release converted to CDM in SQL whose
 * phecode phenome must equal the flat release's.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { sqlString, withCompute } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { type EhrResult, ingestEhr } from '../../ingest/ehr/ehr.js';
import { omopSampleLinks } from '../../ingest/omop/omop.js';
import { loadPhecodeMaps, shippedMapsDir } from '../../phenotype/maps.js';
import { computePhenome } from '../../phenotype/phenome.js';
import { type OmopEhr, releaseManifestSchema } from '../../schemas/release.js';
import { toCdm } from '../helpers/omop-cdm.js';
import { tempDir, testConfig } from './helpers.js';

const TODAY = new Date().toISOString().slice(0, 10);
type Cell = string | number | null;

/** CSV text (RFC 4180 quoting where needed; null → empty). */
function csv(header: string[], rows: Cell[][], delim = ','): string {
  const cell = (v: Cell) => {
    const s = v === null ? '' : String(v);
    return delim === ',' && /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return `${[header, ...rows].map((r) => r.map(cell).join(delim)).join('\n')}\n`;
}

const LDL = 'Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation';
const A1C = 'Hemoglobin A1c/Hemoglobin.total in Blood';

const CONCEPT_HEADER = [
  'concept_id',
  'concept_name',
  'domain_id',
  'vocabulary_id',
  'concept_class_id',
  'standard_concept',
  'concept_code',
  'valid_start_date',
  'valid_end_date',
  'invalid_reason',
];
const CONCEPTS: Cell[][] = [
  [8507, 'MALE', 'Gender', 'Gender', 'Gender', 'S', 'M'],
  [8532, 'FEMALE', 'Gender', 'Gender', 'Gender', 'S', 'F'],
  [8527, 'White', 'Race', 'Race', 'Race', 'S', '5'],
  [8515, 'Asian', 'Race', 'Race', 'Race', 'S', '2'],
  [38003564, 'Not Hispanic or Latino', 'Ethnicity', 'Ethnicity', 'Ethnicity', 'S', 'Not Hispanic'],
  [38003563, 'Hispanic or Latino', 'Ethnicity', 'Ethnicity', 'Ethnicity', 'S', 'Hispanic'],
  [201826, 'Type 2 diabetes mellitus', 'Condition', 'SNOMED', 'Clinical Finding', 'S', '44054006'],
  [
    1000001,
    'Type 2 diabetes mellitus without complications',
    'Condition',
    'ICD10CM',
    '4-char billing code',
    null,
    'E11.9',
  ],
  [
    1000002,
    'Diabetes mellitus without mention of complication, type II',
    'Condition',
    'ICD9CM',
    '5-dig billing code',
    null,
    '250.00',
  ],
  [1000003, 'Essential (primary) hypertension', 'Condition', 'ICD10CM', '3-char billing code', null, 'I10'],
  [
    1000004,
    'Routine general medical examination',
    'Observation',
    'ICD9CM',
    '4-dig billing code',
    null,
    'V70.0',
  ],
  [
    1000005,
    'Driver of bus injured in collision with pedestrian',
    'Observation',
    'ICD10CM',
    '4-char nonbill code',
    null,
    'V70.0',
  ],
  [1000006, 'Accidents occurring in home', 'Observation', 'ICD9CM', '4-dig billing code', null, 'E849.0'],
  [
    1000007,
    'Personal history of nicotine dependence',
    'Observation',
    'ICD10CM',
    '6-char billing code',
    null,
    'Z87.891',
  ],
  [
    1000008,
    'Encounter for general adult medical examination',
    'Observation',
    'ICD10CM',
    '5-char billing code',
    null,
    'Z00.00',
  ],
  [1000009, 'Cholera, unspecified', 'Condition', 'ICD10', 'ICD10 code', null, 'A00.9'],
  [
    1000010,
    'Certain infectious and parasitic diseases',
    'Condition',
    'ICD10',
    'ICD10 Chapter',
    null,
    'A00-B99',
  ],
  [
    2414397,
    'Office or other outpatient visit, established patient',
    'Procedure',
    'CPT4',
    'CPT4',
    'S',
    '99213',
  ],
  [40766000, 'Current smoker', 'Observation', 'PPI', 'Answer', 'S', 'smoking'],
  [3028437, LDL, 'Measurement', 'LOINC', 'Lab Test', 'S', '13457-7'],
  [3004410, A1C, 'Measurement', 'LOINC', 'Lab Test', 'S', '4548-4'],
  [8840, 'milligram per deciliter', 'Unit', 'UCUM', 'Unit', 'S', 'mg/dL'],
  [8554, 'percent', 'Unit', 'UCUM', 'Unit', 'S', '%'],
].map((r) => [...r, '1970-01-01', '2099-12-31', null]);

const PERSON_HEADER = [
  'person_id',
  'gender_concept_id',
  'year_of_birth',
  'month_of_birth',
  'day_of_birth',
  'birth_datetime',
  'race_concept_id',
  'ethnicity_concept_id',
  'location_id',
  'person_source_value',
];
const PERSONS: Cell[][] = [
  [1, 8507, 1950, 3, 4, null, 8527, 38003564, null, 'S-A'],
  [2, 8532, 1961, null, null, null, 8515, 0, null, 'S-B'],
  [3, 0, 1972, null, null, null, 0, null, null, 'S-C'],
  [4, 8532, 1980, null, null, '1980-07-01 00:00:00', 8527, 38003563, null, 'S-D'],
];

const CONDITION_HEADER = [
  'condition_occurrence_id',
  'person_id',
  'condition_concept_id',
  'condition_start_date',
  'condition_type_concept_id',
  'condition_source_value',
  'condition_source_concept_id',
];
const CONDITIONS: Cell[][] = [
  [1, 1, 201826, '2010-03-04', 32817, 'E11.9', 1000001], // ICD10CM source concept
  [2, 1, 201826, '1999-12-31', 32817, '25000', 1000002], // ICD9CM source concept
  [3, 2, 320128, '2015-01-02', 32817, 'I10', 1000003],
  [4, 2, 0, '2016-06-07', 32817, ' E119 ', 0], // source value only (padded): the code of an ICD10CM concept
  [5, 3, 0, '2001-06-07', 32817, '4011', null], // source value only: ICD-9-CM shape, no concept
  [6, 4, 201826, '2018-01-01', 32817, 'E11.9', 201826], // SNOMED source concept → source value
  [7, 4, 201826, '2018-02-01', 32817, null, 201826], // not ICD
  [8, 1, 0, '1990-01-01', 32817, 'V70.1', 1000004], // concept V70.0 wins over the source value
  [9, 3, 0, '2002-02-02', 32817, 'V70.0', 0], // ambiguous: ICD9CM and ICD10CM V70.0
  [10, 2, 0, '1985-05-05', 32817, 'E8490', 1000006],
  [11, 3, 0, '2003-03-03', 32817, 'A00-B99', 1000010], // ICD10 concept without code shape
  [12, 4, 0, '2019-09-09', 32817, 'A009', 1000009], // WHO ICD10
];
const OBSERVATIONS: Cell[][] = [
  [1, 1, 0, '2012-05-05', 'Z87.891', 1000007],
  [2, 2, 0, '2013-01-01', 'smoking', 40766000],
  [3, 3, 0, '2004-04-04', '250.00', 0],
  [4, 4, 0, '2005-05-05', '4011', 0], // ICD-9 shape, but observations do not fall back to shape
];
const PROCEDURES: Cell[][] = [
  [1, 4, 0, '2019-01-01', 'Z00.00', 1000008],
  [2, 1, 2414397, '2019-02-02', '99213', 2414397],
];
const MEASUREMENT_HEADER = [
  'measurement_id',
  'person_id',
  'measurement_concept_id',
  'measurement_date',
  'value_as_number',
  'unit_concept_id',
  'unit_source_value',
  'measurement_source_value',
];
const MEASUREMENTS: Cell[][] = [
  [1, 1, 3028437, '2012-01-01', 131.5, 8840, 'mg/dl', 'LDL-C'],
  [2, 2, 3004410, '2013-02-02', 6.1, 8554, null, 'A1C'],
  [3, 2, 3004410, '2013-03-03', null, 8554, null, 'A1C'], // no value: skipped
  [4, 3, 0, '2014-04-04', 99, 0, 'mg/dL', 'Glucose local'],
  [5, 4, 3028437, '2015-05-05', 3.2, 0, 'mmol/L', null],
];
const VISITS: Cell[][] = [
  [1, 1, 9202, '2010-03-04', '2010-03-06'],
  [2, 1, 9201, '2012-01-01', null],
  [3, 2, 9202, '2015-01-02', '2015-01-02'],
];

/** The same EHR as flat tables. */
const FLAT = {
  persons: csv(
    ['person_id', 'sex', 'birth_date', 'birth_year', 'ancestry'],
    [
      [1, 'M', '1950-03-04', 1950, 'White'],
      [2, 'F', 'NA', 1961, 'Asian'],
      [3, 'U', 'NA', 1972, 'NA'],
      [4, 'F', '1980-07-01', 1980, 'White'],
    ],
    '\t',
  ),
  conditions: csv(
    ['person_id', 'code', 'vocabulary', 'date'],
    [
      [1, 'E11.9', 'ICD10CM', '2010-03-04'],
      [1, '25000', 'ICD9CM', '1999-12-31'],
      [2, 'I10', 'ICD10CM', '2015-01-02'],
      [2, 'E119', 'ICD10CM', '2016-06-07'],
      [3, '4011', 'ICD9CM', '2001-06-07'],
      [4, 'e11.9', 'ICD10CM', '2018-01-01'],
      [1, 'V700', 'ICD9CM', '1990-01-01'],
      [2, 'E8490', 'ICD9CM', '1985-05-05'],
      [3, 'A00-B99', 'ICD10', '2003-03-03'],
      [4, 'A00.9', 'ICD10', '2019-09-09'],
      [1, 'Z87.891', 'ICD10CM', '2012-05-05'],
      [3, '250.00', 'ICD9CM', '2004-04-04'],
      [4, 'Z00.00', 'ICD10CM', '2019-01-01'],
    ],
  ),
  labs: csv(
    ['person_id', 'name', 'loinc', 'value', 'unit', 'date'],
    [
      [1, LDL, '13457-7', 131.5, 'mg/dL', '2012-01-01'],
      [2, A1C, '4548-4', 6.1, '%', '2013-02-02'],
      [3, 'Glucose local', 'NA', 99, 'mg/dL', '2014-04-04'],
      [4, LDL, '13457-7', 3.2, 'mmol/L', '2015-05-05'],
    ],
  ),
};

/** Write the CDM folder `omop/` (CSV) and the flat tables into `dir`. */
function writeFixture(dir: string): void {
  const o = join(dir, 'omop');
  mkdirSync(o, { recursive: true });
  writeFileSync(join(o, 'concept.csv'), csv(CONCEPT_HEADER, CONCEPTS));
  writeFileSync(join(o, 'person.csv'), csv(PERSON_HEADER, PERSONS));
  writeFileSync(join(o, 'condition_occurrence.csv'), csv(CONDITION_HEADER, CONDITIONS));
  writeFileSync(
    join(o, 'observation.csv'),
    csv(
      [
        'observation_id',
        'person_id',
        'observation_concept_id',
        'observation_date',
        'observation_source_value',
        'observation_source_concept_id',
      ],
      OBSERVATIONS,
    ),
  );
  writeFileSync(
    join(o, 'procedure_occurrence.csv'),
    csv(
      [
        'procedure_occurrence_id',
        'person_id',
        'procedure_concept_id',
        'procedure_date',
        'procedure_source_value',
        'procedure_source_concept_id',
      ],
      PROCEDURES,
    ),
  );
  writeFileSync(join(o, 'measurement.csv'), csv(MEASUREMENT_HEADER, MEASUREMENTS));
  writeFileSync(
    join(o, 'visit_occurrence.csv'),
    csv(
      ['visit_occurrence_id', 'person_id', 'visit_concept_id', 'visit_start_date', 'visit_end_date'],
      VISITS,
    ),
  );
  writeFileSync(join(dir, 'persons.tsv'), FLAT.persons);
  writeFileSync(join(dir, 'conditions.csv'), FLAT.conditions);
  writeFileSync(join(dir, 'labs.csv'), FLAT.labs);
}

const FLAT_MANIFEST = {
  persons: { path: 'persons.tsv', format: 'tsv', idColumn: 'person_id' },
  conditions: { path: 'conditions.csv', format: 'csv', idColumn: 'person_id' },
  measurements: { path: 'labs.csv', format: 'csv', idColumn: 'person_id' },
};

function manifestOf(fields: Record<string, unknown>) {
  return releaseManifestSchema.parse({ releaseId: 'omop-test', genotypes: ['calls.vcf'], ...fields });
}

function ingest(
  conn: DuckDBConnection,
  dir: string,
  fields: Record<string, unknown>,
  out: string,
  quarantine = false,
): Promise<EhrResult> {
  return ingestEhr(conn, {
    manifest: manifestOf(fields),
    baseDir: dir,
    outDir: join(dir, out),
    quarantine,
    today: TODAY,
  });
}

async function rows(conn: DuckDBConnection, path: string, select = '*'): Promise<Record<string, unknown>[]> {
  const r = await conn.runAndReadAll(`SELECT ${select} FROM read_parquet(${sqlString(path)}) ORDER BY ALL`);
  return r.getRowObjectsJson() as Record<string, unknown>[];
}

async function schema(conn: DuckDBConnection, path: string): Promise<string[]> {
  const r = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(path)})`);
  return r.getRowObjectsJson().map((x) => `${x.column_name} ${x.column_type}`);
}

const CANONICAL = ['persons', 'conditions', 'measurements', 'unknown_codes'] as const;

/** Canonical tables of two ingests are equal row for row, with equal Parquet schemas. */
async function expectSameTables(conn: DuckDBConnection, a: string, b: string): Promise<void> {
  for (const t of CANONICAL) {
    const select = t === 'unknown_codes' ? 'code, vocabulary, n_rows' : '*';
    expect(await schema(conn, join(b, `${t}.parquet`)), t).toEqual(
      await schema(conn, join(a, `${t}.parquet`)),
    );
    expect(await rows(conn, join(b, `${t}.parquet`), select), t).toEqual(
      await rows(conn, join(a, `${t}.parquet`), select),
    );
  }
}

async function inputError(p: Promise<unknown>): Promise<InputError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

const OMOP = { ehr: { format: 'omop', path: 'omop' } };

describe('OMOP CDM ingest', () => {
  const dir = tempDir('omop');
  writeFixture(dir);
  const config = testConfig(tempDir('omop-data'));

  it('writes the same canonical tables as the equivalent flat tables', async () => {
    await withCompute(config, async (conn) => {
      const flat = await ingest(conn, dir, FLAT_MANIFEST, 'flat');
      const omop = await ingest(conn, dir, OMOP, 'out');
      await expectSameTables(conn, join(dir, 'flat'), join(dir, 'out'));
      expect([omop.nPersons, omop.nConditions, omop.nMeasurements, omop.nUnknownCodes]).toEqual([
        flat.nPersons,
        flat.nConditions,
        flat.nMeasurements,
        flat.nUnknownCodes,
      ]);
      expect(omop.nConditions).toBe(13);
      expect(omop.nRejects).toBe(0);
      const notes = omop.notes.join('\n');
      expect(notes).toContain(
        'condition_occurrence: 12 rows → 10 conditions (7 by condition_source_concept_id, 2 by condition_source_value found in concept, 1 by condition_source_value shape); 1 not ICD',
      );
      expect(notes).toMatch(/1 with an ambiguous condition_source_value skipped \(e\.g\. "V70\.0"/);
      expect(notes).toMatch(
        /1 rows whose condition_source_value is another ICD code .*person 1: concept 1000004 is ICD9CM V70\.0, condition_source_value V70\.1/,
      );
      expect(notes).toContain('observation: 4 rows → 2 conditions');
      expect(notes).toContain('procedure_occurrence: 2 rows → 1 conditions');
      expect(notes).toMatch(/measurement: 5 rows → 4 measurements; 1 without value_as_number/);

      expect(await rows(conn, join(dir, 'out', 'tables', 'omop_person.parquet'))).toEqual([
        {
          person_id: '1',
          race_concept_id: 8527,
          race: 'White',
          ethnicity_concept_id: 38003564,
          ethnicity: 'Not Hispanic or Latino',
        },
        { person_id: '2', race_concept_id: 8515, race: 'Asian', ethnicity_concept_id: 0, ethnicity: null },
        { person_id: '3', race_concept_id: 0, race: null, ethnicity_concept_id: null, ethnicity: null },
        {
          person_id: '4',
          race_concept_id: 8527,
          race: 'White',
          ethnicity_concept_id: 38003563,
          ethnicity: 'Hispanic or Latino',
        },
      ]);
      // Visits, computed here from the fixture rows.
      const days = (a: string, b: string) => (Date.parse(b) - Date.parse(a)) / 86_400_000 + 1;
      expect(await rows(conn, join(dir, 'out', 'tables', 'omop_visits.parquet'))).toEqual([
        {
          person_id: '1',
          n_visits: 2,
          first_visit_date: '2010-03-04',
          last_visit_date: '2012-01-01',
          ehr_length_days: days('2010-03-04', '2012-01-01'),
        },
        {
          person_id: '2',
          n_visits: 1,
          first_visit_date: '2015-01-02',
          last_visit_date: '2015-01-02',
          ehr_length_days: 1,
        },
        { person_id: '3', n_visits: 0, first_visit_date: null, last_visit_date: null, ehr_length_days: 0 },
        { person_id: '4', n_visits: 0, first_visit_date: null, last_visit_date: null, ehr_length_days: 0 },
      ]);
      expect(omop.tables).toEqual({ omop_person: 4, omop_visits: 4 });
    });
  });

  it('reads the CDM from Parquet, and from .csv.gz, .tsv and an Athena-style tab-separated concept.csv', async () => {
    await withCompute(config, async (conn) => {
      // Parquet with the types DuckDB infers (BIGINT ids, DATE, TIMESTAMP, DOUBLE).
      const pq = tempDir('omop-parquet');
      mkdirSync(join(pq, 'omop'));
      for (const t of [
        'person',
        'concept',
        'condition_occurrence',
        'observation',
        'procedure_occurrence',
        'measurement',
        'visit_occurrence',
      ])
        await conn.run(
          `COPY (SELECT * FROM read_csv(${sqlString(join(dir, 'omop', `${t}.csv`))})) TO ${sqlString(join(pq, 'omop', `${t}.parquet`))} (FORMAT parquet)`,
        );
      const types = await schema(conn, join(pq, 'omop', 'person.parquet'));
      expect(types).toContain('birth_datetime TIMESTAMP');
      await ingest(conn, pq, OMOP, 'out');
      await expectSameTables(conn, join(dir, 'out'), join(pq, 'out'));

      const gz = tempDir('omop-gz');
      cpSync(join(dir, 'omop'), join(gz, 'omop'), { recursive: true });
      execFileSync('gzip', [join(gz, 'omop', 'condition_occurrence.csv')]);
      writeFileSync(join(gz, 'omop', 'concept.csv'), csv(CONCEPT_HEADER, CONCEPTS, '\t'));
      rmSync(join(gz, 'omop', 'measurement.csv'));
      writeFileSync(join(gz, 'omop', 'measurement.tsv'), csv(MEASUREMENT_HEADER, MEASUREMENTS, '\t'));
      await ingest(conn, gz, OMOP, 'out');
      await expectSameTables(conn, join(dir, 'out'), join(gz, 'out'));
    });
  });

  /** A copy of the fixture CDM with `edit` applied to one file's text. */
  function variant(file: string, edit: (text: string) => string): string {
    const d = tempDir('omop-bad');
    cpSync(join(dir, 'omop'), join(d, 'omop'), { recursive: true });
    const path = join(d, 'omop', file);
    writeFileSync(path, edit(readFileSync(path, 'utf8')));
    return d;
  }

  it('refuses a concept id missing from concept, naming file, line and field', async () => {
    await withCompute(config, async (conn) => {
      const d = variant('condition_occurrence.csv', (t) => `${t}13,2,0,2016-01-01,32817,X1,123\n`);
      const err = await inputError(ingest(conn, d, OMOP, 'out'));
      expect(err.message).toBe(
        'omop/condition_occurrence.csv, line 14, field condition_source_concept_id: concept 123 is not in omop/concept.csv',
      );
      // In a gzip-compressed table, and for a unit concept (the second offending row is named first in file order).
      const m = variant('measurement.csv', (t) =>
        t
          .replace('4,3,0,2014-04-04,99,0,', '4,3,0,2014-04-04,99,777,')
          .concat('6,1,3028437,2016-01-01,1,777,,\n'),
      );
      execFileSync('gzip', [join(m, 'omop', 'measurement.csv')]);
      const e2 = await inputError(ingest(conn, m, OMOP, 'out'));
      expect(e2.location).toEqual({ file: 'omop/measurement.csv.gz', line: 5, field: 'unit_concept_id' });
      expect(e2.message).toContain('concept 777 is not in omop/concept.csv');
      // Concept 0 is "no matching concept": allowed (the fixture has many).
    });
  });

  it('names bad dates, duplicate persons and missing columns; quarantine rejects bad rows', async () => {
    await withCompute(config, async (conn) => {
      const d = variant(
        'measurement.csv',
        (t) => `${t}6,2,3004410,2013-02-30,5.9,8554,,\n7,9,3004410,2013-04-04,5.9,8554,,\n`,
      );
      const err = await inputError(ingest(conn, d, OMOP, 'out'));
      expect(err.location).toEqual({ file: 'omop/measurement.csv', line: 7, field: 'measurement_date' });
      expect(err.message).toContain('measurement_date 2013-02-30 is not a date YYYY-MM-DD');
      const q = await ingest(conn, d, OMOP, 'q', true);
      expect(q.nMeasurements).toBe(4);
      expect(await rows(conn, join(d, 'q', 'rejects.parquet'))).toEqual([
        {
          table_name: 'measurement',
          file: 'omop/measurement.csv',
          line: '7',
          field: 'measurement_date',
          reason: 'measurement_date 2013-02-30 is not a date YYYY-MM-DD',
        },
        {
          table_name: 'measurement',
          file: 'omop/measurement.csv',
          line: '8',
          field: 'person_id',
          reason: 'person_id 9 is not in person',
        },
      ]);

      const dup = variant('person.csv', (t) => `${t}2,8532,1961,,,,8515,0,,S-B2\n`);
      const e2 = await inputError(ingest(conn, dup, OMOP, 'out'));
      expect(e2.location).toEqual({ file: 'omop/person.csv', line: 6, field: 'person_id' });
      expect(e2.message).toContain('duplicate person_id 2');

      const early = variant('condition_occurrence.csv', (t) =>
        t.replace('2,1,201826,1999-12-31', '2,1,201826,1949-12-31'),
      );
      const e3 = await inputError(ingest(conn, early, OMOP, 'out'));
      expect(e3.location).toEqual({
        file: 'omop/condition_occurrence.csv',
        line: 3,
        field: 'condition_start_date',
      });
      expect(e3.message).toContain('date 1949-12-31 is before birth (1950-03-04)');

      const col = variant('condition_occurrence.csv', (t) => t.replace('condition_start_date', 'start_date'));
      const e4 = await inputError(ingest(conn, col, OMOP, 'out'));
      expect(e4.location).toEqual({
        file: 'omop/condition_occurrence.csv',
        line: 1,
        field: 'condition_start_date',
      });

      const ragged = variant('person.csv', (t) => `${t}5,8507\n`);
      const e6 = await inputError(ingest(conn, ragged, OMOP, 'out'));
      expect(e6.location).toMatchObject({ file: 'omop/person.csv', line: 6 });

      const noConcept = tempDir('omop-noconcept');
      cpSync(join(dir, 'omop'), join(noConcept, 'omop'), { recursive: true });
      rmSync(join(noConcept, 'omop', 'concept.csv'));
      const e5 = await inputError(ingest(conn, noConcept, OMOP, 'out'));
      expect(e5.message).toContain('no concept table');
    });
  });

  it('links genotype samples by person_id, person_source_value or a linkage table', async () => {
    await withCompute(config, async (conn) => {
      const ehr = (o: Partial<OmopEhr>): OmopEhr => ({ format: 'omop', path: 'omop', ...o });
      expect(await omopSampleLinks(conn, dir, ehr({}), ['1', '3', '99'])).toEqual({
        personIds: ['1', '3', null],
        unlinkedPersons: 2,
      });
      expect(
        await omopSampleLinks(conn, dir, ehr({ sampleId: 'person_source_value' }), [
          'S-B',
          'S-D',
          'S-A',
          'zz',
        ]),
      ).toEqual({ personIds: ['2', '4', '1', null], unlinkedPersons: 1 });
      writeFileSync(join(dir, 'linkage.tsv'), 'pid\tsample\n1\tGT-1\n2\tGT-2\n77\tGT-77\n');
      const linkage = {
        path: 'linkage.tsv',
        format: 'tsv' as const,
        personColumn: 'pid',
        sampleColumn: 'sample',
      };
      expect(
        await omopSampleLinks(conn, dir, ehr({ sampleId: 'linkage', linkage }), [
          'GT-2',
          'GT-1',
          'GT-77',
          'GT-x',
        ]),
      ).toEqual({ personIds: ['2', '1', null, null], unlinkedPersons: 2 });
      writeFileSync(join(dir, 'linkage2.tsv'), 'pid\tsample\n1\tGT-1\n2\tGT-1\n');
      const e = await inputError(
        omopSampleLinks(
          conn,
          dir,
          ehr({ sampleId: 'linkage', linkage: { ...linkage, path: 'linkage2.tsv' } }),
          ['GT-1'],
        ),
      );
      expect(e.location).toEqual({ file: 'linkage2.tsv', line: 3, field: 'sample' });
    });
  });

  it('a synthetic release converted to CDM in SQL gives the same tables and phecode phenome', async () => {
    const s = join(tempDir('omop-synth'), 'release');
    execFileSync(
      'node',
      [
        join(import.meta.dirname, '..', '..', 'bin', 'biobank.mjs'),
        'synth',
        '--out',
        s,
        '--size',
        'custom',
        '--persons',
        '300',
        '--variants',
        '1000',
      ],
      { stdio: 'ignore' },
    );
    const flatManifest = JSON.parse(readFileSync(join(s, 'manifest.json'), 'utf8'));
    mkdirSync(join(s, 'omop'));
    await withCompute(config, async (conn) => {
      await toCdm(conn, s);
      await ingest(conn, s, { ...flatManifest, tables: [] }, 'flat');
      await ingest(conn, s, OMOP, 'out');
      // OMOP person ids are integers; the synthetic person id P0000017 is person 17.
      const pid = `'P' || lpad(person_id, 7, '0') AS person_id`;
      for (const [t, cols] of [
        ['persons', 'sex, birth_date, birth_year, ancestry'],
        ['conditions', 'code, vocabulary, date'],
        ['measurements', 'name, loinc, value, unit, date'],
      ] as const) {
        const flat = await rows(conn, join(s, 'flat', `${t}.parquet`));
        expect(flat.length).toBeGreaterThan(250);
        expect(await rows(conn, join(s, 'out', `${t}.parquet`), `${pid}, ${cols}`), t).toEqual(flat);
      }
      const phenome = async (out: string, mapId: string) => {
        await computePhenome(
          conn,
          { conditions: join(s, out, 'conditions.parquet'), persons: join(s, out, 'persons.parquet') },
          { version: 'X' },
        );
        const counts = await conn.runAndReadAll(
          `SELECT ${mapId} AS person_id, k.phecode, k.n_dates FROM _ph_counts k JOIN _ph_cohort c USING (person_idx) ORDER BY ALL`,
        );
        const bits = await conn.runAndReadAll(
          'SELECT phecode, n_cases, n_excluded FROM _ph_bits ORDER BY phecode',
        );
        return { counts: counts.getRowObjectsJson(), bits: bits.getRowObjectsJson() };
      };
      await loadPhecodeMaps(conn, shippedMapsDir('X'), 'X');
      const fromFlat = await phenome('flat', 'c.person_id');
      const fromOmop = await phenome('out', `'P' || lpad(c.person_id, 7, '0')`);
      expect(fromFlat.bits.some((b) => Number(b.n_cases) > 0)).toBe(true);
      expect(fromOmop).toEqual(fromFlat);
    });
  });
});
