/**
 * The analysis table: the per-person table a study tests on — cohort, phenotype and
 * covariates, aligned to the genotype columns of the release.
 *
 * Steps (all SQL in DuckDB over the release's Parquet, through phenotype/):
 *   1. cohort spec → persons (phenotype/cohort.ts), restricted to genotyped persons;
 *   2. phenotype → `_trait(person_id, y)`: a user-table column or a measurement aggregate
 *      (phenotype/traits.ts), or a phecode's case (1) / control (0) status from the cohort's
 *      phenome (excluded persons dropped); genotype-first studies have no trait (y = 0);
 *   3. genetic PCs when the covariates name `PCk` (phenotype/pcs.ts; computed once per release);
 *   4. covariates → `_covar` (phenotype/covariates.ts: complete cases, one-hot, constant and
 *      collinear columns, standardisation);
 *   5. join on person_id and write `analysis.parquet`: `sample_idx, person_id, y, cov_<column>…`,
 *      complete cases only, ordered by sample_idx. A study's `extraTraits` (quantitative) add
 *      columns y_1, y_2, … and restrict the rows to persons with every trait.
 *
 * Population `cohort` (the PheWAS population of a phenotype-first study, `phewas.population`):
 * the same layout, but every cohort person with a genotype sample and every covariate, y NULL
 * where the trait is missing (excluded phecode persons included); no extra traits. Its
 * covariate hygiene (constant and collinear columns, standardisation) runs over these persons.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent, sqlString } from '../engine/duckdb.js';
import { InputError } from '../engine/errors.js';
import { atomicProduce } from '../engine/fsutil.js';
import {
  covariateOptionsSchema,
  type PhecodeVersion,
  type PhenotypeSpec,
  phenotypeLabel,
} from '../schemas/phenotype.js';
import { phecodeVersionsUsed, type StudySpec } from '../schemas/study.js';
import type { AnalysisTable, RunContext } from '../schemas/study-io.js';
import type { EngineConfig } from '../temporal.config.js';
import { buildPhenome } from './build.js';
import { compileCohort, materializeCohort } from './cohort.js';
import { buildCovariates } from './covariates.js';
import { loadPhecodeMaps, resolveMapsDir } from './maps.js';
import { buildPcs } from './pcs.js';
import { releaseTables } from './release.js';
import { columnTrait, measurementTrait } from './traits.js';

function mapsDirFor(config: EngineConfig, spec: StudySpec, version: PhecodeVersion): string {
  const explicit = spec.phewas.phecodeVersion === version ? spec.phewas.maps : undefined;
  return resolveMapsDir(config.dataDir, version, explicit);
}

async function phecodeTrait(
  conn: DuckDBConnection,
  config: EngineConfig,
  run: RunContext,
  spec: StudySpec,
  p: Extract<PhenotypeSpec, { type: 'phecode' }>,
  cohortPath: string,
): Promise<{ nCases: number; nControls: number }> {
  const built = await buildPhenome(conn, {
    releaseId: run.releaseId,
    releaseDir: run.releaseDir,
    version: p.phecodeVersion,
    mapsDir: mapsDirFor(config, spec, p.phecodeVersion),
    minCodeCount: p.minCodeCount,
    exclusions: p.phecodeVersion === '1.2' ? (p.exclusions ?? true) : false,
    cohortPath,
  });
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _trait AS
     SELECT c.person_id,
            CASE WHEN substr(ph.excluded, c.person_idx + 1, 1) = '1' THEN NULL
                 WHEN substr(ph.cases, c.person_idx + 1, 1) = '1' THEN 1.0 ELSE 0.0 END AS y
     FROM read_parquet(${sqlString(built.cohort)}) c
     LEFT JOIN (SELECT * FROM read_parquet(${sqlString(built.phenome)}) WHERE phecode = $1) ph ON true`,
    [p.phecode],
  );
  const r = await conn.runAndReadAll(
    'SELECT count(*) FILTER (WHERE y = 1)::INTEGER, count(*) FILTER (WHERE y = 0)::INTEGER FROM _trait',
  );
  const [nCases, nControls] = r.getRows()[0].map(Number);
  return { nCases, nControls };
}

/** Whose rows an analysis table holds (see the module comment). */
export type AnalysisPopulation = NonNullable<AnalysisTable['population']>;

/**
 * Build an analysis table at `path` for `spec` with `phenotype` as the trait (null: no trait,
 * y = 0 — genotype-first), over `population` (default: the GWAS sample, persons with the
 * trait). Leaves temp tables `_cohort`, `_trait`, `_covar` on `conn`.
 */
export async function buildAnalysisTable(
  conn: DuckDBConnection,
  config: EngineConfig,
  run: RunContext,
  spec: StudySpec,
  phenotype: PhenotypeSpec | null,
  path: string,
  population: AnalysisPopulation = 'gwas-sample',
): Promise<AnalysisTable> {
  const wholeCohort = population === 'cohort';
  const rel = releaseTables(run.releaseDir);
  for (const v of phecodeVersionsUsed(spec)) await loadPhecodeMaps(conn, mapsDirFor(config, spec, v), v);
  const compiled = await compileCohort(conn, rel, spec.cohort);
  await materializeCohort(conn, compiled, '_cohort_all');
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE _cohort AS
       SELECT DISTINCT c.person_id FROM _cohort_all c
       JOIN read_parquet(${sqlString(rel.samples)}) s ON s.person_id = c.person_id`,
  );
  const nCohort = Number((await conn.runAndReadAll('SELECT count(*) FROM _cohort')).getRows()[0][0]);
  if (nCohort === 0) {
    throw new InputError('the cohort has no genotyped person', { field: 'cohort' });
  }
  const cohortPath = join(run.runDir, 'cohort.parquet');
  await mkdir(run.runDir, { recursive: true });
  await atomicProduce(cohortPath, (tmp) => conn.run(`COPY _cohort TO ${sqlString(tmp)} (FORMAT parquet)`));

  // Extra traits of one genotype pass (quantitative only), each into _trait_<k>.
  const extras = spec.kind === 'phenotype-first' && phenotype && !wholeCohort ? (spec.extraTraits ?? []) : [];
  for (const [i, p] of extras.entries()) {
    // The spec schema has checked that none repeats the main phenotype.
    const field = `extraTraits[${i}]`;
    if (p.type === 'phecode') {
      throw new InputError(
        'extra traits must be quantitative; a phecode is binary (run it as its own study)',
        {
          field,
        },
      );
    }
    const t =
      p.type === 'measurement'
        ? await measurementTrait(conn, rel, p, '_cohort')
        : await columnTrait(conn, rel, p, '_cohort');
    if (t.binary) {
      throw new InputError(
        'extra traits must be quantitative; this one has two values (run it as its own study)',
        {
          field,
        },
      );
    }
    await conn.run(`CREATE OR REPLACE TEMP TABLE _trait_${i + 1} AS SELECT person_id, y FROM _trait`);
  }

  let trait: AnalysisTable['trait'] = 'none';
  let nCases: number | undefined;
  let nControls: number | undefined;
  if (phenotype) {
    const p = phenotype;
    if (p.type === 'phecode') {
      ({ nCases, nControls } = await phecodeTrait(conn, config, run, spec, p, cohortPath));
      trait = 'binary';
    } else {
      const t =
        p.type === 'measurement'
          ? await measurementTrait(conn, rel, p, '_cohort')
          : await columnTrait(conn, rel, p, '_cohort');
      trait = t.binary ? 'binary' : 'quantitative';
      nCases = t.nCases;
      nControls = t.nControls;
    }
  } else {
    await conn.run('CREATE OR REPLACE TEMP TABLE _trait AS SELECT person_id, 0.0 AS y FROM _cohort');
  }
  if (extras.length > 0 && trait !== 'quantitative') {
    throw new InputError('extra traits go with a quantitative main phenotype; this one is binary', {
      field: 'extraTraits',
    });
  }

  const pcs = spec.covariates
    .map((c) => /^PC(\d+)$/.exec(c))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  let pcsPath: string | undefined;
  if (pcs.length > 0) {
    const built = await buildPcs(conn, run.releaseDir, { k: Math.max(...pcs, 4) });
    pcsPath = built.pcs;
  }
  const cov = await buildCovariates(conn, {
    rel,
    cohortTable: '_cohort',
    covariates: spec.covariates,
    options: covariateOptionsSchema.parse({}),
    referenceDate: compiled.referenceDate,
    pcsPath,
  });
  const covSelect = cov.columns.map((c) => `v.${sqlIdent(c)} AS ${sqlIdent(`cov_${c}`)}`).join(', ');
  // The GWAS sample: persons with the trait. The cohort: every cohort person, y NULL if absent.
  const persons = wholeCohort
    ? `(SELECT k.person_id, t.y FROM _cohort k LEFT JOIN (SELECT person_id, any_value(y) AS y FROM _trait GROUP BY person_id) t ON t.person_id = k.person_id)`
    : '_trait';
  await atomicProduce(path, (tmp) =>
    conn.run(
      `COPY (SELECT s.sample_idx, t.person_id, t.y${extras.map((_, i) => `, t${i + 1}.y AS y_${i + 1}`).join('')}${covSelect ? `, ${covSelect}` : ''}
               FROM ${persons} t
               ${extras.map((_, i) => `JOIN _trait_${i + 1} t${i + 1} ON t${i + 1}.person_id = t.person_id AND t${i + 1}.y IS NOT NULL`).join('\n               ')}
               JOIN _covar v ON v.person_id = t.person_id
               JOIN read_parquet(${sqlString(rel.samples)}) s ON s.person_id = t.person_id
               ${wholeCohort ? '' : 'WHERE t.y IS NOT NULL'}
               ORDER BY s.sample_idx)
         TO ${sqlString(tmp)} (FORMAT parquet)`,
    ),
  );
  const n = Number(
    (await conn.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(path)})`)).getRows()[0][0],
  );
  if (trait === 'binary') {
    const r = await conn.runAndReadAll(
      `SELECT count(*) FILTER (WHERE y = 1)::INTEGER, count(*) FILTER (WHERE y = 0)::INTEGER
         FROM read_parquet(${sqlString(path)})`,
    );
    [nCases, nControls] = r.getRows()[0].map(Number);
  }
  const analysis: AnalysisTable = {
    path,
    trait,
    nSamples: n,
    ...(nCases !== undefined ? { nCases, nControls } : {}),
    ...(extras.length > 0 && phenotype
      ? { traits: [phenotypeLabel(phenotype), ...extras.map((p) => phenotypeLabel(p))] }
      : {}),
    covariates: cov.columns,
    droppedCovariates: cov.droppedConstant.map((name) => ({ name, reason: 'constant in the cohort' })),
    ...(wholeCohort ? { population } : {}),
  };
  if (n < cov.columns.length + 3) {
    throw new InputError(
      `only ${n} persons ${wholeCohort ? 'of the cohort have' : 'have the phenotype and'} every covariate; too few to fit ${cov.columns.length} covariates`,
      { field: wholeCohort ? 'cohort' : 'phenotype' },
    );
  }
  return analysis;
}
