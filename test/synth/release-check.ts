/**
 * Independent checks over a generated release folder: they read only the output files
 * (through DuckDB, bcftools and plink2), never the generator's internals.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { sqlString } from '../../engine/duckdb.js';
import { mapCsvPath } from '../../synth/phecodes.js';

export interface PhecodeCounts {
  cases: number;
  single: number;
}

/**
 * Per phecode 1.2 (`phecode_map.csv` joined to `phecode_rollup_map.csv` of `mapDir`):
 * persons with codes on ≥ 2 distinct dates (cases) and on exactly one date.
 */
export async function countPhecodes(
  releaseDir: string,
  mapDir: string,
  phecodes: string[],
): Promise<Map<string, PhecodeCounts & { casesIds: Set<string>; anyIds: Set<string> }>> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    const reader = await conn.runAndReadAll(
      `WITH m0 AS (SELECT * FROM read_csv(${sqlString(mapCsvPath(join(mapDir, 'phecode_map.csv')))}, header = true, all_varchar = true)),
            r AS (SELECT * FROM read_csv(${sqlString(mapCsvPath(join(mapDir, 'phecode_rollup_map.csv')))}, header = true, all_varchar = true)),
            m AS (SELECT DISTINCT m0.vocabulary_id, m0.code, r.phecode_unrolled AS phecode
                  FROM m0 JOIN r ON r.code = m0.phecode),
            c AS (SELECT * FROM read_parquet(${sqlString(join(releaseDir, 'conditions.parquet'))}))
       SELECT m.phecode, c.person_id, count(DISTINCT c.date)::INTEGER AS n
       FROM c JOIN m ON m.vocabulary_id = c.vocabulary AND m.code = c.code
       WHERE m.phecode IN (${phecodes.map(sqlString).join(', ')})
       GROUP BY ALL`,
    );
    const out = new Map(
      phecodes.map((p) => [
        p,
        { cases: 0, single: 0, casesIds: new Set<string>(), anyIds: new Set<string>() },
      ]),
    );
    for (const [phecode, person, n] of reader.getRows() as [string, string, number][]) {
      const e = out.get(phecode)!;
      e.anyIds.add(person);
      if (n >= 2) {
        e.cases++;
        e.casesIds.add(person);
      } else e.single++;
    }
    return out;
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** Run one SQL query over the release with DuckDB and return rows as objects. */
export async function query(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    const reader = await conn.runAndReadAll(sql, params as never);
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/** Read a plink2 whitespace table into objects keyed by header names (leading # dropped). */
export function readPlinkTable(path: string): Record<string, string>[] {
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const header = lines[0].replace(/^#/, '').split(/\s+/);
  return lines.slice(1).map((l) => {
    const f = l.split(/\s+/);
    return Object.fromEntries(header.map((h, i) => [h, f[i]]));
  });
}

/** λGC: median of χ² (1 df) over 0.4549. */
export function lambdaGc(chi2: number[]): number {
  const s = [...chi2].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return m / 0.4549364;
}
