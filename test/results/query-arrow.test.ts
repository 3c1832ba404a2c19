import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { tableFromIPC } from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBiobank } from '../helpers/cli.js';

let dataDir = '';

function biobank(args: string[]) {
  return runBiobank(args, { BIOBANK_DATA_DIR: dataDir });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'biobank-arrow-'));
  const inst = await DuckDBInstance.create(join(dataDir, 'engine.duckdb'));
  const conn = await inst.connect();
  await conn.run(`CREATE TABLE hits AS SELECT * FROM (VALUES
      ('1:100:A:G', 100::BIGINT, 1.5e-9, true, 12),
      ('2:200:C:T', 9007199254740993::BIGINT, NULL, false, NULL),
      (NULL, 3::BIGINT, 0.5, NULL, 7)) t(variant_id, pos, p, ok, n)`);
  conn.closeSync();
  inst.closeSync();
});

describe('query to Arrow', () => {
  it('writes an Arrow IPC file with typed columns', async () => {
    const out = join(dataDir, 'hits.arrow');
    const r = await biobank(['query', 'SELECT * FROM hits ORDER BY pos', '--format', 'arrow', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('wrote 3 rows × 5 columns');
    const table = tableFromIPC(readFileSync(out));
    expect(table.numRows).toBe(3);
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'variant_id:Utf8',
      'pos:Int64',
      'p:Float64',
      'ok:Bool',
      'n:Int64',
    ]);
    expect(table.getChild('pos')?.toArray()).toEqual(BigInt64Array.from([3n, 100n, 9007199254740993n]));
    expect(table.getChild('variant_id')?.get(0)).toBeNull();
    expect(table.getChild('p')?.get(1)).toBe(1.5e-9);
    expect(table.getChild('p')?.get(2)).toBeNull();
    expect(table.getChild('ok')?.get(1)).toBe(true);
  });

  it('refuses --format arrow without --out (exit 2) and writes nothing', async () => {
    const r = await biobank(['query', 'SELECT 1', '--format', 'arrow']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--out FILE');
    expect(existsSync(join(dataDir, 'hits2.arrow'))).toBe(false);
  });
});
