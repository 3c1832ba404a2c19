/**
 * Time to event from the EHR timeline, for the Cox PheWAS (`phewas.model: 'cox'`): per cohort
 * person the entry and exit of follow-up, and per person × phecode the time of the first code
 * and of the date the case rule is met. Computed in DuckDB from the release's `persons`,
 * `conditions` and (when the release has it) `measurements` Parquet and the loaded phecode map,
 * next to the phenome it belongs to (docs/phenotyping.md "Time to event" has the long form).
 *
 * Time is in years = days / 365.25 from the origin. Per person:
 * - **entry (enrolment) date**: the `survival.entry` date column when given, else the first
 *   dated EHR record (conditions and measurements);
 * - **exit date**: the earlier of the last dated EHR record and the cut-off — `survival.cutoff`,
 *   else the latest record date of the whole release. The release schema has no death date:
 *   death is censoring at the last record;
 * - **origin** (time 0): `birth` → entry = age at the entry date, exit = age at the exit date
 *   (age time scale, left truncation at entry); `enrolment` → entry = 0, exit = exit − entry
 *   date; a date column → t(d) = d − that date, entry = max(0, t(entry date)).
 * - birth date: `birth_date`, else 1 July of `birth_year` (mid-year: the expected birthday when
 *   only the year is known); a person with neither has no origin under `birth`;
 * - left out (entry and exit NULL, `reason`, checked in this order): `no_entry` (no entry date:
 *   no entry-column value when the column is given, else no dated record), `no_origin` (no
 *   origin date: a date-column origin without a value, or no birth date or year), `no_follow_up`
 *   (no dated record to end follow-up, or exit ≤ entry, e.g. an entry after the cut-off).
 *
 * Per person × phecode P with ≥ 1 dated code mapping to P (the phenome's mapping and rule:
 * distinct dates, same-day codes count once, rollup applied): `first_time` = t(first date),
 * `event_time` = t(the minCodeCount-th distinct date) — the date the case rule is first met —
 * or NULL below minCodeCount (persons left out as `no_origin` have no onset rows: no time scale).
 * Codes after the cut-off still count, as in the phenome; the Cox outcome (phewas/cox.ts)
 * censors at exit a case whose event is after exit (not an event), and excludes as **prevalent**
 * (counted) a case whose first code is on or before entry (the disease was there at entry).
 * Exclusion ranges and sex restrictions stay those of the phenome (the consumer applies them).
 *
 * A date column is `{ table, column }`: `persons` (persons.parquet) or an extra table
 * (`tables/<name>.parquet`); with several rows per person the earliest date counts. A missing
 * table or column, or a value that is not a date, is an InputError naming the file and field;
 * nothing is written. Output (idempotent, keyed on the settings, the maps and the release):
 * `<phenomeDir>/timeline-<key>/` with `timeline.parquet`, `onsets.parquet` and `info.json`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  DuckDBConnection,
  DuckDBDoubleVector,
  DuckDBIntegerVector,
  DuckDBVarCharVector,
} from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce, canonicalJson, exists, sha256Text } from '../engine/fsutil.js';
import type { PhecodeVersion } from '../schemas/phenotype.js';
import { type DateColumn, SURVIVAL_DEFAULTS, type SurvivalSpec } from '../schemas/study.js';
import { loadPhecodeMaps, mapsProvenance, mapTables } from './maps.js';
import { releaseTables } from './release.js';

export interface TimelineInput {
  releaseDir: string;
  /** A built phenome folder (phenotype/build.ts): its cohort.parquet gives person_idx. */
  phenomeDir: string;
  version: PhecodeVersion;
  mapsDir: string;
  minCodeCount: number;
  survival: SurvivalSpec | undefined;
}

export interface TimelineRef {
  dir: string;
  /** timeline.parquet: person_idx, entry, exit (NULL = left out), reason. */
  persons: string;
  /** onsets.parquet: phecode, person_idx, first_time, event_time (sorted by phecode, person_idx). */
  onsets: string;
  origin: 'birth' | 'enrolment' | 'column';
  /** The resolved cut-off date (ISO). */
  cutoff: string;
  nPersons: number;
  nFollowed: number;
  leftOut: Record<string, number>;
  personYears: number;
  reused: boolean;
}

/** Per analysis sample: follow-up and, per phecode, onsets (module comment). */
export interface Timeline {
  /** Years from the origin; NaN = left out. */
  entry: Float64Array;
  exit: Float64Array;
  /** Per phecode: the samples with a dated code (ascending) and their first / event times (NaN: below minCodeCount). */
  onsets: Map<string, { samples: Int32Array; first: Float64Array; event: Float64Array }>;
}

const YEAR = 365.25;

/** Table expression of a date column: (person_id, d DATE), the earliest per person. Checks it. */
async function dateColumn(
  conn: DuckDBConnection,
  releaseDir: string,
  col: DateColumn,
  field: string,
): Promise<string> {
  const rel = releaseTables(releaseDir);
  const file = col.table === 'persons' ? rel.persons : join(rel.tablesDir, `${col.table}.parquet`);
  if (!(await exists(file)))
    throw new InputError(`the release has no table '${col.table}'`, { file, field: `${field}.table` });
  const columns = (await conn.runAndReadAll(`SELECT name FROM parquet_schema(${sqlString(file)})`))
    .getRows()
    .map((r) => String(r[0]));
  if (!columns.includes('person_id'))
    throw new InputError(`table '${col.table}' has no person_id column`, { file, field: `${field}.table` });
  if (!columns.includes(col.column))
    throw new InputError(
      `no column '${col.column}' in table '${col.table}' (columns: ${columns.join(', ')})`,
      {
        file,
        field: `${field}.column`,
      },
    );
  const c = sqlIdent(col.column);
  const bad = (
    await conn.runAndReadAll(
      `SELECT CAST(person_id AS VARCHAR), CAST(${c} AS VARCHAR)
       FROM read_parquet(${sqlString(file)}, file_row_number = true)
       WHERE ${c} IS NOT NULL AND TRY_CAST(CAST(${c} AS VARCHAR) AS DATE) IS NULL
       ORDER BY file_row_number LIMIT 1`,
    )
  ).getRows()[0];
  if (bad)
    throw new InputError(
      `'${String(bad[1])}' (person ${String(bad[0])}) is not a date (YYYY-MM-DD) in column '${col.column}'`,
      { file, field: `${field}.column` },
    );
  return `(SELECT CAST(person_id AS VARCHAR) AS person_id, min(TRY_CAST(CAST(${c} AS VARCHAR) AS DATE)) AS d
           FROM read_parquet(${sqlString(file)}) WHERE ${c} IS NOT NULL GROUP BY 1)`;
}

/**
 * Named statements building temp tables: `_tl_rec` (person_id, first_d, last_d: dated records),
 * `_tl_persons` (person_idx, person_id, origin_d, entry, exit, reason) and `_tl_onsets`
 * (phecode, person_idx, first_time, event_time; parameter $1 = minCodeCount).
 */
const TIMELINE_SQL = {
  records: (conditions: string, measurements: string | null) => {
    const dated = (f: string) =>
      `SELECT CAST(person_id AS VARCHAR) AS person_id, TRY_CAST(date AS DATE) AS d FROM read_parquet(${sqlString(f)})`;
    return `CREATE OR REPLACE TEMP TABLE _tl_rec AS
      SELECT person_id, min(d) AS first_d, max(d) AS last_d
      FROM (${[conditions, ...(measurements ? [measurements] : [])].map(dated).join(' UNION ALL ')})
      WHERE d IS NOT NULL GROUP BY person_id`;
  },
  /** `least` skips NULLs in DuckDB: exit stays NULL without a record (→ no_follow_up). */
  persons: (o: {
    cohort: string;
    persons: string;
    cutoff: string;
    origin: NonNullable<SurvivalSpec['origin']>;
    entryCol: string | null;
    originCol: string | null;
  }) => {
    const t = (d: string) => `(date_diff('day', origin_d, ${d})::DOUBLE / ${YEAR})`;
    const originExpr =
      o.origin === 'birth'
        ? 'coalesce(TRY_CAST(e.birth_date AS DATE), make_date(e.birth_year, 7, 1))'
        : o.origin === 'enrolment'
          ? 'e.entry_d'
          : 'oc.d';
    return `CREATE OR REPLACE TEMP TABLE _tl_persons AS
    WITH p AS (
      SELECT c.person_idx, c.person_id, any_value(pp.birth_date) AS birth_date, any_value(pp.birth_year) AS birth_year
      FROM read_parquet(${sqlString(o.cohort)}) c
      LEFT JOIN read_parquet(${sqlString(o.persons)}) pp ON CAST(pp.person_id AS VARCHAR) = c.person_id
      GROUP BY c.person_idx, c.person_id
    ),
    e AS (
      SELECT p.*, ${o.entryCol ? 'ec.d' : 'r.first_d'} AS entry_d,
             CASE WHEN r.last_d IS NOT NULL THEN least(r.last_d, DATE ${sqlString(o.cutoff)}) END AS exit_d
      FROM p LEFT JOIN _tl_rec r ON r.person_id = p.person_id
      ${o.entryCol ? `LEFT JOIN ${o.entryCol} ec ON ec.person_id = p.person_id` : ''}
    ),
    tt AS (
      SELECT person_idx, person_id, origin_d, entry_d, exit_d,
             ${typeof o.origin === 'object' ? `greatest(0, ${t('entry_d')})` : t('entry_d')} AS entry0,
             ${t('exit_d')} AS exit0
      FROM (SELECT e.*, ${originExpr} AS origin_d FROM e
            ${o.originCol ? `LEFT JOIN ${o.originCol} oc ON oc.person_id = e.person_id` : ''})
    )
    SELECT person_idx, person_id, origin_d,
           CASE WHEN reason IS NULL THEN entry0 END AS entry,
           CASE WHEN reason IS NULL THEN exit0 END AS exit,
           reason
    FROM (
      SELECT *, CASE WHEN entry_d IS NULL THEN 'no_entry'
                     WHEN origin_d IS NULL THEN 'no_origin'
                     WHEN exit_d IS NULL OR exit0 <= entry0 THEN 'no_follow_up' END AS reason
      FROM tt
    )`;
  },
  /** The phenome's distinct (person, phecode, date) after the rolled-up map, ranked by date. */
  onsets: (conditions: string, map: string) => `
    CREATE OR REPLACE TEMP TABLE _tl_onsets AS
    WITH d AS (
      SELECT DISTINCT p.person_idx, m.phecode, TRY_CAST(c.date AS DATE) AS d, p.origin_d
      FROM read_parquet(${sqlString(conditions)}) c
      JOIN _tl_persons p ON p.person_id = CAST(c.person_id AS VARCHAR)
      JOIN ${map} m ON m.vocabulary = c.vocabulary AND m.code = c.code
      WHERE TRY_CAST(c.date AS DATE) IS NOT NULL AND p.origin_d IS NOT NULL
    ),
    r AS (SELECT *, row_number() OVER (PARTITION BY person_idx, phecode ORDER BY d) AS k FROM d)
    SELECT phecode, person_idx,
           any_value(date_diff('day', origin_d, d)::DOUBLE / ${YEAR}) FILTER (WHERE k = 1) AS first_time,
           any_value(date_diff('day', origin_d, d)::DOUBLE / ${YEAR}) FILTER (WHERE k = $1) AS event_time
    FROM r GROUP BY phecode, person_idx`,
};

/** Build (or reuse) the timeline of a phenome. `conn` is a compute connection. */
export async function buildTimeline(conn: DuckDBConnection, input: TimelineInput): Promise<TimelineRef> {
  if (!Number.isInteger(input.minCodeCount) || input.minCodeCount < 1)
    throw new InputError(`minCodeCount must be a whole number ≥ 1, not ${input.minCodeCount}`, {
      field: 'phewas.minCodeCount',
    });
  const rel = releaseTables(input.releaseDir);
  const cohortPath = join(input.phenomeDir, 'cohort.parquet');
  for (const p of [rel.persons, rel.conditions, cohortPath])
    if (!(await exists(p))) throw new InputError('table not found', { file: p });
  const s = input.survival ?? {};
  const origin = s.origin ?? SURVIVAL_DEFAULTS.origin;
  const originKind: TimelineRef['origin'] = typeof origin === 'string' ? origin : 'column';
  // The key needs the maps' hashes only; they are loaded when the timeline is built.
  const maps = await mapsProvenance(input.mapsDir, input.version);
  const hasMeasurements = await exists(rel.measurements);
  const key = sha256Text(
    canonicalJson({
      origin,
      entry: s.entry ?? null,
      cutoff: s.cutoff ?? null,
      min: input.minCodeCount,
      version: input.version,
      maps: maps.files.map((f) => f.sha256),
      release: rel.dir,
      measurements: hasMeasurements,
      format: 2,
    }),
  ).slice(0, 12);
  const dir = join(input.phenomeDir, `timeline-${key}`);
  const files = { persons: join(dir, 'timeline.parquet'), onsets: join(dir, 'onsets.parquet') };
  const infoPath = join(dir, 'info.json');
  if (await exists(infoPath)) {
    const info = JSON.parse(await readFile(infoPath, 'utf8')) as TimelineRef;
    return { ...info, ...files, dir, reused: true };
  }

  // Checks first (they throw before anything is written).
  const entryCol = s.entry
    ? await dateColumn(conn, input.releaseDir, s.entry, 'phewas.survival.entry')
    : null;
  const originCol =
    typeof origin === 'object'
      ? await dateColumn(conn, input.releaseDir, origin, 'phewas.survival.origin')
      : null;

  try {
    await conn.run(TIMELINE_SQL.records(rel.conditions, hasMeasurements ? rel.measurements : null));
    const cutoff =
      s.cutoff ??
      String(
        (await conn.runAndReadAll(`SELECT strftime(max(last_d), '%Y-%m-%d') FROM _tl_rec`)).getRows()[0][0] ??
          '1970-01-01',
      );
    await conn.run(
      TIMELINE_SQL.persons({ cohort: cohortPath, persons: rel.persons, cutoff, origin, entryCol, originCol }),
    );
    await loadPhecodeMaps(conn, input.mapsDir, input.version);
    await conn.run(TIMELINE_SQL.onsets(rel.conditions, mapTables(input.version).map), [input.minCodeCount]);
    return await writeTimeline(conn, dir, files, originKind, cutoff);
  } finally {
    for (const tbl of ['_tl_rec', '_tl_persons', '_tl_onsets']) await conn.run(`DROP TABLE IF EXISTS ${tbl}`);
  }
}

/** Write the temp tables `_tl_persons` and `_tl_onsets` to `dir` (atomically) with info.json. */
async function writeTimeline(
  conn: DuckDBConnection,
  dir: string,
  files: Pick<TimelineRef, 'persons' | 'onsets'>,
  origin: TimelineRef['origin'],
  cutoff: string,
): Promise<TimelineRef> {
  const sizes = (
    await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n, count(entry)::INTEGER AS followed,
       coalesce(sum(exit - entry), 0)::DOUBLE AS py FROM _tl_persons`)
  ).getRowObjectsJS()[0];
  const reasons = (
    await conn.runAndReadAll(
      'SELECT reason, count(*)::INTEGER FROM _tl_persons WHERE reason IS NOT NULL GROUP BY 1 ORDER BY 1',
    )
  ).getRows();
  await mkdir(join(dir, '..'), { recursive: true });
  return atomicProduce(dir, async (tmp) => {
    await mkdir(tmp, { recursive: true });
    await conn.run(
      `COPY (SELECT person_idx, entry, exit, reason FROM _tl_persons ORDER BY person_idx)
       TO ${sqlString(join(tmp, 'timeline.parquet'))} (FORMAT parquet, COMPRESSION zstd)`,
    );
    await conn.run(
      `COPY (SELECT phecode, person_idx, first_time, event_time FROM _tl_onsets ORDER BY phecode, person_idx)
       TO ${sqlString(join(tmp, 'onsets.parquet'))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)`,
    );
    const ref: TimelineRef = {
      dir,
      ...files,
      origin,
      cutoff,
      nPersons: Number(sizes.n),
      nFollowed: Number(sizes.followed),
      leftOut: Object.fromEntries(reasons.map((r) => [String(r[0]), Number(r[1])])),
      personYears: Number(sizes.py),
      reused: false,
    };
    await writeFile(join(tmp, 'info.json'), `${JSON.stringify(ref, null, 2)}\n`);
    return ref;
  });
}

/** Rows per phecode the loader's packed sort key allows (2^24). */
const ROW_SPAN = 16_777_216;

/** Growable per-phecode columns of the loader; `finish` sorts them by sample. */
class OnsetBuilder {
  n = 0;
  samples = new Int32Array(16);
  first = new Float64Array(16);
  event = new Float64Array(16);
  sorted = true;

  push(sample: number, first: number | null, event: number | null) {
    if (this.n === this.samples.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T, make: (k: number) => T) => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.samples = grow(this.samples, (k) => new Int32Array(k));
      this.first = grow(this.first, (k) => new Float64Array(k));
      this.event = grow(this.event, (k) => new Float64Array(k));
    }
    if (this.n > 0 && sample < this.samples[this.n - 1]) this.sorted = false;
    this.samples[this.n] = sample;
    this.first[this.n] = first ?? Number.NaN;
    this.event[this.n] = event ?? Number.NaN;
    this.n++;
  }

  finish(): { samples: Int32Array; first: Float64Array; event: Float64Array } {
    const { n } = this;
    if (this.sorted)
      return {
        samples: this.samples.slice(0, n),
        first: this.first.slice(0, n),
        event: this.event.slice(0, n),
      };
    // sort (sample, row) pairs packed in one float (exact: sample < 2^29, row < 2^24) natively
    const order = new Float64Array(n);
    if (n < ROW_SPAN) {
      for (let k = 0; k < n; k++) order[k] = this.samples[k] * ROW_SPAN + k;
      order.sort();
      for (let j = 0; j < n; j++) order[j] %= ROW_SPAN;
    } else {
      for (let k = 0; k < n; k++) order[k] = k;
      order.sort((a, b) => this.samples[a] - this.samples[b]);
    }
    const out = { samples: new Int32Array(n), first: new Float64Array(n), event: new Float64Array(n) };
    for (let j = 0; j < n; j++) {
      const k = order[j];
      out.samples[j] = this.samples[k];
      out.first[j] = this.first[k];
      out.event[j] = this.event[k];
    }
    return out;
  }
}

/**
 * The timeline per analysis sample: `personIdxOfSample[i]` is the cohort person_idx of sample i
 * (-1: none). Reads each Parquet file once, chunk by chunk, in file order (no sort in DuckDB);
 * each phecode's rows are sorted by sample here (the file is in person_idx order, which the
 * samples need not follow).
 */
export async function loadTimeline(
  conn: DuckDBConnection,
  ref: Pick<TimelineRef, 'persons' | 'onsets'>,
  personIdxOfSample: Int32Array,
): Promise<Timeline> {
  const n = personIdxOfSample.length;
  let maxIdx = -1;
  for (const p of personIdxOfSample) if (p > maxIdx) maxIdx = p;
  const sampleOf = new Int32Array(maxIdx + 1).fill(-1);
  personIdxOfSample.forEach((p, i) => {
    if (p >= 0) sampleOf[p] = i;
  });
  const entry = new Float64Array(n).fill(Number.NaN);
  const exit = new Float64Array(n).fill(Number.NaN);
  const persons = await conn.stream(
    `SELECT person_idx::INTEGER, entry::DOUBLE, exit::DOUBLE FROM read_parquet(${sqlString(ref.persons)})`,
  );
  for (let ch = await persons.fetchChunk(); ch && ch.rowCount > 0; ch = await persons.fetchChunk()) {
    const pi = ch.getColumnVector(0) as DuckDBIntegerVector;
    const en = ch.getColumnVector(1) as DuckDBDoubleVector;
    const ex = ch.getColumnVector(2) as DuckDBDoubleVector;
    for (let r = 0; r < ch.rowCount; r++) {
      const p = pi.getItem(r) as number;
      const i = p <= maxIdx ? sampleOf[p] : -1;
      if (i < 0) continue;
      const a = en.getItem(r);
      const b = ex.getItem(r);
      entry[i] = a === null ? Number.NaN : a;
      exit[i] = b === null ? Number.NaN : b;
    }
  }
  const builders = new Map<string, OnsetBuilder>();
  const rows = await conn.stream(
    `SELECT phecode, person_idx::INTEGER, first_time::DOUBLE, event_time::DOUBLE
     FROM read_parquet(${sqlString(ref.onsets)}) WHERE person_idx <= ${maxIdx}`,
  );
  let cur: string | null = null;
  let b: OnsetBuilder | undefined;
  for (let ch = await rows.fetchChunk(); ch && ch.rowCount > 0; ch = await rows.fetchChunk()) {
    const ph = ch.getColumnVector(0) as DuckDBVarCharVector;
    const pi = ch.getColumnVector(1) as DuckDBIntegerVector;
    const ft = ch.getColumnVector(2) as DuckDBDoubleVector;
    const et = ch.getColumnVector(3) as DuckDBDoubleVector;
    for (let r = 0; r < ch.rowCount; r++) {
      const i = sampleOf[pi.getItem(r) as number];
      if (i < 0) continue;
      const code = ph.getItem(r) as string;
      if (code !== cur || b === undefined) {
        cur = code;
        b = builders.get(code);
        if (b === undefined) {
          b = new OnsetBuilder();
          builders.set(code, b);
        }
      }
      b.push(i, ft.getItem(r), et.getItem(r));
    }
  }
  const onsets: Timeline['onsets'] = new Map();
  for (const [code, builder] of builders) onsets.set(code, builder.finish());
  return { entry, exit, onsets };
}
