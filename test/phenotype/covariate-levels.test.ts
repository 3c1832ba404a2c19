/**
 * A categorical covariate has at most MAX_COVARIATE_LEVELS levels: a numeric column read as text
 * (one level per person) is refused by name instead of becoming hundreds of one-hot columns.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCompute } from '../../engine/duckdb.js';
import { InputError } from '../../engine/errors.js';
import { buildCovariates, MAX_COVARIATE_LEVELS } from '../../phenotype/covariates.js';
import { releaseTables } from '../../phenotype/release.js';
import { covariateOptionsSchema } from '../../schemas/phenotype.js';
import type { EngineConfig } from '../../temporal.config.js';
import { type PersonRow, testConfig, writeRelease } from './fixture.js';

const N = 120;
let config: EngineConfig;
let releaseDir: string;
const persons: PersonRow[] = Array.from({ length: N }, (_, i) => ({
  person_id: `q${String(i).padStart(3, '0')}`,
  sex: i % 2 ? 'M' : 'F',
  birth_year: 1940 + (i % 40),
}));

beforeAll(async () => {
  config = await testConfig();
  releaseDir = join(config.dataDir, 'releases', 'lv', '000000000000');
  await mkdir(releaseDir, { recursive: true });
  await withCompute(config, (conn) =>
    writeRelease(conn, releaseDir, {
      persons,
      conditions: [],
      tables: {
        cov: {
          columns: { person_id: 'VARCHAR', bmi_text: 'VARCHAR', site: 'VARCHAR', many: 'VARCHAR' },
          rows: persons.map((p, i) => ({
            person_id: p.person_id,
            // a numeric column that was read as text: one level per person
            bmi_text: (18 + i * 0.1).toFixed(1),
            // exactly the cap: allowed
            site: `site${i % MAX_COVARIATE_LEVELS}`,
            // one more than the cap, not numbers
            many: `L${i % (MAX_COVARIATE_LEVELS + 1)}`,
          })),
        },
      },
    }),
  );
});

afterAll(async () => {
  await rm(config.dataDir, { recursive: true, force: true });
});

function covar(covariates: string[]) {
  return withCompute(config, async (conn) => {
    await conn.run('CREATE OR REPLACE TEMP TABLE _all AS SELECT person_id FROM read_parquet($1)', [
      releaseTables(releaseDir).persons,
    ]);
    return buildCovariates(conn, {
      rel: releaseTables(releaseDir),
      cohortTable: '_all',
      covariates,
      options: covariateOptionsSchema.parse({ maxVif: 1e12, maxCorrelation: 1 }),
      referenceDate: '2020-06-15',
      specFile: 'spec.json',
    });
  });
}

describe('categorical covariate level cap', () => {
  it('the cap is a named constant', () => {
    expect(MAX_COVARIATE_LEVELS).toBe(50);
  });

  it('exactly the cap is accepted', async () => {
    const res = await covar(['cov.site']);
    expect(res.oneHot[0].levels).toHaveLength(MAX_COVARIATE_LEVELS);
    expect(res.columns).toHaveLength(MAX_COVARIATE_LEVELS - 1);
  });

  it('one level over the cap is an InputError naming the covariate and its field', async () => {
    const err = (await covar(['age', 'cov.many']).catch((e) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.location).toEqual({ file: 'spec.json', field: 'covariates[1]' });
    expect(err.message).toMatch(
      /categorical covariate cov\.many has 51 levels among 120 persons \(at most 50/,
    );
    expect(err.message).not.toMatch(/meant to be numeric/);
  });

  it('a numeric column read as text says so and points at the release', async () => {
    const err = (await covar(['cov.bmi_text']).catch((e) => e)) as InputError;
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toMatch(/has 120 levels/);
    expect(err.message).toMatch(
      /120 of the levels are numbers, so the column was probably meant to be numeric/,
    );
    expect(err.hint).toMatch(/ingest it again/);
  });
});
