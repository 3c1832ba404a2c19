import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDb, sqlString, withCompute } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { compileCohort, materializeCohort } from '../../phenotype/cohort.js';
import { loadPhecodeMaps } from '../../phenotype/maps.js';
import { releaseTables } from '../../phenotype/release.js';
import { type CohortSpec, cohortSpecSchema } from '../../schemas/phenotype.js';
import type { EngineConfig } from '../../temporal.config.js';
import { CONDITIONS, PERSONS } from './ehr-fixture.js';
import { MAPS_12, type MeasurementRow, testConfig, writeRelease } from './fixture.js';

let config: EngineConfig;
let releaseDir: string;
/** One connection for the file, with the 1.2 maps loaded once. */
let shared: DuckDBConnection;

const MEASUREMENTS: MeasurementRow[] = [
  ['p01', 'LDL', 3.1, 'mmol/L', '2020-01-01'],
  ['p01', 'LDL', 4.9, 'mmol/L', '2021-01-01'],
  ['p02', 'LDL', 2.0, 'mmol/L', '2020-01-01'],
  ['p03', 'LDL', 5.5, 'mmol/L', '2018-01-01'],
  ['p06', 'LDL', 190, 'mg/dL', '2019-01-01'],
];

async function cohort(spec: unknown): Promise<string[]> {
  return (async (conn: DuckDBConnection) => {
    const compiled = await compileCohort(
      conn,
      releaseTables(releaseDir),
      cohortSpecSchema.parse(spec),
      'spec.json',
    );
    await materializeCohort(conn, compiled);
    const r = await conn.runAndReadAll('SELECT person_id FROM _cohort ORDER BY 1');
    return r.getRowObjectsJS().map((o) => o.person_id as string);
  })(shared);
}

const ALL = PERSONS.map((p) => p.person_id).sort();

beforeAll(async () => {
  config = await testConfig();
  releaseDir = join(config.dataDir, 'releases', 'c', '000000000000');
  await mkdir(releaseDir, { recursive: true });
  await withCompute(config, async (conn) => {
    await writeRelease(conn, releaseDir, {
      persons: PERSONS,
      conditions: CONDITIONS,
      measurements: MEASUREMENTS,
      tables: {
        pheno: {
          columns: { person_id: 'VARCHAR', LDL: 'DOUBLE', batch: 'VARCHAR', 'we"ird': 'INTEGER' },
          rows: [
            { person_id: 'p01', LDL: 3.0, batch: 'b1', 'we"ird': 1 },
            { person_id: 'p02', LDL: null, batch: 'b2', 'we"ird': 2 },
            { person_id: 'p03', LDL: 4.0, batch: 'b1', 'we"ird': null },
          ],
        },
      },
    });
    // A table the injection attempts would target.
    await conn.run(`CREATE TABLE IF NOT EXISTS x AS SELECT 1 AS a`);
  });
  shared = await (await computeDb(config)).connect();
  await loadPhecodeMaps(shared, MAPS_12, '1.2');
});

afterAll(async () => {
  shared?.closeSync();
  await rm(config.dataDir, { recursive: true, force: true });
});

describe('cohort spec → parameterised SQL', () => {
  it('empty spec = every person', async () => {
    expect(await cohort({})).toEqual(ALL);
  });

  it('age range at a reference date (completed years; birth_year when no birth date)', async () => {
    // On 2020-06-15: p01 (1950-06-15) is 70; p04 (1945-12-31) is 74; p11 (1940-04-04) is 80; p05 born 1980 → 40.
    expect(await cohort({ referenceDate: '2020-06-15', ageRange: [70, 80] })).toEqual(['p01', 'p04', 'p11']);
    expect(await cohort({ referenceDate: '2020-06-14', ageRange: [70, 80] })).toEqual(['p04', 'p11']);
    expect(await cohort({ referenceDate: '2020-06-15', ageRange: [40, 40] })).toEqual(['p05']);
  });

  it('sex and ancestry labels', async () => {
    expect(await cohort({ sex: ['U'] })).toEqual(['p05']);
    expect(await cohort({ ancestry: ['AFR', 'EAS'] })).toEqual(['p03', 'p04', 'p14']);
  });

  it('having / lacking a phecode, optionally within a date window', async () => {
    const t2d = { type: 'phecode', phecode: '250.2', phecodeVersion: '1.2', minCodeCount: 2 };
    expect(await cohort({ include: [t2d] })).toEqual(['p01', 'p08', 'p11', 'p12']);
    expect(await cohort({ include: [{ ...t2d, window: { from: '2020-01-01' } }] })).toEqual(['p01', 'p08']);
    const lacking = await cohort({ exclude: [{ ...t2d, minCodeCount: 1 }] });
    expect(lacking).toEqual(ALL.filter((p) => !['p01', 'p02', 'p08', 'p11', 'p12'].includes(p)));
  });

  it('having ICD codes: exact, prefix, vocabulary, window', async () => {
    expect(await cohort({ include: [{ type: 'icd', codes: ['C61'] }] })).toEqual(['p04', 'p05', 'p06']);
    expect(await cohort({ include: [{ type: 'icd', codes: ['E1'], prefix: true }] })).toEqual([
      'p01',
      'p02',
      'p03',
      'p07',
      'p08',
      'p09',
      'p11',
      'p12',
      'p14',
    ]);
    expect(await cohort({ include: [{ type: 'icd', codes: ['E14.9'], vocabulary: 'ICD10' }] })).toEqual([
      'p08',
    ]);
    expect(
      await cohort({
        include: [{ type: 'icd', codes: ['C61'], window: { from: '2017-01-01', to: '2017-01-31' } }],
      }),
    ).toEqual(['p04', 'p05']);
  });

  it('measurement thresholds, with a unit', async () => {
    expect(
      await cohort({ include: [{ type: 'measurement', name: 'LDL', op: '>', value: 4.5, unit: 'mmol/L' }] }),
    ).toEqual(['p01', 'p03']);
    expect(await cohort({ include: [{ type: 'measurement', name: 'LDL', op: '>', value: 4.5 }] })).toEqual([
      'p01',
      'p03',
      'p06',
    ]);
  });

  it('membership in a user table, a non-NULL column, or column values; odd column names are quoted', async () => {
    expect(await cohort({ include: [{ type: 'table', table: 'pheno' }] })).toEqual(['p01', 'p02', 'p03']);
    expect(await cohort({ include: [{ type: 'table', table: 'pheno', column: 'LDL' }] })).toEqual([
      'p01',
      'p03',
    ]);
    expect(
      await cohort({ include: [{ type: 'table', table: 'pheno', column: 'batch', values: ['b1'] }] }),
    ).toEqual(['p01', 'p03']);
    expect(
      await cohort({ include: [{ type: 'table', table: 'pheno', column: 'we"ird', values: [2] }] }),
    ).toEqual(['p02']);
  });

  it('rejects injection through identifiers, naming the field; binds injection through values', async () => {
    const attempts: CohortSpec['include'] = [
      { type: 'table', table: 'pheno"; DROP TABLE x; --' },
      { type: 'table', table: '../../persons' },
      { type: 'table', table: 'pheno', column: 'LDL" IS NOT NULL OR 1=1; DROP TABLE x; --' },
      { type: 'table', table: 'pheno', column: 'person_id) OR (1=1' },
    ];
    for (const [i, c] of attempts.entries()) {
      const err = await cohort({ include: [c] }).catch((e) => e);
      expect(err, JSON.stringify(c)).toBeInstanceOf(InputError);
      expect(err.message).toMatch(/spec\.json, field cohort\.include\[0\]\.(table|column): unknown/);
      expect(i).toBeGreaterThanOrEqual(0);
    }
    // Values are bound: the text is compared, never executed.
    expect(await cohort({ include: [{ type: 'icd', codes: ["E11.9' OR 1=1; DROP TABLE x; --"] }] })).toEqual(
      [],
    );
    expect(await cohort({ ancestry: ["EUR') OR ('1'='1"] })).toEqual([]);
    const still = await withCompute(
      config,
      async (conn) =>
        (await conn.runAndReadAll('SELECT count(*)::INTEGER AS n FROM x')).getRowObjectsJS()[0].n,
    );
    expect(still).toBe(1);
  });

  it('rejects unknown spec fields and bad values before any SQL', () => {
    expect(() => cohortSpecSchema.parse({ ageRange: [80, 40] })).toThrow(/ageRange/);
    expect(() => cohortSpecSchema.parse({ sexx: ['M'] })).toThrow(/sexx/);
    expect(() =>
      cohortSpecSchema.parse({ include: [{ type: 'measurement', name: 'LDL', op: '; DROP', value: 1 }] }),
    ).toThrow();
  });

  it('the compiled SQL carries no spec value', async () => {
    await withCompute(config, async (conn) => {
      await loadPhecodeMaps(conn, MAPS_12, '1.2');
      const spec = cohortSpecSchema.parse({
        ancestry: ['EUR_secret'],
        include: [
          { type: 'icd', codes: ['Z99.SECRET'] },
          { type: 'measurement', name: 'LDL_SECRET', op: '>', value: 1 },
        ],
      });
      const c = await compileCohort(conn, releaseTables(releaseDir), spec);
      expect(c.sql).not.toMatch(/SECRET|secret/);
      expect(c.sql).toContain(sqlString(releaseTables(releaseDir).persons));
    });
  });
});
