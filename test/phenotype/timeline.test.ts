/**
 * phenotype/timeline.ts: entry, exit and onsets for the Cox PheWAS, on a hand-made release whose
 * expected times are computed here with plain date arithmetic (independent of the SQL):
 * the three origins (birth, enrolment, a date column), an entry column, the cut-off (given and
 * defaulted to the latest record), same-day codes of two vocabularies counted once, rollup to
 * the parent phecode, a person without records, one without follow-up, a release without
 * measurements, reuse, and bad input (missing table or column, a value that is not a date)
 * refused with the file and field named and nothing written.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
const ENROL: [string, string][] = [
  ['P1', '2009-01-01'],
  ['P2', '2010-06-01'],
  ['P5', '2006-01-01'],
  ['P6', '2012-01-01'],
];

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

/** Expected entry/exit per person (NaN = left out) under `survival`, by the documented rules. */
function expected(s: SurvivalSpec, withMeasurements: boolean) {
  const all = [
    ...CONDITIONS.map((c) => c[3]),
    ...(withMeasurements ? MEASUREMENTS.map((m) => m[1]) : []),
  ].sort();
  const cutoff = s.cutoff ?? all[all.length - 1];
  return PERSONS.map(([id]) => {
    const recs = recordsOf(id, withMeasurements);
    const entryDate = s.entry ? ENROL.find((e) => e[0] === id)?.[1] : recs[0];
    const exitDate = recs.length ? minDate(recs[recs.length - 1], cutoff) : undefined;
    const origin = s.origin ?? 'birth';
    const originDate =
      origin === 'birth'
        ? birthOf(id)
        : origin === 'enrolment'
          ? entryDate
          : ENROL.find((e) => e[0] === id)?.[1];
    if (!entryDate || !exitDate) return { id, entry: Number.NaN, exit: Number.NaN, reason: 'no_entry' };
    if (!originDate) return { id, entry: Number.NaN, exit: Number.NaN, reason: 'no_origin' };
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
      const leftOut: Record<string, number> = {};
      for (const w of want) if (w.reason) leftOut[w.reason] = (leftOut[w.reason] ?? 0) + 1;
      expect(ref.leftOut).toEqual(leftOut);
      expect(ref.nFollowed).toBe(want.filter((w) => !w.reason).length);
      expect(ref.personYears).toBeCloseTo(
        want.filter((w) => !w.reason).reduce((a, w) => a + w.exit - w.entry, 0),
        9,
      );

      // Onsets of CV_404.2 (and its parent CV_404, by rollup): first code date and 2nd distinct date.
      const origin = survival.origin ?? 'birth';
      const originOf = (id: string) =>
        origin === 'birth'
          ? birthOf(id)
          : origin === 'enrolment'
            ? ENROL.find((e) => e[0] === id)![1]
            : ENROL.find((e) => e[0] === id)![1];
      for (const code of ['CV_404.2', 'CV_404']) {
        const on = tl.onsets.get(code)!;
        expect(on, code).toBeDefined();
        const ids = ['P1', 'P2', 'P5'];
        expect([...on.samples]).toEqual(ids.map((id) => order.indexOf(id)).sort((a, b) => a - b));
        for (const [k, s] of [...on.samples].entries()) {
          const id = order[s];
          const dates = [
            ...new Set(CONDITIONS.filter((c) => c[0] === id && c[1] !== 'D64.9').map((c) => c[3])),
          ].sort();
          expect(on.first[k], id).toBeCloseTo(years(dates[0], originOf(id)), 9);
          expect(on.event[k], id).toBeCloseTo(years(dates[1], originOf(id)), 9);
        }
      }
      // P4 has one D64.9 date: below minCodeCount, event NaN
      const bi = tl.onsets.get('BI_164')!;
      const p4 = [...bi.samples].indexOf(order.indexOf('P4'));
      expect(bi.event[p4]).toBeNaN();

      const again = await buildTimeline(conn, input(dir, phenome, survival));
      expect(again.reused).toBe(true);
      expect(again.dir).toBe(ref.dir);
    });
  }

  it('refuses a missing table or column and a value that is not a date, writing nothing', async () => {
    const dir = mkdtempSync(join(root, 'bad-'));
    const phenome = await writeRelease(dir, true, [...ENROL, ['P3', 'soon']]);
    const before = readdirSync(phenome).sort();
    const attempts: [SurvivalSpec, RegExp, string][] = [
      [{ origin: { table: 'visits', column: 'd' } }, /no table 'visits'/, 'phewas.survival.origin.table'],
      [{ entry: { table: 'enrol', column: 'signed' } }, /no column 'signed'/, 'phewas.survival.entry.column'],
      [
        { origin: 'enrolment', entry: { table: 'enrol', column: 'consent_date' } },
        /'soon' \(person P3\) is not a date/,
        'phewas.survival.entry.column',
      ],
    ];
    for (const [survival, message, field] of attempts) {
      const err = await buildTimeline(conn, input(dir, phenome, survival)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect(String((err as Error).message)).toMatch(message);
      expect(JSON.stringify(err)).toContain(field);
    }
    expect(readdirSync(phenome).sort()).toEqual(before);
    expect(existsSync(join(phenome, 'timeline'))).toBe(false);
  });
});
