/**
 * A hand-built EHR where every answer is known (phecode 1.2 and X, the real maps shipped in data/phecode).
 * Each person exercises one rule; the expected statuses are written down here by hand from
 * the rules in docs/phenotyping.md and the public maps, not produced by the engine.
 */
import type { ConditionRow, PersonRow } from './fixture.js';

export const PERSONS: PersonRow[] = [
  { person_id: 'p01', sex: 'M', birth_date: '1950-06-15', ancestry: 'EUR' },
  { person_id: 'p02', sex: 'F', birth_date: '1960-01-01', ancestry: 'EUR' },
  { person_id: 'p03', sex: 'M', birth_date: '1970-03-03', ancestry: 'AFR' },
  { person_id: 'p04', sex: 'F', birth_date: '1945-12-31', ancestry: 'EAS' },
  { person_id: 'p05', sex: 'U', birth_date: null, birth_year: 1980, ancestry: null },
  { person_id: 'p06', sex: 'M', birth_date: '1955-05-05', ancestry: 'EUR' },
  { person_id: 'p07', sex: 'F', birth_date: '1990-09-09', ancestry: 'SAS' },
  { person_id: 'p08', sex: 'M', birth_date: '1965-02-02', ancestry: 'EUR' },
  { person_id: 'p09', sex: 'M', birth_date: '1966-02-02', ancestry: 'EUR' },
  { person_id: 'p10', sex: 'M', birth_date: '1975-07-07', ancestry: 'AMR' },
  { person_id: 'p11', sex: 'M', birth_date: '1940-04-04', ancestry: 'EUR' },
  { person_id: 'p12', sex: 'F', birth_date: '1985-08-08', ancestry: 'EUR' },
  { person_id: 'p14', sex: 'F', birth_date: '1952-10-10', ancestry: 'AFR' },
];

export const CONDITIONS: ConditionRow[] = [
  // p01: E11.9 on two dates → case 250.2 and (rollup) 250.
  ['p01', 'ICD10CM', 'E11.9', '2020-01-01'],
  ['p01', 'ICD10CM', 'E11.9', '2020-02-01'],
  // p02: ICD-9 250.00 and ICD-10 E11.9 on the same day → one date → excluded (count 1 < 2).
  ['p02', 'ICD9CM', '250.00', '2019-05-05'],
  ['p02', 'ICD10CM', 'E11.9', '2019-05-05'],
  // p03: E10.9 twice → case 250.1; for 250.2 excluded through the exclusion range (250.1).
  ['p03', 'ICD10CM', 'E10.9', '2018-01-01'],
  ['p03', 'ICD10CM', 'E10.9', '2018-06-01'],
  // p04 (F) and p05 (U): C61 twice → 185 is male-only → excluded.
  ['p04', 'ICD10CM', 'C61', '2017-01-01'],
  ['p04', 'ICD10CM', 'C61', '2017-02-01'],
  ['p05', 'ICD10CM', 'C61', '2017-01-01'],
  ['p05', 'ICD10CM', 'C61', '2017-03-01'],
  // p06 (M): C61 twice → case 185.
  ['p06', 'ICD10CM', 'C61', '2016-01-01'],
  ['p06', 'ICD10CM', 'C61', '2016-04-01'],
  // p08: WHO ICD-10 E14.9 (not in ICD-10-CM) twice → case 250.2 through the WHO map.
  ['p08', 'ICD10', 'E14.9', '2021-01-01'],
  ['p08', 'ICD10', 'E14.9', '2021-03-01'],
  // p09: the same code labelled ICD10CM → no phecode (reported as unmapped) → control.
  ['p09', 'ICD10CM', 'E14.9', '2021-01-01'],
  ['p09', 'ICD10CM', 'E14.9', '2021-03-01'],
  // p10: ICD-9 001.0 twice → case '008' (a string; never '8').
  ['p10', 'ICD9CM', '001.0', '2015-01-01'],
  ['p10', 'ICD9CM', '001.0', '2015-02-01'],
  // p11: case of 250.2 (3 dates) with 250.1 present → still a case of 250.2 (and of 250.1).
  ['p11', 'ICD10CM', 'E11.9', '2019-01-01'],
  ['p11', 'ICD10CM', 'E11.9', '2019-02-01'],
  ['p11', 'ICD10CM', 'E11.9', '2019-03-01'],
  ['p11', 'ICD10CM', 'E10.9', '2019-04-01'],
  ['p11', 'ICD10CM', 'E10.9', '2019-05-01'],
  // p12: ICD-9 and ICD-10 on different dates → two dates → case 250.2.
  ['p12', 'ICD9CM', '250.00', '2014-12-01'],
  ['p12', 'ICD10CM', 'E11.9', '2016-01-01'],
  // p14: E10.9 once → excluded 250.1 (count 1) and excluded 250.2 (exclusion range).
  ['p14', 'ICD10CM', 'E10.9', '2020-01-01'],
  // a record without a date is not counted; a person not in persons is ignored.
  ['p07', 'ICD10CM', 'E11.9', null],
  ['zz99', 'ICD10CM', 'E11.9', '2020-01-01'],
  ['zz99', 'ICD10CM', 'E11.9', '2020-02-01'],
];

type S = 'case' | 'control' | 'excluded';
/** Expected phecode 1.2 statuses (minCodeCount 2, exclusions on), written by hand. */
export const EXPECTED_12: Record<string, Record<string, S>> = {
  '250.2': {
    p01: 'case',
    p02: 'excluded',
    p03: 'excluded',
    p04: 'control',
    p05: 'control',
    p06: 'control',
    p07: 'control',
    p08: 'case',
    p09: 'control',
    p10: 'control',
    p11: 'case',
    p12: 'case',
    p14: 'excluded',
  },
  '250.1': {
    p01: 'excluded',
    p02: 'excluded',
    p03: 'case',
    p04: 'control',
    p11: 'case',
    p14: 'excluded',
    p07: 'control',
    p10: 'control',
  },
  '185': {
    p01: 'control',
    p02: 'excluded',
    p04: 'excluded',
    p05: 'excluded',
    p06: 'case',
    p07: 'excluded',
    p12: 'excluded',
    p14: 'excluded',
  },
  '008': { p10: 'case', p01: 'control', p07: 'control' },
};
