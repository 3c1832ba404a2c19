/**
 * The phenome: case / control / excluded status of every cohort person for every phecode,
 * computed in DuckDB from the release's `conditions` and `persons` Parquet and a loaded
 * phecode map (`loadPhecodeMaps`).
 *
 * Rules, per phecode P (docs/phenotyping.md has the long form):
 * - **count(person, P)** = number of distinct dates on which the person has any code that
 *   maps to P after rollup. Same-day codes count once, whatever their vocabulary (an ICD-9-CM
 *   and an ICD-10-CM code on one day are one date). Records without a date are not counted.
 * - **case**: count ≥ minCodeCount (default 2) and the sex restriction is met.
 * - **excluded** (reason bits):
 *   1 = 0 < count < minCodeCount;
 *   2 = exclusions on (default for 1.2) and the person has (count ≥ 1) a phecode in P's
 *       exclusion set (`phecode_exclude.code = P`) and is not a case;
 *   4 = P is male-only and the person's sex is not 'M', or female-only and not 'F' (unknown
 *       sex is excluded from sex-restricted phecodes). This overrides case status.
 * - **control**: every other cohort person, including persons without any code.
 * - phecodeX ships no exclusion ranges: only bits 1 and 4 apply (as in PheTK).
 *
 * Stored form (see `writePhenomeParquet`): one row per phecode holding the sorted cohort
 * indexes of its cases and of its excluded persons; controls are implicit (every other
 * cohort person). Reading one phecode reads one row; `phecodeStatusSql` expands it.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import type { PhecodeVersion } from '../schemas/phenotype.js';
import { mapTables } from './maps.js';

export const REASON = { belowMinCount: 1, exclusionRange: 2, sexMismatch: 4 } as const;

export interface PhenomeOptions {
  version: PhecodeVersion;
  /** Distinct code dates needed for a case. Default 2. */
  minCodeCount?: number;
  /** Apply the 1.2 exclusion ranges. Default true for 1.2; ignored (none exist) for X. */
  exclusions?: boolean;
}

/** Release tables the phenome reads (Parquet paths the engine resolved). */
export interface PhenomeInputs {
  conditions: string;
  persons: string;
  /**
   * Optional name of a table or view in the connection with column `person_id`: the cohort.
   * Default: every person in `persons`.
   */
  cohortTable?: string;
}

export function resolveOptions(o: PhenomeOptions): Required<PhenomeOptions> {
  const minCodeCount = o.minCodeCount ?? 2;
  if (!Number.isInteger(minCodeCount) || minCodeCount < 1)
    throw new RangeError('minCodeCount must be an integer >= 1');
  return {
    version: o.version,
    minCodeCount,
    exclusions: o.version === '1.2' ? (o.exclusions ?? true) : false,
  };
}

/**
 * Named statements: build temp tables `_ph_cohort` (person_idx, person_id, sex),
 * `_ph_counts` (person_idx, phecode, n_dates) and `_ph_bits` (phecode, n_cases, n_excluded,
 * cases BIT, excluded BIT). Bit i of `cases`/`excluded` is cohort person `person_idx = i`.
 *
 * The rules as set algebra per phecode P (`has_q` = persons with count ≥ 1 for q):
 *   case0 = count ≥ min;  sexbad = non-males for male-only P, non-females for female-only P;
 *   range = OR of has_q over q in P's exclusion set (1.2 with exclusions on; else empty);
 *   cases = case0 AND NOT sexbad;
 *   excluded = ((has_P AND NOT case0) OR range OR sexbad) AND NOT cases.
 * Bitsets keep the exclusion ranges (≈16 phecodes each) from multiplying rows: the cost is
 * one OR of |cohort|/8 bytes per exclusion pair instead of one row per person and pair.
 * Parameters of the bits statement: $1 = minCodeCount, $2 = exclusions on.
 */
const PHENOME_SQL = {
  cohort: (persons: string, cohortTable?: string) => `
    CREATE OR REPLACE TEMP TABLE _ph_cohort AS
    SELECT (row_number() OVER (ORDER BY person_id) - 1)::INTEGER AS person_idx, person_id, sex FROM (
      SELECT person_id, any_value(sex) AS sex FROM read_parquet(${sqlString(persons)})
      ${cohortTable ? `WHERE person_id IN (SELECT person_id FROM ${cohortTable})` : ''}
      GROUP BY person_id)`,
  counts: (conditions: string, map: string) => `
    CREATE OR REPLACE TEMP TABLE _ph_counts AS
    SELECT p.person_idx, m.phecode, count(DISTINCT c.date)::INTEGER AS n_dates
    FROM read_parquet(${sqlString(conditions)}) c
    JOIN _ph_cohort p ON p.person_id = c.person_id
    JOIN ${map} m ON m.vocabulary = c.vocabulary AND m.code = c.code
    WHERE c.date IS NOT NULL
    GROUP BY p.person_idx, m.phecode`,
  /** `hi` = cohort size − 1, an integer the engine computed (bitstring_agg needs constants). */
  bits: (t: ReturnType<typeof mapTables>, hi: number) => `
    CREATE OR REPLACE TEMP TABLE _ph_bits AS
    WITH zero AS (SELECT bitstring('0', ${hi + 1}) AS z),
    has AS (SELECT phecode, bitstring_agg(person_idx, 0, ${hi}) AS b FROM _ph_counts GROUP BY phecode),
    cas AS (
      SELECT phecode, bitstring_agg(person_idx, 0, ${hi}) AS b FROM _ph_counts WHERE n_dates >= $1 GROUP BY phecode
    ),
    rng AS (
      SELECT e.phecode, bit_or(h.b) AS b FROM ${t.exclude} e JOIN has h ON h.phecode = e.excl
      WHERE $2::BOOLEAN GROUP BY e.phecode
    ),
    sexes AS (
      SELECT coalesce(bitstring_agg(person_idx, 0, ${hi}) FILTER (WHERE sex IS DISTINCT FROM 'M'), any_value(z)) AS not_m,
             coalesce(bitstring_agg(person_idx, 0, ${hi}) FILTER (WHERE sex IS DISTINCT FROM 'F'), any_value(z)) AS not_f
      FROM _ph_cohort, zero
    ),
    ph AS (SELECT phecode FROM has UNION SELECT phecode FROM rng UNION SELECT phecode FROM ${t.sex}),
    parts AS (
      SELECT ph.phecode, coalesce(c.b, z) AS case0, coalesce(h.b, z) AS has, coalesce(r.b, z) AS rng,
             CASE WHEN s.male_only THEN not_m WHEN s.female_only THEN not_f ELSE z END AS sexbad
      FROM ph LEFT JOIN cas c USING (phecode) LEFT JOIN has h USING (phecode) LEFT JOIN rng r USING (phecode)
      LEFT JOIN ${t.sex} s USING (phecode) CROSS JOIN sexes CROSS JOIN zero
    ),
    sets AS (
      SELECT phecode, case0 & ~sexbad AS cases, ((has & ~case0) | rng | sexbad) & ~(case0 & ~sexbad) AS excluded
      FROM parts
    )
    SELECT phecode, bit_count(cases)::INTEGER AS n_cases, bit_count(excluded)::INTEGER AS n_excluded, cases, excluded
    FROM sets ORDER BY phecode`,
};

/**
 * Compute the phenome into temp tables `_ph_cohort`, `_ph_counts`, `_ph_bits` of `conn`.
 * Returns the resolved options and the cohort size.
 */
export async function computePhenome(conn: DuckDBConnection, inputs: PhenomeInputs, options: PhenomeOptions) {
  const o = resolveOptions(options);
  const t = mapTables(o.version);
  await conn.run(PHENOME_SQL.cohort(inputs.persons, inputs.cohortTable));
  const n = Number(
    (await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM _ph_cohort')).getRowObjectsJS()[0].n,
  );
  if (n === 0) throw new InputError('the cohort is empty: no person to phenotype', { file: inputs.persons });
  await conn.run(PHENOME_SQL.counts(inputs.conditions, t.map));
  await conn.run(PHENOME_SQL.bits(t, n - 1), [o.minCodeCount, o.exclusions]);
  return { ...o, nPersons: n };
}

/**
 * Named statement: per-phecode counts over every phecode of the version (phecodes without any
 * case included), for the counts table
 * `(release_id, phecode_version, phecode, n_cases, n_controls, n_excluded)`.
 * $1 = release id, $2 = version.
 */
export function countsSql(version: PhecodeVersion): string {
  const t = mapTables(version);
  return `
    WITH n AS (SELECT count(*)::BIGINT AS n FROM _ph_cohort),
    phecodes AS (SELECT phecode FROM ${t.info} UNION SELECT DISTINCT phecode FROM ${t.map})
    SELECT $1::VARCHAR AS release_id, $2::VARCHAR AS phecode_version, p.phecode,
           coalesce(s.n_cases, 0)::BIGINT AS n_cases,
           (n.n - coalesce(s.n_cases, 0) - coalesce(s.n_excluded, 0))::BIGINT AS n_controls,
           coalesce(s.n_excluded, 0)::BIGINT AS n_excluded
    FROM phecodes p CROSS JOIN n LEFT JOIN _ph_bits s USING (phecode)`;
}

/**
 * Write the materialised phenome from the temp tables (paths are temp paths):
 * - `phenome.parquet`: one row per phecode with a case or an exclusion —
 *   `phecode VARCHAR, n_cases INTEGER, n_excluded INTEGER, cases VARCHAR, excluded VARCHAR`.
 *   `cases`/`excluded` are DuckDB BIT strings in text form, one character per cohort person:
 *   character i (0-based) is '1' when the person with `person_idx = i` is in the set. In SQL
 *   `get_bit(cases::BIT, person_idx)`; in JS `cases.charCodeAt(i) === 49`. Controls are the
 *   cohort persons in neither set. A phecode without a row has no case and no exclusion.
 * - `cohort.parquet`: `person_idx INTEGER, person_id VARCHAR, sex VARCHAR`;
 * - `code_counts.parquet`: `person_idx INTEGER, phecode VARCHAR, n_dates INTEGER` (every
 *   person × phecode with at least one dated code, after rollup);
 * - `counts.parquet`: the counts table over every phecode of the version.
 */
export async function writePhenomeParquet(
  conn: DuckDBConnection,
  paths: { phenome: string; cohort: string; counts: string; codeCounts: string },
  releaseId: string,
  version: PhecodeVersion,
): Promise<void> {
  await conn.run(
    // `_ph_bits` is created sorted by phecode (a few thousand rows: one row group, scanned in
    // order). An ORDER BY here would sort the 100 kB text forms and exhaust memory.
    `COPY (SELECT phecode, n_cases, n_excluded, cases::VARCHAR AS cases, excluded::VARCHAR AS excluded
           FROM _ph_bits)
     TO ${sqlString(paths.phenome)} (FORMAT parquet, ROW_GROUP_SIZE 32, COMPRESSION zstd)`,
  );
  await conn.run(
    `COPY (SELECT person_idx, person_id, sex FROM _ph_cohort ORDER BY person_idx)
     TO ${sqlString(paths.cohort)} (FORMAT parquet)`,
  );
  await conn.run(
    `COPY (SELECT person_idx, phecode, n_dates FROM _ph_counts)
     TO ${sqlString(paths.codeCounts)} (FORMAT parquet, COMPRESSION zstd)`,
  );
  await conn.run(`CREATE OR REPLACE TEMP TABLE _ph_phecode_counts AS ${countsSql(version)}`, [
    releaseId,
    version,
  ]);
  await conn.run(
    `COPY (SELECT * FROM _ph_phecode_counts ORDER BY phecode) TO ${sqlString(paths.counts)} (FORMAT parquet)`,
  );
}

/**
 * Named statement: the status ('case' | 'control' | 'excluded') of every cohort person for one
 * phecode, controls explicit. `bits` and `cohort` are table expressions: the temp tables
 * (`_ph_bits`, `_ph_cohort`) or a stored phenome (`phenomeSources`). $1 = phecode.
 */
export function phecodeStatusSql(bits: string, cohort: string): string {
  return `
    WITH p AS (SELECT cases::BIT AS cases, excluded::BIT AS excluded FROM ${bits} WHERE phecode = $1)
    SELECT c.person_idx, c.person_id,
           CASE WHEN p.cases IS NULL THEN 'control'
                WHEN get_bit(p.cases, c.person_idx) = 1 THEN 'case'
                WHEN get_bit(p.excluded, c.person_idx) = 1 THEN 'excluded'
                ELSE 'control' END AS status
    FROM ${cohort} c LEFT JOIN p ON true`;
}

/** Table expressions of a stored phenome, for `phecodeStatusSql`. */
export function phenomeSources(phenomePath: string, cohortPath: string): [string, string] {
  return [`read_parquet(${sqlString(phenomePath)})`, `read_parquet(${sqlString(cohortPath)})`];
}

/** Codes of the release that map to no phecode of the version: totals and the top codes. */
export interface UnmappedReport {
  distinctCodes: number;
  records: number;
  top: { vocabulary: string; code: string; records: number; persons: number }[];
}

/** Named statement: conditions whose (vocabulary, code) has no phecode in the loaded map. */
export async function unmappedCodes(
  conn: DuckDBConnection,
  conditionsPath: string,
  version: PhecodeVersion,
  limit = 20,
): Promise<UnmappedReport> {
  const t = mapTables(version);
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _ph_unmapped AS
     SELECT c.vocabulary, c.code, count(*)::BIGINT AS records, count(DISTINCT c.person_id)::BIGINT AS persons
     FROM read_parquet(${sqlString(conditionsPath)}) c
     WHERE NOT EXISTS (SELECT 1 FROM ${t.map} m WHERE m.vocabulary = c.vocabulary AND m.code = c.code)
     GROUP BY c.vocabulary, c.code`,
  );
  const tot = (
    await conn.runAndReadAll(
      'SELECT count(*)::INTEGER AS d, coalesce(sum(records), 0)::BIGINT AS r FROM _ph_unmapped',
    )
  ).getRowObjectsJS()[0];
  const top = (
    await conn.runAndReadAll(
      `SELECT vocabulary, code, records::INTEGER AS records, persons::INTEGER AS persons FROM _ph_unmapped
       ORDER BY records DESC, vocabulary, code LIMIT $1`,
      [limit],
    )
  ).getRowObjectsJS() as UnmappedReport['top'];
  await conn.run('DROP TABLE IF EXISTS _ph_unmapped');
  return { distinctCodes: Number(tot.d), records: Number(tot.r), top };
}
