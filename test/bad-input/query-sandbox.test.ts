/**
 * `biobank query` is read-only for real (issue 18 §1): every write path is refused with exit 2
 * naming the statement type, nothing is written anywhere, and the engine database is
 * byte-identical afterwards. Reads, DESCRIBE/SHOW/SUMMARIZE/EXPLAIN and read_parquet() inside the
 * data folder still work; a syntax error is bad input (exit 2).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBiobank } from '../helpers/cli.js';

let dataDir = '';
let outside = '';
let db = '';

function biobank(args: string[]) {
  return runBiobank(args, { BIOBANK_DATA_DIR: dataDir });
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'biobank-sandbox-'));
  outside = await mkdtemp(join(tmpdir(), 'biobank-outside-'));
  db = join(dataDir, 'engine.duckdb');
  const inst = await DuckDBInstance.create(db);
  const conn = await inst.connect();
  await conn.run(`CREATE TABLE runs AS SELECT 'r1' AS run_id, 'completed' AS status`);
  const part = join(dataDir, 'runs', 'r1', 'gwas', 'phenotype=LDL', 'chrom=1');
  await mkdir(part, { recursive: true });
  await conn.run(`COPY (SELECT 1 AS pos, 1e-9 AS p) TO '${join(part, 'part-0.parquet')}' (FORMAT parquet)`);
  conn.closeSync();
  inst.closeSync();
});

describe('biobank query sandbox', () => {
  it('refuses every write path with exit 2 naming the statement type, and changes nothing', async () => {
    const before = sha(db);
    const part = join(dataDir, 'runs', 'r1', 'gwas', 'phenotype=LDL', 'chrom=1', 'fake.parquet');
    const cases: [string, RegExp][] = [
      [`COPY (SELECT 1) TO '${join(outside, 'x.csv')}'`, /COPY|Permission/],
      [`COPY (SELECT 1 AS pos, 0 AS p) TO '${part}' (FORMAT parquet)`, /COPY statements are not allowed/],
      [
        `ATTACH '${join(outside, 'x.duckdb')}' AS x; CREATE TABLE x.t AS SELECT 1`,
        /ATTACH statements are not allowed|Permission/,
      ],
      [
        `USE memory; DETACH engine; ATTACH '${db}' AS rw; DELETE FROM rw.runs`,
        /SET statements are not allowed/,
      ],
      ['INSTALL httpfs', /EXTENSION|LOAD|not allowed/],
      ['LOAD httpfs', /not allowed/],
      ['SET threads = 1', /SET statements are not allowed/],
      ['CREATE TABLE t2 AS SELECT 1', /CREATE statements are not allowed/],
      ['DELETE FROM runs', /DELETE statements are not allowed/],
      ["EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/biobank-explain.csv'", /EXPLAIN|not allowed|Permission/],
      ['CALL pragma_version()', /CALL statements are not allowed/],
      ['SELECT 1; DROP TABLE runs', /DROP statements are not allowed/],
    ];
    for (const [sql, message] of cases) {
      const r = await biobank(['query', sql]);
      expect(r.code, sql).toBe(2);
      expect(r.stderr, sql).toMatch(message);
    }
    expect(existsSync(join(outside, 'x.csv'))).toBe(false);
    expect(existsSync(join(outside, 'x.duckdb'))).toBe(false);
    expect(existsSync(part)).toBe(false);
    expect(existsSync('/tmp/biobank-explain.csv')).toBe(false);
    expect(sha(db)).toBe(before);
    const runs = await biobank(['query', 'SELECT count(*) AS n FROM runs', '--format', 'csv']);
    expect(runs.stdout.trim()).toBe('n\n1');
  });

  it('still reads: DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, WITH, and Parquet inside the data folder', async () => {
    for (const sql of [
      'DESCRIBE runs',
      'SHOW TABLES',
      'SUMMARIZE runs',
      'EXPLAIN SELECT * FROM runs',
      '/* why is it slow? */\n  EXPLAIN SELECT * FROM runs',
      `PIVOT runs ON status IN ('completed') USING count(*)`,
      'WITH a AS (SELECT 1 AS x) SELECT x FROM a',
      `SELECT count(*) FROM read_parquet('${join(dataDir, 'runs', '*', 'gwas', '*', '*', '*.parquet')}')`,
    ]) {
      const r = await biobank(['query', sql, '--format', 'json']);
      expect(r.code, `${sql}: ${r.stderr}`).toBe(0);
    }
    const outsideRead = await biobank(['query', `SELECT * FROM read_csv('/etc/passwd')`]);
    expect(outsideRead.code).toBe(2);
    expect(outsideRead.stderr).toMatch(/Permission Error/);
  });

  it('a PIVOT that would create a type is refused with a hint to list its values', async () => {
    const r = await biobank(['query', 'PIVOT runs ON status USING count(*)']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/CREATE statements are not allowed/);
    expect(r.stderr).toMatch(/list the pivoted values/);
  });

  it('a syntax error is bad input: exit 2', async () => {
    const r = await biobank(['query', 'SELEC 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Parser Error/);
  });
});
