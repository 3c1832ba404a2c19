/**
 * Synthetic EHR: visits and ICD diagnosis codes with dates.
 *
 * - Each person's record runs from an EHR start (≥ age 18, ≥ 1996) to the extract date;
 *   visits fall uniformly in it. Codes dated before 2015-10-01 are ICD-9-CM and later ones
 *   ICD-10-CM, as in US records around the switch.
 * - **Planted phecodes:** each case gets 2–6 codes on distinct dates after an onset date;
 *   about 1.5% of non-cases get exactly one code (a rule-out diagnosis), so the
 *   `minCodeCount` rule has persons to exclude.
 * - **Background:** every condition group of the map (a phecode's codes) gets a prevalence
 *   (log-uniform); its cases get 2+ codes on distinct dates, a further 30% of that share
 *   one code. Each visit also carries an acute code with probability ½. Sex-restricted
 *   phecodes are only given to persons of that sex.
 */

import { dayOf, type Persons } from './persons.js';
import type { CodePools, ConditionGroup } from './phecodes.js';
import type { Phenotypes } from './phenotypes.js';
import { PLANTED_BINARY, PLANTED_BURDEN, PLANTED_TIME_TO_EVENT } from './planted.js';
import { Rng } from './prng.js';

export const ICD10CM_START = dayOf('2015-10-01');
const EHR_EARLIEST = dayOf('1996-01-01');

/** Growable int32 column. */
class IntColumn {
  data = new Int32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }
}

export interface Visits {
  ehrStart: Int32Array;
  /** Visit days of person i are `days[offset[i] .. offset[i+1])`, sorted. */
  offset: Int32Array;
  days: Int32Array;
}

export interface ConditionRows {
  person: Int32Array;
  day: Int32Array;
  /** Index into `codes` / `vocabularies`. */
  code: Int32Array;
  codes: string[];
  vocabularies: ('ICD9CM' | 'ICD10CM')[];
}

export interface PlantedCount {
  key: string;
  /** Persons with ≥ 2 codes on distinct dates. */
  cases: number;
  /** Persons with exactly one code. */
  singleCode: number;
}

export function generateVisits(seed: number, persons: Persons, extractDay: number): Visits {
  const rng = new Rng(seed, 'visits');
  const n = persons.n;
  const ehrStart = new Int32Array(n);
  const offset = new Int32Array(n + 1);
  const days = new IntColumn();
  for (let i = 0; i < n; i++) {
    const adult = persons.birthDay[i] + Math.ceil(18 * 365.25);
    const joined = EHR_EARLIEST + rng.int(16 * 365);
    ehrStart[i] = Math.min(Math.max(adult, joined), extractDay - 365);
    const nVisits = 2 + rng.poisson(2 + persons.age[i] / 15);
    const span = extractDay - ehrStart[i];
    const mine: number[] = [];
    for (let v = 0; v < nVisits; v++) mine.push(ehrStart[i] + rng.int(span + 1));
    mine.sort((a, b) => a - b);
    offset[i] = days.length;
    for (const d of mine) days.push(d);
  }
  offset[n] = days.length;
  return { ehrStart, offset, days: days.view() };
}

/** What the planted time-to-event phecode produced (planted.ts `PLANTED_TIME_TO_EVENT`). */
export interface TimeToEventCount {
  key: string;
  /** Onset within the EHR record (on or after the EHR start, on or before the extract date). */
  incident: number;
  incidentCarriers: number;
  /** Onset before the EHR start: coded from the first EHR day on. */
  prevalent: number;
  prevalentCarriers: number;
  /** Onset after the extract date: not a case. */
  censored: number;
}

export interface TimeToEventInput {
  carriers: Uint8Array;
  pool: { icd10: string[]; icd9: string[] };
  reserved: { icd10: string[]; icd9: string[] };
}

export function generateConditions(
  seed: number,
  persons: Persons,
  visits: Visits,
  pools: CodePools,
  phenotypes: Phenotypes,
  extractDay: number,
  /**
   * The planted time-to-event phecode: `carriers` (1 = carrier of a pLoF allele in the burden
   * gene, the exposure), its code pool, and `reserved`, every code reaching it in 1.2 or X
   * (phecodes.ts `codesReaching`). Reserved codes are dropped from the background rows (the
   * random draws are unchanged, so every other row is too); its cases are planted by
   * `plantTimeToEvent` only.
   */
  timeToEventInput?: TimeToEventInput,
): { rows: ConditionRows; planted: PlantedCount[]; timeToEvent: TimeToEventCount | null } {
  const rng = new Rng(seed, 'conditions');
  const n = persons.n;
  const codeIndex = new Map<string, number>();
  const codes: string[] = [];
  const vocabularies: ('ICD9CM' | 'ICD10CM')[] = [];
  const person = new IntColumn();
  const dayCol = new IntColumn();
  const codeCol = new IntColumn();
  const intern = (vocab: 'ICD9CM' | 'ICD10CM', code: string): number => {
    const key = `${vocab} ${code}`;
    let idx = codeIndex.get(key);
    if (idx === undefined) {
      idx = codes.length;
      codeIndex.set(key, idx);
      codes.push(code);
      vocabularies.push(vocab);
    }
    return idx;
  };
  // Per vocabulary: an ICD-9-CM and an ICD-10-CM code may be spelled alike (V and E codes).
  const reserved10 = new Set(timeToEventInput?.reserved.icd10 ?? []);
  const reserved9 = new Set(timeToEventInput?.reserved.icd9 ?? []);
  const emit = (i: number, day: number, pool: { icd10: string[]; icd9: string[] }): void => {
    const icd10 = day >= ICD10CM_START;
    const list = icd10 ? pool.icd10 : pool.icd9;
    const code = list[rng.int(list.length)];
    if ((icd10 ? reserved10 : reserved9).has(code)) return; // the time-to-event phecode's cases are planted only
    person.push(i);
    dayCol.push(day);
    codeCol.push(intern(icd10 ? 'ICD10CM' : 'ICD9CM', code));
  };
  /** k codes on distinct days in [onset, extractDay]. */
  const emitCondition = (i: number, k: number, pool: { icd10: string[]; icd9: string[] }): void => {
    const start = visits.ehrStart[i];
    const onset = start + rng.int(Math.max(1, extractDay - start - 30));
    const span = extractDay - onset + 1;
    const chosen = new Set<number>();
    const want = Math.min(k, span);
    while (chosen.size < want) chosen.add(onset + rng.int(span));
    for (const d of [...chosen].sort((a, b) => a - b)) emit(i, d, pool);
  };
  const emitSingle = (i: number, pool: { icd10: string[]; icd9: string[] }): void => {
    const start = visits.ehrStart[i];
    emit(i, start + rng.int(extractDay - start + 1), pool);
  };

  const planted: PlantedCount[] = [];
  for (const spec of [...PLANTED_BINARY, ...PLANTED_BURDEN]) {
    const pool = pools.planted.get(spec.key)!;
    const isCase = phenotypes.cases.get(spec.key)!;
    let cases = 0;
    let single = 0;
    for (let i = 0; i < n; i++) {
      if (isCase[i]) {
        emitCondition(i, 2 + Math.min(4, rng.poisson(1.2)), pool);
        cases++;
      } else if (rng.float() < 0.015) {
        emitSingle(i, pool);
        single++;
      }
    }
    planted.push({ key: spec.key, cases, singleCode: single });
  }

  const groups: ConditionGroup[] = pools.groups;
  // Prevalences: about two chronic background conditions per person on average.
  const prevalence = groups.map(() => Math.exp(rng.uniform(Math.log(0.004), Math.log(0.12))));
  const mean = prevalence.reduce((a, b) => a + b, 0);
  const scale = Math.min(1, 2.5 / mean);
  groups.forEach((g, gi) => {
    const p = prevalence[gi] * scale;
    for (let i = 0; i < n; i++) {
      if (g.sex !== 0 && g.sex !== persons.sex[i]) continue;
      const u = rng.float();
      if (u < p) emitCondition(i, 2 + Math.min(5, rng.poisson(1)), g);
      else if (u < 1.3 * p) emitSingle(i, g);
    }
  });
  // Acute codes at visits.
  for (let i = 0; i < n; i++) {
    for (let v = visits.offset[i]; v < visits.offset[i + 1]; v++) {
      if (rng.float() >= 0.5) continue;
      let g = groups[rng.int(groups.length)];
      for (let tries = 0; g.sex !== 0 && g.sex !== persons.sex[i] && tries < 20; tries++)
        g = groups[rng.int(groups.length)];
      if (g.sex !== 0 && g.sex !== persons.sex[i]) continue;
      emit(i, visits.days[v], g);
    }
  }

  const timeToEvent = timeToEventInput
    ? plantTimeToEvent(
        new Rng(seed, 'time-to-event'),
        persons,
        visits,
        timeToEventInput,
        extractDay,
        (i, day, code) => {
          person.push(i);
          dayCol.push(day);
          codeCol.push(code);
        },
        intern,
      )
    : null;

  // Sort by person, date, code so the output is tidy and independent of generation order.
  const m = person.length;
  const order = new Uint32Array(m);
  for (let r = 0; r < m; r++) order[r] = r;
  const P = person.view();
  const D = dayCol.view();
  const C = codeCol.view();
  const codeRank = new Int32Array(codes.length);
  const byName = codes
    .map((_, i) => i)
    .sort((a, b) => (codes[a] < codes[b] ? -1 : codes[a] > codes[b] ? 1 : 0));
  byName.forEach((c, r) => {
    codeRank[c] = r;
  });
  order.sort((a, b) => P[a] - P[b] || D[a] - D[b] || codeRank[C[a]] - codeRank[C[b]] || a - b);
  const rows: ConditionRows = {
    person: new Int32Array(m),
    day: new Int32Array(m),
    code: new Int32Array(m),
    codes,
    vocabularies,
  };
  for (let r = 0; r < m; r++) {
    rows.person[r] = P[order[r]];
    rows.day[r] = D[order[r]];
    rows.code[r] = C[order[r]];
  }
  return { rows, planted, timeToEvent };
}

/**
 * The planted time-to-event phecode (planted.ts `PLANTED_TIME_TO_EVENT`), on its own random
 * stream so that every other generated row is unchanged by it. Onset age a = λ·(E/m)^(1/k),
 * E ~ Exp(1), m = HR^carrier·HR_male^male (Weibull proportional hazards on the age scale).
 * - onset after the extract date: no code (censored);
 * - onset on or after the EHR start: a code on the onset day, a second within 1–60 days (so
 *   the date the two-distinct-dates rule is met is at most 60 days after onset), then 0–4 more
 *   later in the record; a code that would fall after the extract date is not written (an
 *   onset in the last 60 days may leave one code only, below the two-code rule);
 * - onset before the EHR start (prevalent at entry): the same codes from the EHR start day on.
 */
function plantTimeToEvent(
  rng: Rng,
  persons: Persons,
  visits: Visits,
  input: TimeToEventInput,
  extractDay: number,
  push: (i: number, day: number, code: number) => void,
  intern: (vocab: 'ICD9CM' | 'ICD10CM', code: string) => number,
): TimeToEventCount {
  const spec = PLANTED_TIME_TO_EVENT;
  const { carriers, pool } = input;
  const out: TimeToEventCount = {
    key: spec.key,
    incident: 0,
    incidentCarriers: 0,
    prevalent: 0,
    prevalentCarriers: 0,
    censored: 0,
  };
  const code = (day: number): number => {
    const icd10 = day >= ICD10CM_START;
    const list = icd10 ? pool.icd10 : pool.icd9;
    return intern(icd10 ? 'ICD10CM' : 'ICD9CM', list[rng.int(list.length)]);
  };
  for (let i = 0; i < persons.n; i++) {
    const m = (carriers[i] ? spec.hr : 1) * (persons.sex[i] === 1 ? spec.hrMale : 1);
    const e = -Math.log(1 - rng.float());
    const onsetAge = spec.scale * (e / m) ** (1 / spec.shape);
    const onset = persons.birthDay[i] + Math.round(onsetAge * 365.25);
    const second = 1 + rng.int(60);
    const more = rng.int(5);
    if (onset > extractDay) {
      out.censored++;
      continue;
    }
    const start = visits.ehrStart[i];
    const first = Math.max(onset, start);
    if (onset < start) {
      out.prevalent++;
      out.prevalentCarriers += carriers[i];
    } else {
      out.incident++;
      out.incidentCarriers += carriers[i];
    }
    const days = new Set<number>([first]);
    if (first + second <= extractDay) days.add(first + second);
    const after = first + second + 1;
    for (let k = 0; k < more && after <= extractDay; k++) days.add(after + rng.int(extractDay - after + 1));
    for (const d of [...days].sort((a, b) => a - b)) push(i, d, code(d));
  }
  return out;
}
