/**
 * Synthetic EHR tables for the phenotype benchmarks (bench/phenome.ts, bench/phewas.ts):
 * `persons.parquet` and `conditions.parquet` of a release folder, generated in SQL from hashes
 * of the person index, so a run is deterministic and needs no random state in JS.
 *
 * - person i: id `P` + 7 digits, sex M 49 % / F 50 % / U 1 %, birth date over 1930–1998;
 * - records: person i gets a uniform 0..2·`recordsPerPerson` records whose codes are drawn from
 *   the real map's ICD codes with a skewed frequency (code rank ∝ u³, so a few codes are common
 *   and most are rare), dated over 2010–2019;
 * - `datesPerCode` > 1: each drawn code is recorded on 1..datesPerCode dates (uniform), as a
 *   chronic condition seen at several visits; then `recordsPerPerson` counts distinct code
 *   draws. With 1 (default) every record is an independent draw;
 * - `extraRecords`: an optional SELECT of (person_id, code, vocabulary, date) appended to the
 *   conditions (planted associations).
 *
 * The maps are the public ones shipped in data/phecode.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';
import { mapFilePath, shippedMapsDir } from '../phenotype/maps.js';

export type BenchPhecodeVersion = '1.2' | 'X';

/** The public maps of `version` shipped with the engine (data/phecode). */
export function shippedMaps(version: BenchPhecodeVersion): string {
  return shippedMapsDir(version);
}

/** SQL expression of the person id of person index `i` (an SQL expression). */
export function personIdSql(i: string): string {
  return `'P' || lpad((${i})::VARCHAR, 7, '0')`;
}

export interface SynthEhrOptions {
  releaseDir: string;
  mapsDir: string;
  version: BenchPhecodeVersion;
  persons: number;
  recordsPerPerson: number;
  /** Dates per drawn code: 1..datesPerCode (default 1). */
  datesPerCode?: number;
  /** SELECT person_id, code, vocabulary, date … appended to the conditions. */
  extraRecords?: string;
}

/** Write persons.parquet and conditions.parquet into `releaseDir`; returns the record count. */
export async function synthesiseEhr(conn: DuckDBConnection, o: SynthEhrOptions): Promise<number> {
  const mapFile = mapFilePath(
    o.mapsDir,
    o.version === 'X' ? 'phecodeX_R_map.csv' : 'phecode_map.csv',
  ) as string;
  await conn.run(`CREATE OR REPLACE TEMP TABLE codes AS
    SELECT row_number() OVER (ORDER BY hash(code)) - 1 AS i, vocabulary, code FROM (
      SELECT DISTINCT upper(trim(vocabulary_id)) AS vocabulary, upper(trim(code)) AS code
      FROM read_csv(${sqlString(mapFile)}, all_varchar = true))`);
  const nCodes = Number((await conn.runAndReadAll('SELECT count(*) AS n FROM codes')).getRowObjectsJS()[0].n);
  await mkdir(o.releaseDir, { recursive: true });
  await conn.run(
    `COPY (SELECT ${personIdSql('i')} AS person_id,
                  CASE WHEN hash(i, 1) % 100 < 49 THEN 'M' WHEN hash(i, 1) % 100 < 99 THEN 'F' ELSE 'U' END AS sex,
                  DATE '1930-01-01' + (hash(i, 2) % 25000)::INTEGER AS birth_date,
                  NULL::INTEGER AS birth_year, 'EUR' AS ancestry
           FROM range(${o.persons}) t(i))
     TO ${sqlString(join(o.releaseDir, 'persons.parquet'))} (FORMAT parquet)`,
  );
  const per = o.recordsPerPerson;
  const dates = o.datesPerCode ?? 1;
  // k = the person's draw; d = the visit of a drawn code (only d = 0 when datesPerCode is 1)
  const visits =
    dates > 1
      ? `, LATERAL (SELECT unnest(range(1 + (hash(p.i, k, 6) % ${dates})::BIGINT)) AS d)`
      : ', (SELECT 0 AS d)';
  await conn.run(
    `COPY (
       WITH r AS (
         SELECT p.i AS pi, k, d FROM range(${o.persons}) p(i),
              LATERAL (SELECT unnest(range((hash(p.i, 3) % ${2 * per + 1})::BIGINT)) AS k)${visits}
       )
       SELECT ${personIdSql('r.pi')} AS person_id, c.code, c.vocabulary,
              DATE '2010-01-01' + (CASE WHEN r.d = 0 THEN hash(r.pi, r.k, 5) ELSE hash(r.pi, r.k, r.d, 5) END % 3650)::INTEGER AS date
       FROM r JOIN codes c ON c.i = floor(${nCodes} * pow((hash(r.pi, r.k, 4) % 1000000) / 1000000.0, 3))::BIGINT
       ${o.extraRecords ? `UNION ALL (${o.extraRecords})` : ''}
     ) TO ${sqlString(join(o.releaseDir, 'conditions.parquet'))} (FORMAT parquet, ROW_GROUP_SIZE 122880)`,
  );
  await conn.run('DROP TABLE codes');
  return Number(
    (
      await conn.runAndReadAll(
        `SELECT count(*)::BIGINT AS n FROM read_parquet(${sqlString(join(o.releaseDir, 'conditions.parquet'))})`,
      )
    ).getRowObjectsJS()[0].n,
  );
}
