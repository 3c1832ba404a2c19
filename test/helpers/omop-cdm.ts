/** The synthetic release's EHR as OMOP CDM tables (for the OMOP ingest and release tests). */
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../../engine/duckdb.js';
import { writeOmopCdm } from '../../synth/omop.js';

/** Convert the synthetic release in `s` (persons.tsv, conditions.parquet, labs.csv) to CDM tables in `s/omop`. */
export function toCdm(conn: DuckDBConnection, s: string): Promise<void> {
  return writeOmopCdm(
    conn,
    {
      persons: `read_csv(${sqlString(join(s, 'persons.tsv'))}, delim='\t', header=true, nullstr='NA')`,
      conditions: `read_parquet(${sqlString(join(s, 'conditions.parquet'))})`,
      labs: `read_csv(${sqlString(join(s, 'labs.csv'))}, header=true, nullstr='NA')`,
    },
    join(s, 'omop'),
  );
}
