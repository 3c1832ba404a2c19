/**
 * phenotype/timeline.ts: entry, exit and onsets for the Cox PheWAS, on a hand-made release whose
 * expected times are computed here with plain date arithmetic (independent of the SQL):
 * the three origins (birth, enrolment, a date column), an entry column, the cut-off (given and
 * defaulted to the latest record), same-day codes of two vocabularies counted once, rollup to
 * the parent phecode, a person without records, one without follow-up, a release without
 * measurements, reuse, and bad input (missing table or column, a value that is not a date)
 * refused with the file and field named and nothing written.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../engine/errors.js';
import { buildTimeline, loadTimeline, type TimelineInput } from '../../phenotype/timeline.js';
import type { SurvivalSpec } from '../../schemas/study.js';

const MAPS_X = resolve(import.meta.dirname, '../../data/demo-phecode-map/X');
const root = mkdtempSync(join(tmpdir(), 'biobank-timeline-'));
let db: DuckDBInstance;
let conn: DuckDBConnection;

const PERSONS: [string, string | null, number][] = [
  ['P1', '1950-03-10', 1950],
  ['P2', null, 1960],
  ['P3', '1975-05-05', 1975],
  ['P4', '1970-01-01', 1970],
  ['P5', '1945-12-31', 1945],
  ['P6', '1980-01-01', 1980],
];
/** person, code, vocabulary, date. I25.10/414.01 → CV_404.2 (rolls up to CV_404); D64.9 → BI_164. */
const CONDITIONS: [string, string, string, string][] = [
  ['P1', 'D64.9', 'ICD10CM', '2008-02-02'],
  ['P1', 'I25.10', 'ICD10CM', '2010-01-05'],
  ['P1', '414.01', 'ICD9CM', '2010-01-05'],
  ['P1', 'I25.10', 'ICD10CM', '2012-06-01'],
  ['P1', 'D64.9', 'ICD10CM', '2020-05-05'],
  ['P2', 'I25.10', 'ICD10CM', '2009-01-01'],
  ['P2', 'I25.10', 'ICD10CM', '2011-01-01'],
  ['P2', 'D64.9', 'ICD10CM', '2015-01-01'],
  ['P4', 'D64.9', 'ICD10CM', '2011-11-11'],
  ['P5', 'D64.9', 'ICD10CM', '2005-05-05'],
  ['P5', 'I25.10', 'ICD10CM', '2019-01-01'],
  ['P5', 'I25.10', 'ICD10CM', '2023-06-01'],
  ['P6', 'D64.9', 'ICD10CM', '2010-01-01'],
  ['P6', 'D64.9', 'ICD10CM', '2018-01-01'],
];
const MEASUREMENTS: [string, string][] = [['P1', '2021-01-01']];
/** tables/enrol.parquet: P1 twice (the earliest counts), P3 without any record, P4 without a row. */
const ENROL: [string, string][] = [
  ['P1', '2015-03-01'],
  ['P1', '2009-01-01'],
  ['P2', '2010-06-01'],
  ['P3', '2011-01-01'],
  ['P5', '2006-01-01'],
  ['P6', '2012-01-01'],
];
/** Phecode → the fixture codes that map to it (CV_404 by rollup of CV_404.2). */
const PHECODE_CODES: Record<string, string[]> = {
  'CV_404.2': ['I25.10', '414.01'],
  CV_404: ['I25.10', '414.01'],
  BI_164: ['D64.9'],
};

const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
const years = (d: string, origin: string) => (day(d) - day(origin)) / 365.25;
const birthOf = (id: string) => {
  const p = PERSONS.find((x) => x[0] === id)!;
  return p[1] ?? `${p[2]}-07-01`;
};
function recordsOf(id: string, withMeasurements: boolean): string[] {
  return [
    ...CONDITIONS.filter((c) => c[0] === id).map((c) => c[3]),
    ...(withMeasurements ? MEASUREMENTS.filter((m) => m[0] === id).map((m) => m[1]) : []),
  ].sort();
}
const minDate = (a: string, b: string) => (a < b ? a : b);
const enrolOf = (id: string) =>
  ENROL.filter((e) => e[0] === id)
    .map((e) => e[1])
    .sort()[0] as string | undefined;
const originOf = (s: SurvivalSpec, id: string, withMeasurements: boolean) => {
  const origin = s.origin ?? 'birth';
  if (origin === 'birth') return birthOf(id);
  if (origin === 'enrolment') return s.entry ? enrolOf(id) : recordsOf(id, withMeasurements)[0];
  return enrolOf(id);
};

/** Expected entry/exit per person (NaN = left out) under `survival`, by the documented rules. */
function expected(s: SurvivalSpec, withMeasurements: boolean) {
  const all = [
    ...CONDITIONS.map((c) => c[3]),
    ...(withMeasurements ? MEASUREMENTS.map((m) => m[1]) : []),
  ].sort();
  const cutoff = s.cutoff ?? all[all.length - 1];
  return PERSONS.map(([id]) => {
    const recs = recordsOf(id, withMeasurements);
    const entryDate = s.entry ? enrolOf(id) : recs[0];
    const exitDate = recs.length ? minDate(recs[recs.length - 1], cutoff) : undefined;
    const origin = s.origin ?? 'birth';
    const originDate = originOf(s, id, withMeasurements);
    if (!entryDate) return { id, entry: Number.NaN, exit: Number.NaN, reason: 'no_entry' };
    if (!originDate) return { id, entry: Number.NaN, exit: Number.NaN, reason: 'no_origin' };
    if (!exitDate) return { id, entry: Number.NaN, exit: Number.NaN, reason: 'no_follow_up' };
    let entry = years(entryDate, originDate);
    if (typeof origin === 'object') entry = Math.max(0, entry);
    const exit = years(exitDate, originDate);
    if (exit <= entry) return { id, entry: Number.NaN, exit: Number.NaN, reason: 'no_follow_up' };
    return { id, entry, exit, reason: null };
  });
}

async function writeRelease(dir: string, withMeasurements: boolean, enrol: [string, string][] = ENROL) {
  mkdirSync(join(dir, 'tables'), { recursive: true });
  const values = (rows: (string | number | null)[][]) =>
    rows
      .map(
        (r) => `(${r.map((v) => (v === null ? 'NULL' : typeof v === 'number' ? v : `'${v}'`)).join(', ')})`,
      )
      .join(', ');
  await conn.run(`COPY (SELECT * FROM (VALUES ${values(PERSONS.map((p) => [p[0], 'F', p[1], p[2], 'EUR']))})
    t(person_id, sex, birth_date, birth_year, ancestry)) TO '${join(dir, 'persons.parquet')}' (FORMAT parquet)`);
  await conn.run(`COPY (SELECT * FROM (VALUES ${values(CONDITIONS)}) t(person_id, code, vocabulary, date))
    TO '${join(dir, 'conditions.parquet')}' (FORMAT parquet)`);
  if (withMeasurements)
    await conn.run(`COPY (SELECT person_id, 'LDL' AS name, '13457-7' AS loinc, 100.0 AS value, 'mg/dL' AS unit, date
      FROM (VALUES ${values(MEASUREMENTS)}) t(person_id, date)) TO '${join(dir, 'measurements.parquet')}' (FORMAT parquet)`);
  await conn.run(`COPY (SELECT * FROM (VALUES ${values(enrol)}) t(person_id, consent_date))
    TO '${join(dir, 'tables', 'enrol.parquet')}' (FORMAT parquet)`);
  const phenome = join(dir, 'phenome');
  mkdirSync(phenome, { recursive: true });
  // cohort person_idx in person_id order, as the phenome numbers them
  await conn.run(`COPY (SELECT (row_number() OVER (ORDER BY person_id) - 1)::INTEGER AS person_idx, person_id, 'F' AS sex
    FROM (VALUES ${values(PERSONS.map((p) => [p[0]]))}) t(person_id)) TO '${join(phenome, 'cohort.parquet')}' (FORMAT parquet)`);
  return phenome;
}

const input = (dir: string, phenome: string, survival: SurvivalSpec): TimelineInput => ({
  releaseDir: dir,
  phenomeDir: phenome,
  version: 'X',
  mapsDir: MAPS_X,
  minCodeCount: 2,
  survival,
});

beforeAll(async () => {
  db = await DuckDBInstance.create(':memory:');
  conn = await db.connect();
});

afterAll(() => {
  conn?.closeSync();
  db?.closeSync();
  rmSync(root, { recursive: true, force: true });
});

describe('buildTimeline / loadTimeline', () => {
  const cases: [string, SurvivalSpec, boolean][] = [
    ['age scale, entry at the first record, cut-off = latest record', {}, true],
    ['age scale without measurements, given cut-off', { cutoff: '2022-12-31' }, false],
    [
      'time since an enrolment column',
      { origin: 'enrolment', entry: { table: 'enrol', column: 'consent_date' } },
      true,
    ],
    [
      'time since a date column, entry at the first record',
      { origin: { table: 'enrol', column: 'consent_date' } },
      true,
    ],
    [
      'age scale, entry column, a cut-off before some entries',
      { entry: { table: 'enrol', column: 'consent_date' }, cutoff: '2011-06-01' },
      true,
    ],
  ];
  for (const [name, survival, withMeasurements] of cases) {
    it(name, async () => {
      const dir = mkdtempSync(join(root, 'rel-'));
      const phenome = await writeRelease(dir, withMeasurements);
      const ref = await buildTimeline(conn, input(dir, phenome, survival));
      expect(ref.reused).toBe(false);
      // analysis samples in another order than the cohort: P6, P1, P3, P2, P5, P4 (and one unknown)
      const order = ['P6', 'P1', 'P3', 'P2', 'P5', 'P4'];
      const personIdx = Int32Array.from([...order.map((id) => PERSONS.findIndex((p) => p[0] === id)), -1]);
      const tl = await loadTimeline(conn, ref, personIdx);
      const want = expected(survival, withMeasurements);
      for (const [i, id] of order.entries()) {
        const w = want.find((x) => x.id === id)!;
        if (Number.isNaN(w.entry)) {
          expect(tl.entry[i], id).toBeNaN();
          expect(tl.exit[i], id).toBeNaN();
        } else {
          expect(tl.entry[i], id).toBeCloseTo(w.entry, 9);
          expect(tl.exit[i], id).toBeCloseTo(w.exit, 9);
        }
      }
      expect(tl.entry[6]).toBeNaN();
      expect(ref.origin).toBe(typeof survival.origin === 'object' ? 'column' : (survival.origin ?? 'birth'));
      const allDates = [
        ...CONDITIONS.map((c) => c[3]),
        ...(withMeasurements ? MEASUREMENTS.map((m) => m[1]) : []),
      ];
      expect(ref.cutoff).toBe(survival.cutoff ?? allDates.sort()[allDates.length - 1]);
      expect(ref.nPersons).toBe(PERSONS.length);
      const reasons = (
        await conn.runAndReadAll(
          `SELECT person_idx, reason, entry IS NULL AND exit IS NULL FROM read_parquet('${ref.persons}') ORDER BY person_idx`,
        )
      ).getRows();
      expect(reasons.map((r) => [Number(r[0]), r[1], r[2]])).toEqual(
        want.map((w, k) => [k, w.reason, w.reason !== null]),
      );
      const leftOut: Record<string, number> = {};
      for (const w of want) if (w.reason) leftOut[w.reason] = (leftOut[w.reason] ?? 0) + 1;
      expect(ref.leftOut).toEqual(leftOut);
      expect(ref.nFollowed).toBe(want.filter((w) => !w.reason).length);
      expect(ref.personYears).toBeCloseTo(
        want.filter((w) => !w.reason).reduce((a, w) => a + w.exit - w.entry, 0),
        9,
      );

      // Onsets: per phecode, the samples with a dated code (and an origin), first date and the
      // 2nd distinct date (same-day codes once; NaN below minCodeCount), codes after the cut-off kept.
      expect([...tl.onsets.keys()].sort()).toEqual(Object.keys(PHECODE_CODES).sort());
      for (const [code, icd] of Object.entries(PHECODE_CODES)) {
        const on = tl.onsets.get(code)!;
        const dated = order
          .map((id, i) => ({
            i,
            id,
            origin: originOf(survival, id, withMeasurements),
            dates: [
              ...new Set(CONDITIONS.filter((c) => c[0] === id && icd.includes(c[1])).map((c) => c[3])),
            ].sort(),
          }))
          .filter((x) => x.dates.length > 0 && x.origin !== undefined)
          .sort((a, b) => a.i - b.i);
        expect([...on.samples], code).toEqual(dated.map((x) => x.i));
        for (const [k, x] of dated.entries()) {
          expect(on.first[k], `${code} ${x.id}`).toBeCloseTo(years(x.dates[0], x.origin!), 9);
          if (x.dates.length < 2) expect(on.event[k], `${code} ${x.id}`).toBeNaN();
          else expect(on.event[k], `${code} ${x.id}`).toBeCloseTo(years(x.dates[1], x.origin!), 9);
        }
      }

      const again = await buildTimeline(conn, input(dir, phenome, survival));
      expect(again.reused).toBe(true);
      expect(again.dir).toBe(ref.dir);
    });
  }

  it('refuses a missing table or column and a value that is not a date, writing nothing', async () => {
    const dir = mkdtempSync(join(root, 'bad-'));
    const phenome = await writeRelease(dir, true, [...ENROL, ['P3', 'soon']]);
    const before = readdirSync(phenome).sort();
    const enrol = join(dir, 'tables', 'enrol.parquet');
    const attempts: [SurvivalSpec, RegExp, string, string][] = [
      [
        { origin: { table: 'visits', column: 'd' } },
        /no table 'visits'/,
        'phewas.survival.origin.table',
        join(dir, 'tables', 'visits.parquet'),
      ],
      [
        { entry: { table: 'enrol', column: 'signed' } },
        /no column 'signed'/,
        'phewas.survival.entry.column',
        enrol,
      ],
      [
        { origin: { table: 'persons', column: 'ancestry' } },
        /'EUR' \(person P1\) is not a date/,
        'phewas.survival.origin.column',
        join(dir, 'persons.parquet'),
      ],
      [
        { origin: 'enrolment', entry: { table: 'enrol', column: 'consent_date' } },
        /'soon' \(person P3\) is not a date/,
        'phewas.survival.entry.column',
        enrol,
      ],
    ];
    for (const [survival, message, field, file] of attempts) {
      const err = await buildTimeline(conn, input(dir, phenome, survival)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      const { message: text, location } = err as InputError;
      expect(text).toMatch(message);
      expect(text).toContain(`field ${field}`);
      expect(location.field).toBe(field);
      expect(location.file).toBe(file);
      expect(text).toContain(file);
    }
    expect(readdirSync(phenome).sort()).toEqual(before);
    expect(readdirSync(phenome).filter((f) => f.startsWith('timeline'))).toEqual([]);
  });
});
