/**
 * The phenotyping commands through the real `biobank` binary, and the phenotyping activities
 * in a mock activity context (the workflows that call them are tested with the real server
 * in the study tests).
 */
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPhenotypeActivities } from '../../activities/phenotype.js';
import { sqlString, withCompute } from '../../engine/duckdb.js';
import type { EngineConfig } from '../../temporal.config.js';
import { freePort } from '../helpers/ports.js';
import { CONDITIONS, EXPECTED_12, PERSONS } from './ehr-fixture.js';
import { MAPS_12, type MeasurementRow, testConfig, writeRelease } from './fixture.js';

const bin = resolve(import.meta.dirname, '../../bin/biobank.mjs');
let config: EngineConfig;
let releaseDir: string;

function biobank(args: string[]) {
  return promisify(execFile)('node', [bin, ...args], {
    env: { ...process.env, BIOBANK_DATA_DIR: config.dataDir, BIOBANK_DUCKDB_THREADS: '2' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  );
}

beforeAll(async () => {
  config = await testConfig();
  // Laid out as the data-folder contract says, so --release <id> resolves without a catalog.
  releaseDir = join(config.dataDir, 'releases', 'fixture-1', 'aaaaaaaaaaaa');
  await mkdir(releaseDir, { recursive: true });
  const measurements: MeasurementRow[] = PERSONS.map((p, i) => [
    p.person_id,
    'LDL',
    2 + i / 4,
    'mmol/L',
    '2020-01-01',
  ]);
  await withCompute(config, (conn) =>
    writeRelease(conn, releaseDir, { persons: PERSONS, conditions: CONDITIONS, measurements }),
  );
});

afterAll(async () => {
  await rm(config.dataDir, { recursive: true, force: true });
});

describe('biobank phecodes / phenome / explain', () => {
  it('phecodes load installs checked maps; fetch without internet exits 3 with a hint', async () => {
    const load = await biobank(['phecodes', 'load', '--version', '1.2', '--from', MAPS_12]);
    expect(load.code, load.stderr).toBe(0);
    expect(load.stdout).toMatch(/phecode_map\.csv\s+84532 rows\s+sha256 [0-9a-f]{64}/);
    const port = await freePort();
    const fetch = await biobank([
      'phecodes',
      'fetch',
      '--version',
      'X',
      '--base-url',
      `http://127.0.0.1:${port}/`,
    ]);
    expect(fetch.code).toBe(3);
    expect(fetch.stderr).toMatch(/error: could not download .*phecodeX_R_map\.csv/);
    expect(fetch.stderr).toMatch(/hint: copy the public files/);
  });

  it('phenome build --release resolves the release folder, prints counts and unmapped codes', async () => {
    const r = await biobank(['phenome', 'build', '--release', 'fixture-1', '--phecode-version', '1.2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/persons 13;/);
    expect(r.stdout).toMatch(/codes without a phecode: 1 distinct, 2 records/);
    expect(r.stdout).toMatch(/ICD10CM\s+E14\.9\s+2 records\s+1 persons/);
    const bad = await biobank(['phenome', 'build', '--release', 'nope', '--phecode-version', '1.2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/release 'nope' has no ingested tables/);
  });

  it('explain prints the reason for an exclusion range and (JSON) a sex restriction', async () => {
    const ex = await biobank(['explain', 'p03', '250.2', '--release', 'fixture-1']);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toMatch(/person p03 is EXCLUDED for phecode 1\.2 250\.2 \(Type 2 diabetes\)/);
    expect(ex.stdout).toMatch(/excluded: has phecode\(s\) in 250\.2's exclusion set: .*250\.1/);
    const c = await biobank(['explain', 'p04', '185', '--release-dir', releaseDir, '--json']);
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({
      status: 'excluded',
      nDates: 2,
      sexRestriction: 'male_only',
      sex: 'F',
    });
  });
});

describe('phenotyping activities', () => {
  it('cohort → phecode phenotype (cases 1, controls 0, excluded left out) → covariates', async () => {
    const mock = new MockActivityEnvironment();
    const env = {
      run: <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A): Promise<R> =>
        mock.run(fn, ...args) as Promise<R>,
    };
    const acts = createPhenotypeActivities(config);
    const release = { releaseId: 'fixture-1', releaseDir };
    const cohort = await env.run(acts.materializeCohort, {
      ...release,
      runId: 'r1',
      cohort: { referenceDate: '2021-01-01' },
    });
    expect(cohort).toMatchObject({ n: PERSONS.length, referenceDate: '2021-01-01' });
    const pheno = await env.run(acts.materializePhenotype, {
      ...release,
      runId: 'r1',
      cohortPath: cohort.path,
      mapsDir: MAPS_12,
      phenotype: { type: 'phecode', phecode: '250.2', phecodeVersion: '1.2' },
    });
    const want = Object.entries(EXPECTED_12['250.2']).filter(([, s]) => s !== 'excluded');
    expect(pheno.summary).toMatchObject({
      n: want.length,
      nCases: want.filter(([, s]) => s === 'case').length,
    });
    const rows = await withCompute(config, async (conn) =>
      (
        await conn.runAndReadAll(`SELECT person_id, y FROM read_parquet(${sqlString(pheno.path)}) ORDER BY 1`)
      ).getRowObjectsJS(),
    );
    expect(rows).toEqual(want.sort().map(([p, s]) => ({ person_id: p, y: s === 'case' ? 1 : 0 })));
    const again = await env.run(acts.materializePhenotype, {
      ...release,
      runId: 'r1',
      cohortPath: cohort.path,
      mapsDir: MAPS_12,
      phenotype: { type: 'phecode', phecode: '250.2', phecodeVersion: '1.2' },
    });
    expect(again).toEqual(pheno);
    const cov = await env.run(acts.materializeCovariates, {
      ...release,
      runId: 'r1',
      cohortPath: cohort.path,
      referenceDate: cohort.referenceDate,
      covariates: ['age', 'sex', 'nVisits'],
    });
    expect(cov.summary.columns).toEqual(['age', 'sex=F', 'sex=U', 'nVisits']);
    const quant = await env.run(acts.materializePhenotype, {
      ...release,
      runId: 'r2',
      cohortPath: cohort.path,
      phenotype: { type: 'measurement', name: 'LDL', transform: 'rint' },
    });
    expect(quant.summary.n).toBe(PERSONS.length);
    await expect(
      env.run(acts.materializeCohort, { ...release, runId: 'r3', cohort: { ageRange: [80, 40] } }),
    ).rejects.toThrow(/ageRange/);
  });
});
