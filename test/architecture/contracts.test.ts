/**
 * One contract per thing (issue 17): the association test vocabulary is the results schema's,
 * the catalog DDL comes from the zod row schemas, and spec defaults live in the schema without
 * changing the run id of a study that ran before the default existed.
 */
import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Text } from '../../engine/fsutil.js';
import { specHash } from '../../engine/study.js';
import { RELEASES_DDL, releaseRowSchema } from '../../schemas/catalog.js';
import { createTableSqlOf } from '../../schemas/columns.js';
import { GWAS_PART_DDL, phecodeFitSchema } from '../../schemas/layouts.js';
import { ASSOCIATION_TESTS, GWAS_TESTS } from '../../schemas/results.js';
import { studySpecSchema } from '../../schemas/study.js';
import { TEST } from '../../stats/status.js';

const given = {
  studyId: 'ldl',
  release: 'r1',
  kind: 'phenotype-first',
  phenotype: { type: 'measurement', name: 'LDL' },
  covariates: ['age', 'sex'],
} as const;

describe('contracts', () => {
  it('the kernels speak the results schema’s test vocabulary', () => {
    for (const t of TEST) if (t !== 'none') expect(GWAS_TESTS as readonly string[]).toContain(t);
    for (const t of GWAS_TESTS) expect(ASSOCIATION_TESTS as readonly string[]).toContain(t);
    // the PheWAS fitter's row type (schemas/layouts.ts) names its tests from the same list
    const fitTests = phecodeFitSchema.shape.test.unwrap().options;
    expect(fitTests).toEqual(expect.arrayContaining(['spa', 'spa_wald', 'spa_firth']));
    for (const t of fitTests) expect(ASSOCIATION_TESTS as readonly string[]).toContain(t);
  });

  it('catalog DDL is derived from the row schemas', () => {
    expect(RELEASES_DDL).toBe(createTableSqlOf('releases', releaseRowSchema, ['release_id']));
    expect(RELEASES_DDL).toContain('"release_id" VARCHAR NOT NULL');
    expect(RELEASES_DDL).toContain('"created_at" TIMESTAMP DEFAULT current_timestamp');
    expect(GWAS_PART_DDL).toBe(
      'variant_idx INTEGER, n INTEGER, af DOUBLE, beta DOUBLE, se DOUBLE, stat DOUBLE, p DOUBLE, neg_log10_p DOUBLE, test UTINYINT, status UTINYINT, trait SMALLINT',
    );
  });

  it('late spec defaults are in the schema and leave the run id of older specs unchanged', () => {
    const spec = studySpecSchema.parse(given);
    expect(spec.phewas.scoreThreshold).toBe(0.05);
    expect(spec.phewas.scoreMinCarriers).toBe(0);
    // The hash before the defaults existed: the parsed spec without the release and those fields.
    const { release: _r, ...rest } = structuredClone(spec) as Record<string, unknown> & typeof spec;
    const phewas = rest.phewas as Record<string, unknown>;
    delete phewas.scoreThreshold;
    delete phewas.scoreMinCarriers;
    delete phewas.population;
    delete phewas.spa;
    delete phewas.spaCaseFraction;
    delete phewas.model;
    const leadLoci = phewas.leadLoci as Record<string, unknown>;
    delete leadLoci.clump;
    delete leadLoci.r2;
    const gwas = rest.gwas as Record<string, unknown> | undefined;
    if (gwas) {
      delete gwas.spa;
      delete gwas.spaCaseFraction;
      delete gwas.relatedness;
    }
    expect(specHash(spec)).toBe(sha256Text(canonicalJson(rest)));
    // A value other than the default is part of the hash.
    const other = studySpecSchema.parse({ ...given, phewas: { scoreThreshold: 0.01 } });
    expect(specHash(other)).not.toBe(specHash(spec));
  });
});
