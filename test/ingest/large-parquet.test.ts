/**
 * A Parquet EHR table larger than DuckDB's streaming window (204,800 rows) is ingested whole: the
 * rows used to stream on the connection the appender writes to, and the stream ended silently
 * when the appender flushed, so a 4 M-row conditions file became 204,800 conditions.
 */
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { ingestInProcess, makeReleaseFolder, tempDir, testConfig } from './helpers.js';

describe('large Parquet EHR tables', () => {
  it('a 300,000-row conditions.parquet is ingested row for row', async () => {
    const { dir, manifestPath } = makeReleaseFolder({
      manifestPatch: { conditions: { path: 'conditions.parquet', format: 'parquet', idColumn: 'person_id' } },
    });
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(
      `COPY (SELECT (['HG00096', 'HG00097', 'NA12878'])[1 + i % 3] AS person_id,
                    'E11' || lpad((i % 10)::VARCHAR, 1, '0') AS code, 'ICD10CM' AS vocabulary,
                    DATE '2016-01-01' + (i % 3000)::INTEGER AS date
             FROM range(300000) t(i)) TO '${join(dir, 'conditions.parquet')}' (FORMAT parquet, ROW_GROUP_SIZE 65536)`,
    );
    conn.closeSync();
    db.closeSync();
    const data = tempDir('large-parquet');
    const config = testConfig(data);
    const result = await ingestInProcess(config, { manifestPath });
    const n = await withCompute(config, async (c) =>
      Number(
        (
          await c.runAndReadAll(
            `SELECT count(*) FROM read_parquet('${join(result.dataPath, 'conditions.parquet')}')`,
          )
        ).getRows()[0][0],
      ),
    );
    expect(result.nConditions).toBe(300000);
    expect(n).toBe(300000);
  }, 120_000);
});
