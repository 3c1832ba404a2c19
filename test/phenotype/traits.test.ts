import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { buildCovariates } from '../../phenotype/covariates.js';
import { releaseTables } from '../../phenotype/release.js';
import { rankInverseNormal } from '../../phenotype/rint.js';
import { columnTrait, measurementTrait } from '../../phenotype/traits.js';
import { covariateOptionsSchema, phenotypeSpecSchema } from '../../schemas/phenotype.js';
import type { EngineConfig } from '../../temporal.config.js';
import { CONDITIONS, PERSONS } from './ehr-fixture.js';
import { type MeasurementRow, testConfig, writeRelease } from './fixture.js';

let config: EngineConfig;
let releaseDir: string;
const IDS = PERSONS.map((p) => p.person_id);
const HDL = [50, 52, 48, 51, 49, 53, 47, 50, 52, 48, 51, 50, 500];

const MEASUREMENTS: MeasurementRow[] = [
  ['p01', 'LDL', 3.1, 'mmol/L', '2020-01-01'],
  ['p01', 'LDL', 4.9, 'mmol/L', '2021-01-01'],
  ['p01', 'LDL', 2.0, 'mmol/L', '2021-01-01'],
  ['p02', 'LDL', 2.0, 'MMOL/L', '2020-01-01'],
  ['p03', 'LDL', 5.5, 'mmol/L', '2018-01-01'],
  ['p06', 'LDL', 190, 'mg/dL', '2019-01-01'],
  ...IDS.map((id, i): MeasurementRow => [id, 'HDL', HDL[i], 'mg/dL', '2020-05-05']),
];

/** Covariate table: x, y independent-ish, x2 = 2x + 1 (collinear), z ≈ x + y (high VIF), const. */
const COV_ROWS = IDS.map((id, i) => {
  const x = Math.sin(i + 1) * 3;
  const y = Math.cos(2 * i + 1) * 2;
  return {
    person_id: id,
    x,
    y,
    x2: 2 * x + 1,
    z: x + y + 0.001 * Math.sin(7 * i),
    const: 5,
    batch: ['b1', 'b2', 'b1', 'b3'][i % 4],
  };
});

async function run<T>(
  fn: (conn: Parameters<Parameters<typeof withCompute>[1]>[0]) => Promise<T>,
): Promise<T> {
  return withCompute(config, async (conn) => {
    await conn.run('CREATE OR REPLACE TEMP TABLE _all AS SELECT person_id FROM read_parquet($1)', [
      releaseTables(releaseDir).persons,
    ]);
    return fn(conn);
  });
}

async function trait(spec: unknown): Promise<Record<string, number>> {
  return run(async (conn) => {
    const s = phenotypeSpecSchema.parse(spec);
    const rel = releaseTables(releaseDir);
    if (s.type === 'measurement') await measurementTrait(conn, rel, s, '_all', 'spec.json');
    else if (s.type === 'column') await columnTrait(conn, rel, s, '_all', 'spec.json');
    const r = await conn.runAndReadAll('SELECT person_id, y FROM _trait ORDER BY 1');
    return Object.fromEntries(r.getRowObjectsJS().map((o) => [o.person_id, o.y as number]));
  });
}

function rscript(expr: string): number[] {
  return execFileSync('Rscript', ['-e', expr], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
}

beforeAll(async () => {
  config = await testConfig();
  releaseDir = join(config.dataDir, 'releases', 't', '000000000000');
  await mkdir(releaseDir, { recursive: true });
  await withCompute(config, (conn) =>
    writeRelease(conn, releaseDir, {
      persons: PERSONS,
      conditions: CONDITIONS,
      measurements: MEASUREMENTS,
      tables: {
        pheno: {
          columns: {
            person_id: 'VARCHAR',
            LDL: 'DOUBLE',
            status: 'VARCHAR',
            flag: 'BOOLEAN',
            bad: 'VARCHAR',
            num: 'VARCHAR',
          },
          rows: [
            { person_id: 'p01', LDL: 3.0, status: 'case', flag: true, bad: 'x', num: '1.5' },
            { person_id: 'p02', LDL: null, status: 'Control', flag: false, bad: 'y', num: '2' },
            { person_id: 'p03', LDL: 4.0, status: 'control', flag: null, bad: 'z', num: 'n/a' },
          ],
        },
        cov: {
          columns: {
            person_id: 'VARCHAR',
            x: 'DOUBLE',
            y: 'DOUBLE',
            x2: 'DOUBLE',
            z: 'DOUBLE',
            const: 'INTEGER',
            batch: 'VARCHAR',
          },
          rows: COV_ROWS,
        },
        dup: {
          columns: { person_id: 'VARCHAR', v: 'DOUBLE' },
          rows: [
            { person_id: 'p01', v: 1 },
            { person_id: 'p01', v: 2 },
          ],
        },
      },
    }),
  );
});

afterAll(async () => {
  await rm(config.dataDir, { recursive: true, force: true });
});

describe('quantitative traits from measurements', () => {
  it('unit check: several units without a chosen unit is an error listing them', async () => {
    const err = await trait({ type: 'measurement', name: 'LDL' }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(
      /field phenotype\.unit: LDL is recorded in 2 units \(mmol\/L ×5, mg\/dL ×1\)/,
    );
    await expect(trait({ type: 'measurement', name: 'LDL', unit: 'mmol' })).rejects.toThrow(
      /no LDL row is in unit/,
    );
    await expect(trait({ type: 'measurement', name: 'NOPE' })).rejects.toThrow(/no measurement named/);
  });

  it('aggregates per person: median, mean, min, max, first, last (units case-insensitive)', async () => {
    const base = { type: 'measurement', name: 'LDL', unit: 'mmol/L' };
    expect(await trait({ ...base, aggregate: 'median' })).toEqual({ p01: 3.1, p02: 2.0, p03: 5.5 });
    expect((await trait({ ...base, aggregate: 'mean' })).p01).toBeCloseTo(10 / 3, 12);
    expect((await trait({ ...base, aggregate: 'min' })).p01).toBe(2.0);
    expect((await trait({ ...base, aggregate: 'max' })).p01).toBe(4.9);
    expect((await trait({ ...base, aggregate: 'first' })).p01).toBe(3.1);
    expect((await trait({ ...base, aggregate: 'last' })).p01).toBe(2.0); // last date, ties → smaller value
    expect(Object.keys(await trait({ ...base, window: { from: '2019-01-01' } }))).toEqual(['p01', 'p02']);
  });

  it('outlier filter drops persons beyond k SD', async () => {
    const all = await trait({ type: 'measurement', name: 'HDL' });
    expect(Object.keys(all)).toHaveLength(13);
    const filtered = await trait({ type: 'measurement', name: 'HDL', outlierSd: 2 });
    expect(Object.keys(filtered)).toHaveLength(12);
    expect(filtered.p14).toBeUndefined();
  });

  it('rank-based inverse normal transform (Blom) equals R qnorm((rank - 3/8)/(n + 1/4))', async () => {
    const ours = await trait({ type: 'measurement', name: 'HDL', transform: 'rint' });
    const x = IDS.map((id) => HDL[IDS.indexOf(id)]);
    const r = rscript(
      `x <- c(${x.join(',')}); cat(sprintf('%.17g', qnorm((rank(x) - 3/8) / (length(x) + 1/4))), sep = ' ')`,
    );
    IDS.forEach((id, i) => {
      expect(ours[id]).toBeCloseTo(r[i], 12);
    });
    expect(Array.from(rankInverseNormal(Float64Array.from([Number.NaN, 1])))).toEqual([Number.NaN, 0]);
  });
});

describe('phenotypes from a user-table column', () => {
  it('binary from text, boolean; quantitative from numbers and numeric text', async () => {
    expect(await trait({ type: 'column', table: 'pheno', column: 'status', trait: 'binary' })).toEqual({
      p01: 1,
      p02: 0,
      p03: 0,
    });
    expect(await trait({ type: 'column', table: 'pheno', column: 'flag', trait: 'binary' })).toEqual({
      p01: 1,
      p02: 0,
    });
    expect(await trait({ type: 'column', table: 'pheno', column: 'LDL', trait: 'quantitative' })).toEqual({
      p01: 3,
      p03: 4,
    });
  });

  it('rejects non-binary values, non-numbers, duplicates and unknown names, naming file and field', async () => {
    await expect(trait({ type: 'column', table: 'pheno', column: 'bad', trait: 'binary' })).rejects.toThrow(
      /pheno\.parquet, field bad: a binary trait needs two values/,
    );
    await expect(
      trait({ type: 'column', table: 'pheno', column: 'num', trait: 'quantitative' }),
    ).rejects.toThrow(/field num: value "n\/a" of person p03 is not a number/);
    await expect(trait({ type: 'column', table: 'dup', column: 'v', trait: 'quantitative' })).rejects.toThrow(
      /person p01 has 2 rows/,
    );
    await expect(
      trait({ type: 'column', table: 'pheno', column: 'LDL"; --', trait: 'quantitative' }),
    ).rejects.toThrow(/field phenotype\.column: unknown column/);
  });
});

describe('covariates', () => {
  const opts = (o: object = {}) => covariateOptionsSchema.parse(o);
  async function covar(covariates: string[], o: object = {}, pcsPath?: string) {
    return run(async (conn) => {
      const res = await buildCovariates(conn, {
        rel: releaseTables(releaseDir),
        cohortTable: '_all',
        covariates,
        options: opts(o),
        referenceDate: '2020-06-15',
        pcsPath,
      });
      const rows = (await conn.runAndReadAll('SELECT * FROM _covar ORDER BY person_id')).getRowObjectsJS();
      return { res, rows };
    });
  }

  it('age at a reference date, centred age², sex one-hot with the most frequent level as reference, visits, EHR length', async () => {
    const { res, rows } = await covar(['age', 'age2', 'sex', 'nVisits', 'ehrLength'], { standardize: false });
    expect(res.columns).toEqual(['age', 'age2', 'sex=F', 'sex=U', 'nVisits', 'ehrLength']);
    expect(res.oneHot).toEqual([{ covariate: 'sex', reference: 'M', levels: ['M', 'F', 'U'] }]);
    const p01 = rows.find((r) => r.person_id === 'p01') as Record<string, number>;
    expect(p01.age).toBe(70);
    expect(p01['sex=F']).toBe(0);
    expect(p01.nVisits).toBe(4); // conditions 2020-01-01, 2020-02-01; LDL 2020-01-01, 2021-01-01; HDL 2020-05-05
    expect(p01.ehrLength).toBeCloseTo(date('2021-01-01', '2020-01-01') / 365.25, 10);
    const ages = rows.map((r) => r.age as number);
    const mu = ages.reduce((a, b) => a + b, 0) / ages.length;
    expect(p01.age2).toBeCloseTo((70 - mu) ** 2, 10);
    expect((rows.find((r) => r.person_id === 'p05') as Record<string, number>)['sex=U']).toBe(1);
  });

  it('one-hot encodes a user-table string column, drops constant columns, standardises continuous ones', async () => {
    const { res, rows } = await covar(['age', 'cov.batch', 'cov.const', 'cov.x']);
    expect(res.droppedConstant).toEqual(['cov.const']);
    expect(res.columns).toEqual(['age', 'cov.batch=b2', 'cov.batch=b3', 'cov.x']);
    const ages = rows.map((r) => r.age as number);
    expect(ages.reduce((a, b) => a + b, 0) / ages.length).toBeCloseTo(0, 12);
    expect(rows.every((r) => [0, 1].includes(r['cov.batch=b2'] as number))).toBe(true);
  });

  it('collinearity: max correlation and VIF (VIF agrees with R diag(solve(cor(X))))', async () => {
    await expect(covar(['cov.x', 'cov.x2'])).rejects.toThrow(
      /covariates cov\.x and cov\.x2 are collinear \(r = 1\.0000/,
    );
    await expect(covar(['cov.x', 'cov.y', 'cov.z'])).rejects.toThrow(
      /covariate cov\.\w has variance inflation factor/,
    );
    const { res } = await covar(['age', 'cov.x', 'cov.y'], { maxVif: 1e9 });
    const ages = (await covar(['age'], { standardize: false })).rows.map((r) => r.age as number);
    const X = ['age', 'x', 'y'].map((c, j) => (j === 0 ? ages : COV_ROWS.map((r) => r[c as 'x' | 'y'])));
    const r = rscript(
      `X <- cbind(${X.map((col) => `c(${col.join(',')})`).join(',')}); cat(sprintf('%.17g', max(diag(solve(cor(X))))))`,
    );
    expect(res.maxVif).toBeCloseTo(r[0], 8);
  });

  it('PCs need computed PCs; unknown covariate tables are rejected', async () => {
    await expect(covar(['age', 'PC1'])).rejects.toThrow(/PC1 needs the release's genetic PCs/);
    await expect(covar(['nope.x'])).rejects.toThrow(/field covariates\[0\]: unknown user table "nope"/);
  });
});

function date(a: string, b: string): number {
  return (Date.parse(a) - Date.parse(b)) / 86_400_000;
}
