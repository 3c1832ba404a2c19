/** The synthetic biobank's EHR as an OMOP CDM folder (tests, benchmarks, a demo of the OMOP path). */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../engine/duckdb.js';

export interface CdmSources {
  /** SQL relations with the canonical columns of the flat tables (persons, conditions, labs). */
  persons: string;
  conditions: string;
  labs?: string;
}

/**
 * Write the flat EHR tables (`P<7 digits>` person ids) as OMOP CDM v5.4 CSV files in `outDir`:
 * integer person ids (P0000017 → 17, the id kept as `person_source_value`), local concepts
 * (ids ≥ 2,000,000,000 are site-local in OMOP) for races, ICD codes, LOINC codes and units,
 * Gender concepts 8507/8532; one condition row in four carries only its undotted source value
 * (concept 0), as real CDM extracts do.
 */
export async function writeOmopCdm(conn: DuckDBConnection, src: CdmSources, outDir: string): Promise<void> {
  const out = (t: string) => sqlString(join(outDir, `${t}.csv`));
  const labs =
    src.labs ??
    `(SELECT NULL::VARCHAR AS person_id, NULL::VARCHAR AS name, NULL::VARCHAR AS loinc,
    NULL::DOUBLE AS value, NULL::VARCHAR AS unit, NULL::DATE AS date WHERE false)`;
  await conn.run(`CREATE OR REPLACE TEMP TABLE cdm_concepts AS
    SELECT 2000000000 + row_number() OVER (ORDER BY vocabulary_id, concept_code) AS concept_id, * FROM (
      SELECT DISTINCT ancestry AS concept_name, 'Race' AS vocabulary_id, ancestry AS concept_code FROM ${src.persons} WHERE ancestry IS NOT NULL
      UNION ALL SELECT DISTINCT code, vocabulary, code FROM ${src.conditions}
      UNION ALL SELECT DISTINCT name, 'LOINC', loinc FROM ${labs}
      UNION ALL SELECT DISTINCT unit, 'UCUM', unit FROM ${labs})`);
  const id = (vocab: string, code: string) =>
    `(SELECT concept_id FROM cdm_concepts WHERE vocabulary_id = ${vocab} AND concept_code = ${code})`;
  await conn.run(`COPY (
    SELECT concept_id, concept_name, vocabulary_id, concept_code FROM cdm_concepts
    UNION ALL SELECT * FROM (VALUES (8507, 'MALE', 'Gender', 'M'), (8532, 'FEMALE', 'Gender', 'F'))
  ) TO ${out('concept')} (HEADER)`);
  await conn.run(`COPY (
    SELECT CAST(substr(person_id, 2) AS BIGINT) AS person_id,
      CASE sex WHEN 'M' THEN 8507 WHEN 'F' THEN 8532 ELSE 0 END AS gender_concept_id,
      coalesce(birth_year, year(birth_date)) AS year_of_birth, month(birth_date) AS month_of_birth, day(birth_date) AS day_of_birth,
      coalesce(${id("'Race'", 'ancestry')}, 0) AS race_concept_id, person_id AS person_source_value
    FROM ${src.persons}) TO ${out('person')} (HEADER)`);
  await conn.run(`COPY (
    SELECT row_number() OVER () AS condition_occurrence_id, CAST(substr(person_id, 2) AS BIGINT) AS person_id,
      date AS condition_start_date,
      CASE WHEN hash(person_id, code, date) % 4 = 0 THEN replace(code, '.', '') ELSE code END AS condition_source_value,
      CASE WHEN hash(person_id, code, date) % 4 = 0 THEN 0 ELSE ${id('vocabulary', 'code')} END AS condition_source_concept_id
    FROM ${src.conditions}) TO ${out('condition_occurrence')} (HEADER)`);
  if (src.labs)
    await conn.run(`COPY (
      SELECT row_number() OVER () AS measurement_id, CAST(substr(person_id, 2) AS BIGINT) AS person_id,
        ${id("'LOINC'", 'loinc')} AS measurement_concept_id, date AS measurement_date, value AS value_as_number,
        ${id("'UCUM'", 'unit')} AS unit_concept_id
      FROM ${labs}) TO ${out('measurement')} (HEADER)`);
  await conn.run('DROP TABLE cdm_concepts');
}
