/**
 * Test fixtures for phenotyping: writes canonical release tables (docs/ARCHITECTURE.md) as
 * Parquet through DuckDB, from small JS arrays, and a throw-away config.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../../engine/duckdb.js';
import { shippedMapsDir } from '../../phenotype/maps.js';
import { type EngineConfig, loadConfig } from '../../temporal.config.js';

/** The public phecode maps shipped with the engine (`data/phecode`, gzip-compressed CSV). */
export const MAPS_12 = shippedMapsDir('1.2');
export const MAPS_X = shippedMapsDir('X');

export interface PersonRow {
  person_id: string;
  sex: 'M' | 'F' | 'U';
  birth_date?: string | null;
  birth_year?: number;
  ancestry?: string | null;
}
export type ConditionRow = [person: string, vocabulary: string, code: string, date: string | null];
export type MeasurementRow = [person: string, name: string, value: number, unit: string | null, date: string];

export async function testConfig(): Promise<EngineConfig> {
  const dataDir = await mkdtemp(join(tmpdir(), 'biobank-pheno-'));
  return loadConfig({ BIOBANK_DATA_DIR: dataDir, BIOBANK_DUCKDB_THREADS: '2', BIOBANK_DUCKDB_MEMORY: '2GB' });
}

async function jsonToParquet(
  conn: DuckDBConnection,
  rows: unknown[],
  columns: Record<string, string>,
  target: string,
) {
  const json = `${target}.json`;
  await writeFile(json, JSON.stringify(rows));
  const cols = `{${Object.entries(columns)
    .map(([k, v]) => `${sqlString(k)}: ${sqlString(v)}`)
    .join(', ')}}`;
  await conn.run(
    `COPY (SELECT * FROM read_json(${sqlString(json)}, format = 'array', columns = ${cols}))
     TO ${sqlString(target)} (FORMAT parquet)`,
  );
}

/** Write a release folder with persons, conditions, measurements and user tables. */
export async function writeRelease(
  conn: DuckDBConnection,
  dir: string,
  data: {
    persons: PersonRow[];
    conditions: ConditionRow[];
    measurements?: MeasurementRow[];
    tables?: Record<string, { columns: Record<string, string>; rows: Record<string, unknown>[] }>;
  },
): Promise<void> {
  await mkdir(join(dir, 'tables'), { recursive: true });
  await jsonToParquet(
    conn,
    data.persons.map((p) => ({
      person_id: p.person_id,
      sex: p.sex,
      birth_date: p.birth_date ?? null,
      birth_year: p.birth_year ?? (p.birth_date ? Number(p.birth_date.slice(0, 4)) : 1960),
      ancestry: p.ancestry ?? null,
    })),
    { person_id: 'VARCHAR', sex: 'VARCHAR', birth_date: 'DATE', birth_year: 'INTEGER', ancestry: 'VARCHAR' },
    join(dir, 'persons.parquet'),
  );
  await jsonToParquet(
    conn,
    data.conditions.map(([person_id, vocabulary, code, date]) => ({ person_id, code, vocabulary, date })),
    { person_id: 'VARCHAR', code: 'VARCHAR', vocabulary: 'VARCHAR', date: 'DATE' },
    join(dir, 'conditions.parquet'),
  );
  await jsonToParquet(
    conn,
    (data.measurements ?? []).map(([person_id, name, value, unit, date]) => ({
      person_id,
      name,
      loinc: null,
      value,
      unit,
      date,
    })),
    {
      person_id: 'VARCHAR',
      name: 'VARCHAR',
      loinc: 'VARCHAR',
      value: 'DOUBLE',
      unit: 'VARCHAR',
      date: 'DATE',
    },
    join(dir, 'measurements.parquet'),
  );
  for (const [name, t] of Object.entries(data.tables ?? {})) {
    await jsonToParquet(conn, t.rows, t.columns, join(dir, 'tables', `${name}.parquet`));
  }
}
