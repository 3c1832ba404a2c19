/**
 * The catalog never lies (issue 18 §1 integrity): `gwas_results` reads only the files a run
 * recorded (path, size, sha256 in `run_files`), so a stray file dropped into a run's folder is
 * never a result, and `biobank verify` reports missing, changed and unrecorded files (exit 1).
 */
import { appendFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withEngineDb } from '../../engine/duckdb.js';
import { gwasPhenotypes } from '../../export/common.js';
import { topHits } from '../../report/data.js';
import { runBiobank } from '../helpers/cli.js';
import { type Fixture, makeFixture } from './fixture.js';

let fx: Fixture;

beforeAll(async () => {
  fx = await makeFixture();
}, 120_000);
afterAll(async () => {
  await fx?.cleanup();
});

function verify(args: string[] = []) {
  return runBiobank(['verify', ...args], { BIOBANK_DATA_DIR: fx.dataDir });
}

const count = (sql: string) =>
  withEngineDb(fx.config, async (conn) => Number((await conn.runAndReadAll(sql)).getRows()[0][0]), {
    readOnly: true,
  });

describe('recorded result files', () => {
  it('verify passes on an intact run; every GWAS file is recorded with size and sha256', async () => {
    const r = await verify(['--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.checked).toBeGreaterThan(0);
    expect(await count('SELECT count(*) FROM run_files WHERE length(sha256) = 64 AND size > 0')).toBe(
      report.checked,
    );
  });

  it('a stray file in a run folder is never a result, and verify names it', async () => {
    const before = await count('SELECT count(*) FROM gwas_results');
    const dir = join(fx.dataDir, 'runs', fx.runId, 'gwas', 'phenotype=LDL', 'chrom=1');
    const stray = join(dir, 'stray.parquet');
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(
      `COPY (SELECT * FROM read_parquet('${join(dir, readdirSync(dir)[0])}') LIMIT 1) TO '${stray}' (FORMAT parquet)`,
    );
    conn.closeSync();
    expect(await count('SELECT count(*) FROM gwas_results')).toBe(before);
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`unrecorded ${stray}`);
    rmSync(stray);
    expect((await verify()).code).toBe(0);
  });

  it('reports and exports read only recorded files: a stray phenotype folder never shows', async () => {
    const src = join(fx.dataDir, 'runs', fx.runId, 'gwas', 'phenotype=LDL', 'chrom=1');
    const dir = join(fx.dataDir, 'runs', fx.runId, 'gwas', 'phenotype=STRAY', 'chrom=1');
    mkdirSync(dir, { recursive: true });
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.run(
      `COPY (SELECT * FROM read_parquet('${join(src, readdirSync(src)[0])}') LIMIT 5) TO '${join(dir, 'x.parquet')}' (FORMAT parquet)`,
    );
    conn.closeSync();
    try {
      const phenotypes = await gwasPhenotypes(fx.config, fx.runId);
      expect(phenotypes).toContain('LDL');
      expect(phenotypes).not.toContain('STRAY');
      const top = await topHits(fx.config, fx.runId, 'STRAY');
      expect(top).toEqual([]);
    } finally {
      rmSync(join(fx.dataDir, 'runs', fx.runId, 'gwas', 'phenotype=STRAY'), { recursive: true });
    }
  });

  it('names in the runs folder that are not run ids (.DS_Store, backups) are not runs', async () => {
    const junk = [join(fx.dataDir, 'runs', '.DS_Store'), join(fx.dataDir, 'runs', 'notes.txt~')];
    for (const f of junk) appendFileSync(f, 'x');
    try {
      const r = await verify(['--json']);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).unrecorded).toEqual([]);
    } finally {
      for (const f of junk) rmSync(f);
    }
  });

  it('changed and missing files are reported', async () => {
    const dir = join(fx.dataDir, 'runs', fx.runId, 'gwas', 'phenotype=LDL');
    const chrom = readdirSync(dir).sort();
    const changed = join(dir, chrom[0], readdirSync(join(dir, chrom[0]))[0]);
    appendFileSync(changed, 'x');
    const missing = join(dir, chrom[1], readdirSync(join(dir, chrom[1]))[0]);
    rmSync(missing);
    const r = await verify([`--run`, fx.runId]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^changed {4}runs\/.*phenotype=LDL/m);
    expect(r.stdout).toMatch(/^missing {4}runs\/.*phenotype=LDL/m);
    expect(r.stdout).toMatch(/2 problem\(s\): 1 missing, 1 changed, 0 unrecorded/);
  });
});
